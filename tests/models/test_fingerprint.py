"""The model fingerprint: every tensor byte counts, unrelated files do not, the hash cache is
keyed so that an in-place edit is seen, and hub ids resolve to their commit offline."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from safetensors import safe_open

from polyplatypus.models import fingerprint
from polyplatypus.models.fingerprint import (
    COUNTS_CHAT_TEMPLATES,
    FileHashCache,
    cached_commit,
    counted_files,
    fingerprint_as_recorded,
    folder_fingerprint,
    hub_commit,
    model_fingerprint,
)


@pytest.fixture
def model_dir(tmp_path, tiny_gptneox_dir) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(tiny_gptneox_dir, folder)
    return folder


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


def edit_one_tensor_in_place(weights: Path) -> str:
    """Flip one byte inside one tensor's data, keeping the file's size and mtime; returns the
    tensor's name."""
    with safe_open(str(weights), "pt") as handle:
        name = sorted(handle.keys())[-1]
    header_len = int.from_bytes(weights.read_bytes()[:8], "little")
    header = json.loads(weights.read_bytes()[8 : 8 + header_len])
    start = 8 + header_len + header[name]["data_offsets"][0]
    before = weights.stat()
    with open(weights, "r+b") as handle:
        handle.seek(start)
        byte = handle.read(1)
        handle.seek(start)
        handle.write(bytes([byte[0] ^ 0x01]))
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = weights.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    return name


def test_digest_is_sha256_over_names_and_file_hashes(model_dir, cache):
    # Independent computation: sha256 over "name\0sha256(file)\n" of the counted files.
    digest = hashlib.sha256()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        digest.update(f"{name}\0{hashlib.sha256((model_dir / name).read_bytes()).hexdigest()}\n".encode())
    assert folder_fingerprint(model_dir, cache=cache) == f"sha256:{digest.hexdigest()}"
    assert [p.name for p in counted_files(model_dir)] == [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ]


def test_one_tensor_edited_in_place_with_same_size_and_mtime_is_seen(model_dir, cache):
    before = folder_fingerprint(model_dir, cache=cache)
    assert folder_fingerprint(model_dir, cache=cache) == before  # from the cache
    edit_one_tensor_in_place(model_dir / "model.safetensors")
    after = folder_fingerprint(model_dir, cache=cache)
    assert after != before
    # and the new value is right (a fresh cache agrees)
    assert folder_fingerprint(model_dir, cache=cache.with_name("fresh")) == after


def test_files_outside_the_list_do_not_change_the_identity(model_dir, cache):
    before = folder_fingerprint(model_dir, cache=cache)
    (model_dir / "README.md").write_text("# written later\n")
    (model_dir / "polyplatypus.json").write_text("{}\n")
    (model_dir / "generation_config.json").write_text('{"max_new_tokens": 9}\n')
    (model_dir / ".hidden.safetensors").write_bytes(b"x")
    assert folder_fingerprint(model_dir, cache=cache) == before


@pytest.mark.parametrize(
    "name,content",
    [
        ("config.json", '{"changed": true}'),
        ("tokenizer.json", "{}"),
        ("model.safetensors.index.json", '{"weight_map": {}}'),
        ("pytorch_model.bin", "weights"),
    ],
)
def test_listed_files_change_the_identity(model_dir, cache, name, content):
    before = folder_fingerprint(model_dir, cache=cache)
    (model_dir / name).write_text(content)
    assert folder_fingerprint(model_dir, cache=cache) != before


def test_cache_hit_does_not_read_the_file(model_dir, cache, monkeypatch):
    folder_fingerprint(model_dir, cache=cache)
    stored = json.loads((cache / fingerprint.CACHE_FILE).read_text())
    assert str((model_dir / "model.safetensors").resolve()) in stored

    def never(path):
        raise AssertionError(f"hashed {path} again")

    monkeypatch.setattr(fingerprint, "_sha256", never)
    folder_fingerprint(model_dir, cache=cache)


