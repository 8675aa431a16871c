"""What a model *is*, as one string: the key that results made with it are stored under.

* **A local folder**: a SHA-256 over the files that decide what the model computes
  (:func:`counted_files`): ``config.json`` (``adapter_config.json`` for an adapter folder), the
  tokenizer files, the chat templates (transformers 5 saves them outside ``tokenizer_config.json``:
  ``chat_template.jinja``, named ones as ``additional_chat_templates/<name>.jinja``, a processor's
  legacy ``chat_template.json``), any weight index
  (``*.safetensors.index.json``, ``*.bin.index.json``) and the full content of every weight file
  (``*.safetensors``, ``*.bin``). Every byte of every tensor counts: a merge changes only the LoRA
  target tensors, and safetensors headers are the same for one architecture, so a header-only or
  sampled digest would miss it. Only the files present are hashed, so adding a name to the list
  leaves the fingerprint of every folder without such a file as it was. Other files (a README
  written later, ``polyplatypus.json``, ``generation_config.json``) do not change the identity.
* **A hub id**: the commit it resolves to, ``hub:<repo>@<commit>``. Online the hub is asked; with
  ``HF_HUB_OFFLINE`` (or when the hub cannot be reached) the commit is read from the local
  Hugging Face cache's ``refs/`` (what ``from_pretrained`` would load offline).

Hashing a 25 GB folder takes minutes, so each weight file's SHA-256 is cached outside the model
folder (:func:`cache_dir`), keyed by the file's absolute path, size, ``mtime_ns``, ``ctime_ns`` and
inode. Rewriting a file in place changes its ``ctime`` even when its size and ``mtime`` are put
back (``os.utime`` itself sets the ``ctime``), so such an edit is hashed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from polyplatypus.errors import OutputError
from polyplatypus.utils.cache import cache_dir
from polyplatypus.utils.io import atomic_write_text

CONFIG_FILES = ("config.json", "adapter_config.json")  # an adapter's (its rank, scale, targets) counts too
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "vocab.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
)
# transformers.utils.hub's CHAT_TEMPLATE_FILE, LEGACY_PROCESSOR_CHAT_TEMPLATE_FILE and CHAT_TEMPLATE_DIR:
# a template decides every prompt rendered with it (lm-eval's --apply_chat_template, chat training).
CHAT_TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json")
CHAT_TEMPLATE_DIR = "additional_chat_templates"  # its *.jinja files, as the tokenizer loads them
WEIGHT_SUFFIXES = (".safetensors", ".bin")
INDEX_SUFFIXES = (".safetensors.index.json", ".bin.index.json")
CACHE_FILE = "file-sha256.json"
# Set in a record (train's checkpoint state and summary) whose fingerprints count the chat
# templates; a record without it was written before they did (see fingerprint_as_recorded).
COUNTS_CHAT_TEMPLATES = "fingerprint_counts_chat_templates"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_BLOCK = 8 << 20


# --- local folders ------------------------------------------------------------------------------


def counted_files(folder: str | os.PathLike, *, chat_templates: bool = True) -> list[Path]:
    """The files of a model folder that make up its identity, sorted by :func:`counted_name`
    (``chat_templates=False``: as counted before templates were, for records of that time)."""
    folder = Path(folder)
    named = set(CONFIG_FILES) | set(TOKENIZER_FILES) | (set(CHAT_TEMPLATE_FILES) if chat_templates else set())
    found = [
        path
        for path in folder.iterdir()
        if path.is_file()
        and not path.name.startswith(".")
        and (path.name in named or path.name.endswith(INDEX_SUFFIXES) or path.name.endswith(WEIGHT_SUFFIXES))
    ]
    templates = folder / CHAT_TEMPLATE_DIR
    if chat_templates and templates.is_dir():
        found += [path for path in templates.glob("*.jinja") if path.is_file() and not path.name.startswith(".")]
    return sorted(found, key=lambda p: counted_name(folder, p))


def counted_name(folder: Path, path: Path) -> str:
    """The name a counted file is hashed under: its path inside the folder (``/``-separated), which
    for a file at the top is its name, as it always was."""
    return path.relative_to(folder).as_posix()


def folder_fingerprint(
    folder: str | os.PathLike, *, cache: str | os.PathLike | None = None, chat_templates: bool = True
) -> str:
    """``sha256:<hex>`` over the name and SHA-256 of each of :func:`counted_files`."""
    folder = Path(folder)
    hashes = FileHashCache(cache_dir() if cache is None else Path(cache))
    digest = hashlib.sha256()
    for path in counted_files(folder, chat_templates=chat_templates):
        digest.update(f"{counted_name(folder, path)}\0{hashes.sha256(path)}\n".encode("utf-8"))
    hashes.save()
    return f"sha256:{digest.hexdigest()}"


class FileHashCache:
    """SHA-256 of files, remembered across runs while a file's path, size, mtime, ctime and inode
    stay the same. A cache that cannot be read or written is only slower, never an error."""

    def __init__(self, folder: Path):
        self.path = folder / CACHE_FILE
        self.entries = self._load()
        self.changed = False

    def _load(self) -> dict:
        try:
            entries = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return {}
        return entries if isinstance(entries, dict) else {}

    @staticmethod
    def _stamp(path: Path) -> list[int]:
        stat = path.stat()
        return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]

    def sha256(self, path: Path) -> str:
        key = str(path.resolve())
        stamp = self._stamp(path)
        entry = self.entries.get(key)
        if isinstance(entry, dict) and entry.get("stamp") == stamp and isinstance(entry.get("sha256"), str):
            return entry["sha256"]
        value = _sha256(path)
        if self._stamp(path) == stamp:  # not rewritten while it was read
            self.entries[key] = {"stamp": stamp, "sha256": value}
            self.changed = True
        return value

    def save(self) -> None:
        if not self.changed:
            return
        fresh = self._load()  # keep what other processes added meanwhile
        fresh.update(self.entries)
        try:
            atomic_write_text(self.path, json.dumps(fresh, indent=0, sort_keys=True) + "\n")
        except (OSError, OutputError):
            pass  # no cache: the next run hashes again
        self.changed = False


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        buffer = bytearray(_BLOCK)
        view = memoryview(buffer)
        while size := handle.readinto(buffer):
            digest.update(view[:size])
    return digest.hexdigest()


# --- hub ids ------------------------------------------------------------------------------------


def hub_commit(
    repo_id: str,
    revision: str | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
    repo_type: str = "model",
) -> str | None:
    """The commit ``repo_id`` (a ``model`` or ``dataset`` repository) at ``revision`` (default
    ``main``) resolves to: asked from the hub, or offline (and when the hub cannot be reached)
    read from the cache's ``refs/``. None when neither knows it."""
    revision = revision or "main"
    if _COMMIT.match(revision):
        return revision
    if not (is_offline() if offline is None else offline):
        try:
            from huggingface_hub import HfApi

            api = HfApi()
            info = api.dataset_info if repo_type == "dataset" else api.model_info
            return info(repo_id, revision=revision).sha
        except Exception:  # no network, no such repo, rate limits: the cache may still know it
            pass
    return cached_commit(repo_id, revision, cache_dir=cache_dir, repo_type=repo_type)


