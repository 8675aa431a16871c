"""Shared test fixtures: the real KoBEST data and tiny models built locally (never downloaded)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
# cli.main() called in-process keeps the threads set above (the policy is tested on its own, and
# in child processes that set POLYPLATYPUS_THREADS or --threads themselves)
os.environ.setdefault("POLYPLATYPUS_THREADS", "off")

# CI (POLYPLATYPUS_REQUIRE_KOBEST=1): every skip but a hardware or platform one fails
pytest_plugins = ["tests.ci_skips"]

FIXTURES = Path(__file__).parent / "fixtures"
DEFAULT_KOBEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "kobest" / "v1.0"
DEFAULT_HATESPEECH = Path(__file__).resolve().parents[2] / "shared" / "data" / "korean-hate-speech"
DEFAULT_TOKENIZER = Path(__file__).resolve().parents[2] / "shared" / "data" / "polyglot-ko-tokenizer"


# The test files left out of `bash scripts/test.sh --quick` (pytest -m "not slow"): those that
# train, pre-train or evaluate end to end, start several processes, or build lm-eval's task index
# (~30 s). The quick run keeps a representative test of each module; CI runs everything.
SLOW_FILES = {
    "pipeline/test_run.py",
    "pipeline/test_pretrain.py",
    "pipeline/test_fingerprints.py",
    "pipeline/test_run_dir.py",
    "train/test_distributed.py",
    "train/test_golden_losses.py",
    "train/test_train.py",
    "train/test_packing.py",
    "train/test_merge_generate.py",
    "train/test_outputs_resume.py",
    "train/test_full_disk.py",
    "train/test_base_fingerprint.py",
    "train/test_gpu_train_script.py",
    "eval/test_distributed.py",
    "eval/test_distributed_generation.py",
    "eval/test_reference_golden.py",
    "eval/test_hatespeech_golden.py",
    "eval/test_lm_eval_parity.py",
    "eval/test_generation_layouts.py",
    "eval/test_lm_eval_eval.py",
    "eval/test_lm_eval_engine.py",
    "eval/test_lm_eval_results.py",
    "eval/test_quiet_output.py",
    "eval/test_gpu_eval_script.py",
    "tasks/test_lm_eval_tasks.py",
    "tasks/test_listing_cache.py",
    "data/test_decontam_tasks.py",
}
SLOW_TESTS = {  # single tests of files the quick run keeps: each takes a minute or more on a busy 2-core CPU
    "eval/test_runner.py::test_scorers_give_identical_results",
    "eval/test_runner.py::test_grid_outputs_and_resume",
    "models/test_loading.py::test_missing_and_unloadable_sources_are_named",
    "eval/test_hatespeech_eval.py::test_eval_report_and_card",
    "eval/test_scorer.py::test_bfloat16_scores_agree_within_one_bf16_step",
}


def pytest_collection_modifyitems(config, items):
    root = Path(__file__).parent
    for item in items:
        where = Path(item.fspath).relative_to(root).as_posix()
        if where in SLOW_FILES or f"{where}::{item.originalname}" in SLOW_TESTS or "lm_eval_tasks" in item.fixturenames:
            item.add_marker(pytest.mark.slow)


def _missing(message: str):
    """Skip a test whose shared data is absent; fail instead under POLYPLATYPUS_REQUIRE_KOBEST=1 (CI)."""
    if os.environ.get("POLYPLATYPUS_REQUIRE_KOBEST") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _kobest_dir() -> Path | None:
    env = os.environ.get("POLYPLATYPUS_KOBEST_DIR")
    path = Path(env) if env else DEFAULT_KOBEST
    return path if (path / "BoolQ" / "test.tsv").is_file() else None


@pytest.fixture(autouse=True, scope="session")
def _hash_cache_in_tmp(tmp_path_factory):
    """Model fingerprints cache file hashes in a temporary folder, never in the user's ~/.cache."""
    folder = tmp_path_factory.mktemp("polyplatypus-cache")
    saved = os.environ.get("POLYPLATYPUS_CACHE_DIR")
    os.environ["POLYPLATYPUS_CACHE_DIR"] = str(folder)
    yield folder
    if saved is None:
        os.environ.pop("POLYPLATYPUS_CACHE_DIR", None)
    else:
        os.environ["POLYPLATYPUS_CACHE_DIR"] = saved


@pytest.fixture(scope="session")
def kobest_dir() -> Path:
    """The real KoBEST v1.0 TSVs ($POLYPLATYPUS_KOBEST_DIR or ../shared/data/kobest/v1.0).

    Skips when absent, except under POLYPLATYPUS_REQUIRE_KOBEST=1 (CI), where it fails.
    """
    path = _kobest_dir()
    if path is None:
        _missing("KoBEST v1.0 data not found; set POLYPLATYPUS_KOBEST_DIR")
    return path


@pytest.fixture(scope="session")
def hatespeech_dir() -> Path:
    """The Korean HateSpeech labeled TSVs ($POLYPLATYPUS_HATESPEECH_DIR or
    ../shared/data/korean-hate-speech); skips when absent, fails under POLYPLATYPUS_REQUIRE_KOBEST=1."""
    env = os.environ.get("POLYPLATYPUS_HATESPEECH_DIR")
    path = Path(env) if env else DEFAULT_HATESPEECH
    if not (path / "dev.tsv").is_file():
        _missing("Korean HateSpeech data not found; set POLYPLATYPUS_HATESPEECH_DIR")
    return path


def polyglot_tokenizer_path() -> Path | None:
    """$POLYPLATYPUS_TOKENIZER_DIR or ../shared/data/polyglot-ko-tokenizer, when it holds tokenizer.json."""
    env = os.environ.get("POLYPLATYPUS_TOKENIZER_DIR")
    path = Path(env) if env else DEFAULT_TOKENIZER
    return path if (path / "tokenizer.json").is_file() else None