def test_cache_key_holds_size_mtime_ctime_and_inode(model_dir, cache):
    weights = model_dir / "model.safetensors"
    hashes = FileHashCache(cache)
    hashes.sha256(weights)
    stat = weights.stat()
    entry = hashes.entries[str(weights.resolve())]
    assert entry["stamp"] == [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


def test_replaced_file_with_same_times_is_hashed_again(model_dir, cache):
    # Another file moved into place (new inode), times copied from the old one.
    before = folder_fingerprint(model_dir, cache=cache)
    weights = model_dir / "model.safetensors"
    stat = weights.stat()
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    replacement = model_dir / "new.tmp"
    replacement.write_bytes(bytes(data))
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(replacement, weights)
    assert folder_fingerprint(model_dir, cache=cache) != before


def test_unwritable_cache_is_only_slower(model_dir, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    first = folder_fingerprint(model_dir, cache=blocker / "cache")
    assert first == folder_fingerprint(model_dir, cache=tmp_path / "ok")


def test_cache_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("POLYPLATYPUS_CACHE_DIR", str(tmp_path / "c"))
    assert fingerprint.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("POLYPLATYPUS_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert fingerprint.cache_dir() == tmp_path / "xdg" / "polyplatypus"


# --- hub ids --------------------------------------------------------------------------------------

COMMIT_A = "a" * 40
COMMIT_B = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_cache(tmp_path) -> Path:
    """The Hugging Face cache layout (models--org--name/refs/<revision> holds the commit)."""
    root = tmp_path / "hub"
    refs = root / "models--EleutherAI--polyglot-ko-1.3b" / "refs"
    refs.mkdir(parents=True)
    (refs / "main").write_text(COMMIT_A)
    (refs / "v2").write_text(COMMIT_B + "\n")
    (root / "models--EleutherAI--polyglot-ko-1.3b" / "snapshots" / COMMIT_A).mkdir(parents=True)
    return root


def test_hub_id_offline_reads_the_cache_refs(hub_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_network(*args, **kwargs):
        raise AssertionError("asked the hub while offline")

    monkeypatch.setattr("huggingface_hub.HfApi.model_info", no_network)
    assert (
        model_fingerprint("EleutherAI/polyglot-ko-1.3b", hub_cache=hub_cache)
        == f"hub:EleutherAI/polyglot-ko-1.3b@{COMMIT_A}"
    )
    assert hub_commit("EleutherAI/polyglot-ko-1.3b", "v2", cache_dir=hub_cache) == COMMIT_B
    assert cached_commit("EleutherAI/polyglot-ko-5.8b", cache_dir=hub_cache) is None
    assert model_fingerprint("EleutherAI/polyglot-ko-5.8b", hub_cache=hub_cache) is None


def test_hub_id_moved_revision_changes_the_fingerprint(hub_cache):
    before = model_fingerprint("EleutherAI/polyglot-ko-1.3b", hub_cache=hub_cache, offline=True)
    (hub_cache / "models--EleutherAI--polyglot-ko-1.3b" / "refs" / "main").write_text(COMMIT_B)
    assert model_fingerprint("EleutherAI/polyglot-ko-1.3b", hub_cache=hub_cache, offline=True) != before


def test_hub_id_online_asks_the_hub_and_falls_back_to_the_cache(hub_cache, monkeypatch):
    class Info:
        sha = COMMIT_B

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(fingerprint, "is_offline", lambda: False)
    monkeypatch.setattr("huggingface_hub.HfApi.model_info", lambda self, repo, revision=None: Info())
    assert hub_commit("EleutherAI/polyglot-ko-1.3b", cache_dir=hub_cache) == COMMIT_B

    def unreachable(self, repo, revision=None):
        raise OSError("no network")

    monkeypatch.setattr("huggingface_hub.HfApi.model_info", unreachable)
    assert hub_commit("EleutherAI/polyglot-ko-1.3b", cache_dir=hub_cache) == COMMIT_A


def test_commit_revision_is_its_own_answer(hub_cache):
    assert hub_commit("any/repo", COMMIT_B, cache_dir=hub_cache, offline=True) == COMMIT_B


def test_dataset_commit_from_the_cache(tmp_path):
    refs = tmp_path / "datasets--org--data" / "refs"
    refs.mkdir(parents=True)
    (refs / "main").write_text(COMMIT_B)
    assert hub_commit("org/data", cache_dir=tmp_path, offline=True, repo_type="dataset") == COMMIT_B
    assert hub_commit("org/data", cache_dir=tmp_path, offline=True) is None  # not a model repository


def write_fixed_folder(folder: Path) -> Path:
    """A folder of fixed bytes: its fingerprint is a value that stays put across versions."""
    folder.mkdir()
    files = {
        "config.json": '{"model_type": "gpt_neox"}\n',
        "model-00001-of-00002.safetensors": "weights one",
        "model-00002-of-00002.safetensors": "weights two",
        "model.safetensors.index.json": '{"weight_map": {}}\n',
        "tokenizer.json": '{"version": "1.0"}\n',
        "tokenizer_config.json": '{"eos_token": "<|endoftext|>"}\n',
        "special_tokens_map.json": "{}\n",
        "vocab.json": "{}\n",
        "merges.txt": "#version: 0.2\n",
        "README.md": "# card\n",
        "generation_config.json": "{}\n",
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_a_folder_without_chat_templates_keeps_the_fingerprint_stored_results_have(tmp_path, cache):
    # The value the code computed before chat templates were counted (commit 4fd0017): results
    # stored under it are still found, not all recomputed.
    folder = write_fixed_folder(tmp_path / "fixed")
    assert folder_fingerprint(folder, cache=cache) == (
        "sha256:df2c38f5875d1df92e8f5567d783a9e11ba4bea76d2f17a80917523acad83b06"
    )


@pytest.mark.parametrize(
    "name", ["chat_template.jinja", "chat_template.json", "additional_chat_templates/tool_use.jinja"]
)
def test_a_chat_template_added_or_edited_changes_the_identity(tmp_path, cache, name):
    folder = write_fixed_folder(tmp_path / "fixed")
    before = folder_fingerprint(folder, cache=cache)
    (folder / name).parent.mkdir(exist_ok=True)
    (folder / name).write_text("{{ messages[0]['content'] }}", encoding="utf-8")
    added = folder_fingerprint(folder, cache=cache)
    assert added != before
    assert name in [counted.relative_to(folder).as_posix() for counted in counted_files(folder)]
    (folder / name).write_text("{{ messages[-1]['content'] }}", encoding="utf-8")
    assert folder_fingerprint(folder, cache=cache) not in (before, added)


def test_other_files_in_the_template_folder_do_not_count(tmp_path, cache):
    folder = write_fixed_folder(tmp_path / "fixed")
    before = folder_fingerprint(folder, cache=cache)
    (folder / "additional_chat_templates").mkdir()
    (folder / "additional_chat_templates" / "notes.txt").write_text("not loaded by transformers")
    assert folder_fingerprint(folder, cache=cache) == before


def test_a_template_saved_by_transformers_is_counted(model_dir, cache):
    # transformers 5 writes the template to chat_template.jinja (named ones to
    # additional_chat_templates/), not into tokenizer_config.json, whose bytes may not change.
    from transformers import AutoTokenizer

    before = folder_fingerprint(model_dir, cache=cache)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    unchanged = folder_fingerprint(model_dir, cache=cache)
    tokenizer.chat_template = {"default": "{{ messages[0]['content'] }}", "tool_use": "{{ tools }}"}
    tokenizer.save_pretrained(model_dir)
    names = [path.relative_to(model_dir).as_posix() for path in counted_files(model_dir)]
    assert "chat_template.jinja" in names and "additional_chat_templates/tool_use.jinja" in names
    with_templates = folder_fingerprint(model_dir, cache=cache)
    assert with_templates not in (before, unchanged)
    tokenizer.chat_template = {"default": "{{ messages[-1]['content'] }}", "tool_use": "{{ tools }}"}
    tokenizer.save_pretrained(model_dir)
    assert AutoTokenizer.from_pretrained(model_dir).chat_template["default"] == "{{ messages[-1]['content'] }}"
    assert folder_fingerprint(model_dir, cache=cache) != with_templates


def test_fingerprint_as_recorded_before_templates_counted(tmp_path, cache):
    folder = write_fixed_folder(tmp_path / "fixed")
    (folder / "chat_template.jinja").write_text("{{ messages[0]['content'] }}", encoding="utf-8")
    current = folder_fingerprint(folder, cache=cache)
    # a record without the flag: the value the earlier code computed (templates not counted)
    assert fingerprint_as_recorded(folder, {}, current, cache=cache) == (
        "sha256:df2c38f5875d1df92e8f5567d783a9e11ba4bea76d2f17a80917523acad83b06"
    )
    assert fingerprint_as_recorded(folder, {COUNTS_CHAT_TEMPLATES: True}, current, cache=cache) == current
    assert fingerprint_as_recorded("org/name", {}, "hub:org/name@" + "0" * 40) == "hub:org/name@" + "0" * 40
