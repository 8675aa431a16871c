"""A generative ``lm_eval:`` cell under torchrun with 2 CPU processes (gloo): each process generates
only its share of the documents, and the per-document generations, metrics, samples and
lm-eval-format files equal a single-process run and lm-eval 0.4.13's own ``HFLM`` at batch 1.
A 2-process run killed part-way resumes (with 2 processes or 1) without generating again what
either process had finished.

The model is the briefly trained tests/fixtures/tiny-gptneox-gen: its rows stop by a stop string,
by EOS and by length."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("lm_eval")
os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_EVALUATE_OFFLINE="1")  # never the network

from tests.eval.generative_fixtures import lm_eval_reference, write_review_tasks  # noqa: E402
from tests.eval.test_distributed import _lm_eval_files, _torchrun, run_under_torchrun  # noqa: E402

MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-gptneox-gen"
GROUP, SHOTS, LIMIT = "review_prose_local", 3, 12
DOCUMENTS = 2 * LIMIT  # the group's two tasks
SAMPLES = Path("samples") / "tiny" / f"lm_eval-{GROUP}_{SHOTS}shot.jsonl"
PARTIALS = Path("cells") / "tiny"

# The CLI in which process 1 kills itself (SIGKILL, as the OOM killer would) once it has kept
# KILL_AFTER generations; torchrun then stops process 0.
KILLED_CLI = """\
import os, signal, sys
from contextlib import contextmanager

from polyplatypus.eval import store

kept_before = store.ResultsStore.keeping_generations


@contextmanager
def keeping_then_killed(self, *args, **kwargs):
    with kept_before(self, *args, **kwargs) as keep:
        finished = []

        def keep_then_die(number, record):
            keep(number, record)
            finished.append(number)
            if len(finished) == int(os.environ["KILL_AFTER"]):
                os.kill(os.getpid(), signal.SIGKILL)

        yield keep_then_die


if os.environ["RANK"] == "1":
    store.ResultsStore.keeping_generations = keeping_then_killed