def cached_commit(
    repo_id: str, revision: str = "main", *, cache_dir: str | os.PathLike | None = None, repo_type: str = "model"
) -> str | None:
    """The commit the Hugging Face cache's ``models--<org>--<name>/refs/<revision>`` (or
    ``datasets--...``) names."""
    if cache_dir is None:
        from huggingface_hub import constants

        cache_dir = constants.HF_HUB_CACHE
    ref = Path(cache_dir) / (f"{repo_type}s--" + repo_id.replace("/", "--")) / "refs" / revision
    try:
        commit = ref.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return commit if _COMMIT.match(commit) else None


def is_offline() -> bool:
    from huggingface_hub import constants

    flags = (os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE"))
    return bool(constants.HF_HUB_OFFLINE) or any(f and f.upper() in ("1", "ON", "YES", "TRUE") for f in flags)


# --- either -------------------------------------------------------------------------------------


def model_fingerprint(
    source: str | os.PathLike,
    *,
    cache: str | os.PathLike | None = None,
    hub_cache: str | os.PathLike | None = None,
    offline: bool | None = None,
    chat_templates: bool = True,
) -> str | None:
    """``sha256:<hex>`` for a local folder, ``hub:<repo>@<commit>`` for a hub id, None for a hub
    id whose commit neither the hub nor the cache knows (its model cannot be loaded either).
    ``chat_templates=False``: a folder as fingerprinted before its templates counted."""
    local = Path(source).expanduser()
    if local.is_dir():
        return folder_fingerprint(local, cache=cache, chat_templates=chat_templates)
    repo_id, _, revision = str(source).partition("@")
    commit = hub_commit(repo_id, revision or None, cache_dir=hub_cache, offline=offline)
    return None if commit is None else f"hub:{repo_id}@{commit}"


def fingerprint_as_recorded(
    source: str | os.PathLike, record: dict, current: str | None, *, cache: str | os.PathLike | None = None
) -> str | None:
    """``source``'s fingerprint as the code that wrote ``record`` computed it: ``current`` when
    the record says its fingerprints count chat templates (:data:`COUNTS_CHAT_TEMPLATES`) or
    ``source`` is no local folder, else the folder's fingerprint without them. So a run or an
    adapter recorded before templates counted is judged on what it recorded (a base holding
    ``chat_template.jinja`` is not taken for another model), as runs recorded before any
    fingerprint are judged on their settings and data."""
    local = Path(source).expanduser()
    if record.get(COUNTS_CHAT_TEMPLATES) or current is None or not local.is_dir():
        return current
    return folder_fingerprint(local, cache=cache, chat_templates=False)