@pytest.fixture(scope="session")
def polyglot_tokenizer_dir() -> Path:
    """The real Polyglot-ko tokenizer's folder; skips when absent, fails under
    POLYPLATYPUS_REQUIRE_KOBEST=1."""
    path = polyglot_tokenizer_path()
    if path is None:
        _missing("Polyglot-ko tokenizer not found; set POLYPLATYPUS_TOKENIZER_DIR")
    return path


@pytest.fixture(scope="session")
def polyglot_tokenizer(polyglot_tokenizer_dir):
    """The real Polyglot-ko tokenizer (never a copy in the project), for tests whose outcome
    depends on token counts. Skips when absent, fails under POLYPLATYPUS_REQUIRE_KOBEST=1."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(polyglot_tokenizer_dir)


@pytest.fixture(scope="session")
def polyglot_neox(polyglot_tokenizer):
    """A tiny random GPT-NeoX with the real Polyglot-ko vocabulary and a 256-token window, so
    5-shot BoolQ and WiC contexts are cut exactly where the real tokenizer puts the tokens."""
    from polyplatypus.models.tiny import build_tiny_model

    model = build_tiny_model(
        polyglot_tokenizer, "gpt_neox", seed=3, hidden_size=32, layers=2, heads=4, max_positions=256
    )
    return model.eval(), polyglot_tokenizer


@pytest.fixture(scope="session")
def tiny_gptneox_dir() -> Path:
    """Committed fixture: tiny random GPT-NeoX (Polyglot-ko layout), max length 384, with its
    locally trained byte-level BPE tokenizer (see fixtures/make_fixtures.py)."""
    return FIXTURES / "tiny-gptneox"


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_gptneox_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_gptneox_dir)


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    """A tiny random Llama sharing the fixture tokenizer, saved to a temporary directory."""
    from polyplatypus.models.tiny import build_tiny_model, save_tiny_model

    model = build_tiny_model(tiny_tokenizer, "llama", seed=7, hidden_size=32, layers=2, heads=4, max_positions=512)
    return save_tiny_model(tmp_path_factory.mktemp("tiny-llama"), tiny_tokenizer, model)


@pytest.fixture(scope="session")
def tiny_layout_dir(tmp_path_factory, tiny_tokenizer, tiny_gptneox_dir, tiny_llama_dir):
    """``tiny_layout_dir(layout)``: a folder holding a tiny random model of that layout (a key of
    ``polyplatypus.models.tiny.LAYOUTS``) with the fixture tokenizer, built once per session.
    Gemma 3's and EXAONE 4's sliding layers see 16 tokens: much less than the test texts."""
    from polyplatypus.models.tiny import build_tiny_model, save_tiny_model

    made = {"gpt_neox": tiny_gptneox_dir, "llama": tiny_llama_dir}

    def make(layout: str) -> Path:
        if layout not in made:
            model = build_tiny_model(
                tiny_tokenizer, layout, seed=7, hidden_size=32, layers=2, heads=4, max_positions=512
            )
            made[layout] = save_tiny_model(tmp_path_factory.mktemp(f"tiny-{layout}"), tiny_tokenizer, model)
        return made[layout]

    return make


@pytest.fixture(scope="session")
def lm_eval_tasks(tmp_path_factory) -> Path:
    """One folder of lm-eval task files for every lm-eval test (tests/eval/lm_eval_fixtures.py), so
    lm-eval's task index (~20 s) is built once per session. KoBEST and KorNLI tasks only when
    their shared data is there."""
    pytest.importorskip("lm_eval")
    from tests.eval.lm_eval_fixtures import write_all

    kornli = Path(__file__).resolve().parents[2] / "shared" / "data" / "kornli"
    return write_all(
        tmp_path_factory.mktemp("lm-eval-tasks"),
        _kobest_dir(),
        kornli if (kornli / "xnli.dev.ko.tsv").is_file() else None,
    )


@pytest.fixture
def other_process_holding():
    """``hold(path, command, beside=False)``: another Python process takes the output lock of
    ``path`` and keeps it until the test ends (or until ``.kill()`` on the returned process)."""
    import subprocess
    import sys

    script = (
        "import sys\nfrom polyplatypus.utils.outputs import hold\n"
        "with hold(sys.argv[1], sys.argv[2], beside=sys.argv[3] == '1'):\n"
        "    print('held', flush=True)\n    sys.stdin.read()\n"
    )
    started = []

    def hold(path, command="eval", beside=False):
        process = subprocess.Popen(
            [sys.executable, "-c", script, str(path), command, "1" if beside else "0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        assert process.stdout.readline().strip() == "held"
        return process

    yield hold
    for process in started:
        if process.poll() is None:
            process.stdin.close()
            process.wait(timeout=30)


@pytest.fixture
def small_filesystem(tmp_path):
    """A 2 MB tmpfs mounted in the test's folder, for full-disk and read-only cases; skips where
    mounting is not allowed (not root, a container without the capability)."""
    import subprocess

    mount = tmp_path / "small-fs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        _missing(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill_filesystem(folder: Path, *, leave: int = 0) -> Path:
    """Fill the file system of ``folder`` up to ``leave`` free bytes with one ballast file."""
    import shutil

    ballast = folder / "ballast"
    free = shutil.disk_usage(folder).free
    with open(ballast, "wb") as handle:
        try:
            handle.write(b"\0" * max(0, free - leave))
            handle.flush()
        except OSError:
            pass
    return ballast


def remount_read_only(folder: Path) -> None:
    import subprocess

    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True, capture_output=True)