from polyplatypus.cli import main
sys.exit(main(sys.argv[1:]))
"""


def arguments(folder: Path) -> list[str]:
    return [
        "eval",
        "--model",
        f"tiny={MODEL}",
        "--tasks",
        f"lm_eval:{GROUP}",
        "--include-path",
        str(folder),
        "--shots",
        str(SHOTS),
        "--limit",
        str(LIMIT),
        "--batch-size",
        "4",
        "--log-samples",
        "--no-progress",
    ]


def record(out: Path) -> dict:
    (row,) = json.loads((out / "results.json").read_text(encoding="utf-8"))["results"]
    return row


def samples(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / SAMPLES).read_text(encoding="utf-8").splitlines()]


def same_run(row: dict) -> dict:
    """A record less what differs between two runs of one cell: the date, how many documents each
    process generated and what the engine forwarded for them."""
    return {k: v for k, v in row.items() if k not in ("date", "generated_per_process", "generation_work")}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_review_tasks(tmp_path_factory.mktemp("review-tasks"))


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, folder) -> Path:
    """The uninterrupted single-process run (in this process)."""
    from polyplatypus.cli import main

    out = tmp_path_factory.mktemp("one") / "out"
    assert main([*arguments(folder), "--output", str(out)]) == 0
    return out


def test_two_processes_generate_their_shares_and_equal_one_and_lm_eval(tmp_path, folder, one_process):
    from polyplatypus.models.loading import load_model

    writes = _torchrun(tmp_path, arguments(folder), tmp_path / "two")
    two, one = record(tmp_path / "two"), record(one_process)
    # each process generated only its share; together every document once
    shares = two["generated_per_process"]
    assert len(shares) == 2 and sum(shares) == DOCUMENTS and min(shares) > 0
    assert "generated_per_process" not in one
    # rows stopped by a stop string, by EOS and by length
    assert set(two["stop_reasons"]) == {"stop", "eos", "length"} and two["generated"] == DOCUMENTS
    assert same_run(two) == same_run(one)  # lm-eval's results and metrics, and ours
    assert samples(tmp_path / "two") == samples(one_process)  # per document: generation, resps, metrics
    assert _lm_eval_files(tmp_path / "two") == _lm_eval_files(one_process)
    # process 1 wrote nothing but its own partial file; process 0 the cell's files, once each
    assert set(writes[1]) <= {str(PARTIALS / f"lm_eval-{GROUP}_{SHOTS}shot.rank1.partial.jsonl")}
    assert not list((tmp_path / "two" / PARTIALS).glob("*.partial.jsonl"))

    # lm-eval 0.4.13's own HFLM at batch 1: the same texts, filtered responses, metrics and results
    expected = lm_eval_reference(load_model(str(MODEL), dtype="float32", device="cpu"), GROUP, SHOTS, LIMIT, folder)
    ours = samples(tmp_path / "two")
    for task, logged in expected["samples"].items():
        mine = [s for s in ours if s["task"] == task]
        assert len(mine) == len(logged) == LIMIT
        for theirs, got in zip(logged, mine):
            assert (got["doc_id"], got["resps"], got["filtered_resps"]) == (
                theirs["doc_id"],
                theirs["resps"],
                theirs["filtered_resps"],
            )
            assert {m: got["metrics"][m] for m in theirs["metrics"]} == {m: theirs[m] for m in theirs["metrics"]}
    assert json.loads(json.dumps(two["lm_eval"]["results"])) == json.loads(json.dumps(expected["results"]))
    assert two["metrics"]["exact_match"] > 0


def _killed_run(tmp_path: Path, folder: Path, out: Path) -> dict[int, list[int]]:
    """A 2-process run whose process 1 is killed after keeping 3 generations; returns, per process
    file, the request numbers it had kept."""
    script = tmp_path / "killed_cli.py"
    script.write_text(KILLED_CLI, encoding="utf-8")
    done = run_under_torchrun(script, arguments(folder), out, {"KILL_AFTER": "3"})
    assert done.returncode != 0 and not (out / "results.json").exists(), done.stderr[-3000:]
    kept = {}
    for path in sorted((out / PARTIALS).glob("*.partial.jsonl")):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert "key" in rows[0]
        kept[path.name] = [row["request"] for row in rows[1:]]
    return kept


def test_a_killed_two_process_run_resumes_without_generating_finished_documents(
    tmp_path, folder, one_process, monkeypatch
):
    killed = tmp_path / "killed"
    kept = _killed_run(tmp_path, folder, killed)
    assert len(kept[f"lm_eval-{GROUP}_{SHOTS}shot.rank1.partial.jsonl"]) == 3  # all process 1 had finished
    finished = {n for numbers in kept.values() for n in numbers}
    assert len(finished) == sum(map(len, kept.values())) < DOCUMENTS  # no document twice

    # resumed with 2 processes: only the rest is generated, shared out again
    again = tmp_path / "again-1"
    shutil.copytree(killed, again)
    _torchrun(tmp_path, arguments(folder), killed)
    resumed = record(killed)
    assert sum(resumed["generated_per_process"]) == DOCUMENTS - len(finished)
    assert same_run(resumed) == same_run(record(one_process))
    assert samples(killed) == samples(one_process)
    assert not list((killed / PARTIALS).glob("*.partial.jsonl"))

    # resumed with 1 process: it reads both processes' files
    from polyplatypus.cli import main
    from polyplatypus.eval.lm_eval_engine import SharedContextLM

    asked = []
    engine = SharedContextLM.generate_until

    def counting(self, requests, disable_tqdm=False):
        asked.extend(requests)
        return engine(self, requests, disable_tqdm)

    monkeypatch.setattr(SharedContextLM, "generate_until", counting)
    assert main([*arguments(folder), "--output", str(again)]) == 0
    assert len(asked) == DOCUMENTS - len(finished)
    assert same_run(record(again)) == same_run(record(one_process))
    assert samples(again) == samples(one_process)
    assert not list((again / PARTIALS).glob("*.partial.jsonl"))


def test_a_group_mixing_generative_and_multiple_choice_tasks_under_two_processes(tmp_path, kobest_dir):
    """One cell, both ways of sharing out: multiple-choice documents dealt one by one, generative
    ones in contiguous runs; the generations equal one process's exactly, the loglikelihoods within
    float32 rounding (the two layouts sum in another order)."""
    from polyplatypus.cli import main
    from tests.eval.generative_fixtures import write_generative_tasks
    from tests.eval.test_distributed import FP32_ABS, FP32_REL

    tasks = write_generative_tasks(tmp_path / "tasks", kobest_dir)
    common = [*arguments(tasks)]
    common[common.index(f"lm_eval:{GROUP}")] = "lm_eval:copa_mixed_local"
    common[common.index("--shots") + 1] = "1"
    common[common.index("--limit") + 1] = "8"
    _torchrun(tmp_path, common, tmp_path / "two")
    assert main([*common, "--output", str(tmp_path / "one")]) == 0
    two, one = record(tmp_path / "two"), record(tmp_path / "one")
    assert sum(two["generated_per_process"]) == two["generated"] == 8 and min(two["generated_per_process"]) > 0
    path = Path("samples") / "tiny" / "lm_eval-copa_mixed_local_1shot.jsonl"
    lines = [
        [json.loads(line) for line in (out / path).read_text(encoding="utf-8").splitlines()]
        for out in (tmp_path / "two", tmp_path / "one")
    ]
    assert [(s["task"], s["doc_id"]) for s in lines[0]] == [(s["task"], s["doc_id"]) for s in lines[1]]
    generated = [(a, b) for a, b in zip(*lines) if "generation" in a]
    chosen = [(a, b) for a, b in zip(*lines) if "loglikelihoods" in a]
    assert len(generated) == len(chosen) == 8
    assert all(a == b for a, b in generated)
    for a, b in chosen:
        assert a["loglikelihoods"] == pytest.approx(b["loglikelihoods"], rel=FP32_REL, abs=FP32_ABS)
    if all(a["pred"] == b["pred"] for a, b in chosen):  # no near tie decided otherwise: the same metrics
        assert two["metrics"] == one["metrics"]
