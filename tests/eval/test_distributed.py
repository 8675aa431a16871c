"""`polyplatypus eval` under torchrun with 2 CPU processes (gloo) equals a single-process run, for
reference tasks and ``lm_eval:`` tasks; only rank 0 writes; processes that built different
requests stop with exit 2."""

import json
import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from polyplatypus.tasks.lm_eval_tasks import file_stem

# The two layouts run with different thread counts and batch compositions, so float sums are
# reduced in another order: compare with the fp32 tolerance the scorer tests use, never ``==``.
FP32_REL, FP32_ABS = 1e-5, 1e-4
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1"}

# The CLI, after an audit hook that logs every file this process moves into place under the output
# folder (the store writes each file atomically: a temporary file, then os.replace), one log per rank.
LOGGED_CLI = """\
import os, sys
watched = os.path.abspath(os.environ["WATCHED_OUTPUT"])
log = open(os.environ["WRITES_LOG"] + "." + os.environ["RANK"], "w", encoding="utf-8")

def log_writes(event, args):
    if event == "os.rename" and os.path.abspath(os.fsdecode(args[1])).startswith(watched + os.sep):
        print(os.path.relpath(os.fsdecode(args[1]), watched), file=log, flush=True)

sys.addaudithook(log_writes)
from polyplatypus.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_under_torchrun(script: Path, args: list[str], output: Path, env: dict) -> subprocess.CompletedProcess:
    """``script <args> --output <output>`` under torchrun with 2 processes on this machine."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    command += ["--master_addr", "127.0.0.1", "--master_port", str(_free_port()), str(script), *args]
    return subprocess.run(
        [*command, "--output", str(output)],
        capture_output=True,
        text=True,
        cwd=script.parent,
        env={**os.environ, **OFFLINE, **env},
        timeout=300,
    )


def _torchrun(tmp_path: Path, args: list[str], output: Path) -> dict[int, list[str]]:
    """``polyplatypus <args> --output <output>`` under torchrun with 2 processes; returns, per
    rank, the files (relative to ``output``) it wrote there, in order."""
    script = tmp_path / "logged_cli.py"
    script.write_text(LOGGED_CLI, encoding="utf-8")
    done = run_under_torchrun(
        script, args, output, {"WATCHED_OUTPUT": str(output), "WRITES_LOG": str(tmp_path / "writes")}
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return {rank: (tmp_path / f"writes.{rank}").read_text(encoding="utf-8").splitlines() for rank in (0, 1)}


def _samples(out: Path, task: str, shots: int) -> list[dict]:
    path = out / "samples" / "tiny" / f"{file_stem(task)}_{shots}shot.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _margin(loglikelihoods):
    top = sorted(loglikelihoods, reverse=True)
    return top[0] - top[1]


def _compare_samples(two: Path, one: Path, tasks, shots) -> set[tuple]:
    """Asserts both runs scored the same documents in the same order, with loglikelihoods equal
    within the fp32 tolerance and the same prediction wherever one choice clearly wins; returns
    the documents ``(task, shots, position)`` whose top two choices tie within the tolerance."""
    near_ties = set()
    for task in tasks:
        for k in shots:
            a, b = _samples(two, task, k), _samples(one, task, k)
            assert [(s.get("task"), s["doc_index"]) for s in a] == [(s.get("task"), s["doc_index"]) for s in b]
            for position, (doc_a, doc_b) in enumerate(zip(a, b)):
                assert doc_a["loglikelihoods"] == pytest.approx(doc_b["loglikelihoods"], rel=FP32_REL, abs=FP32_ABS)
                if _margin(doc_b["loglikelihoods"]) > 2 * (
                    FP32_ABS + FP32_REL * max(map(abs, doc_b["loglikelihoods"]))
                ):
                    assert doc_a["pred"] == doc_b["pred"]  # a clear winner cannot change within the tolerance
                else:
                    near_ties.add((task, k, position))  # two choices tied within the tolerance: either may win
    return near_ties


def _assert_metrics_follow_the_samples(two: Path, one: Path, rows_two, rows_one, near_ties: set[tuple]) -> None:
    """Unconditionally: each run's pooled macro-F1 and accuracy are those of its own samples'
    predictions (sklearn as the reference), and the two-process run's are those of the
    one-process run's predictions with its own taken only at near-tied documents."""
    from sklearn.metrics import accuracy_score, f1_score

    accuracy_field = "acc_pooled" if "acc_pooled" in rows_two[0] else "acc"
    for row_two, row_one in zip(rows_two, rows_one):
        task, k = row_two["task"], row_two["shots"]
        samples_two, samples_one = _samples(two, task, k), _samples(one, task, k)
        golds = [s["gold"] for s in samples_one]
        assert golds == [s["gold"] for s in samples_two]
        preds_two = [s["pred"] for s in samples_two]
        merged = [
            p2 if (task, k, i) in near_ties else s["pred"] for i, (p2, s) in enumerate(zip(preds_two, samples_one))
        ]
        assert merged == preds_two  # the runs disagree only where two choices tie
        for row, preds in ((row_two, preds_two), (row_one, [s["pred"] for s in samples_one])):
            assert row["macro_f1"] == pytest.approx(f1_score(golds, preds, average="macro"), abs=1e-12)
            assert row[accuracy_field] == pytest.approx(accuracy_score(golds, preds), abs=1e-12)


def _results(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text(encoding="utf-8"))["results"]


def _written_once_by_rank_0(writes: dict[int, list[str]], out: Path) -> None:
    """Rank 1 wrote nothing; rank 0 wrote each output file once, and nothing it did not keep."""
    assert writes[1] == []
    assert max(Counter(writes[0]).values()) == 1
    kept = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert sorted(writes[0]) == kept


def test_two_processes_equal_one(tmp_path, kobest_dir, tiny_gptneox_dir):
    tasks, shots = ("kobest_copa", "kobest_hellaswag"), (0, 2)
    common = [
        "eval",
        "--model",
        f"tiny={tiny_gptneox_dir}",
        "--kobest-dir",
        str(kobest_dir),
        "--tasks",
        ",".join(tasks),
        "--shots",
        "0,2",
        "--limit",
        "9",
        "--log-samples",
        "--no-progress",
    ]
    writes = _torchrun(tmp_path, common, tmp_path / "two")
    subprocess.run(
        [sys.executable, "-m", "polyplatypus.cli", *common, "--output", str(tmp_path / "one")],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    two, one = _results(tmp_path / "two"), _results(tmp_path / "one")
    assert [(r["task"], r["shots"], r["n"]) for r in two] == [(r["task"], r["shots"], r["n"]) for r in one]
    near_ties = _compare_samples(tmp_path / "two", tmp_path / "one", tasks, shots)
    _assert_metrics_follow_the_samples(tmp_path / "two", tmp_path / "one", two, one, near_ties)
    if not near_ties:  # the same predictions, hence the same metrics
        assert [(r["macro_f1"], r["acc"]) for r in two] == [(r["macro_f1"], r["acc"]) for r in one]
    _written_once_by_rank_0(writes, tmp_path / "two")


def _lm_eval_files(out: Path) -> dict[int, dict]:
    """The lm-eval-format results file of each shot count (exactly one each), without its date."""
    files = {}
    for folder in sorted((out / "lm_eval").glob("*-shot")):
        (path,) = (folder / "tiny").glob("results_*.json")
        data = json.loads(path.read_text(encoding="utf-8"))
        files[int(folder.name.removesuffix("-shot"))] = {k: v for k, v in data.items() if k != "date"}
    return files


def test_two_processes_equal_one_on_lm_eval_tasks(tmp_path, kobest_dir, lm_eval_tasks, tiny_gptneox_dir):
    """A task with multi-token continuations (lm-eval's kobest_copa over the shared TSVs) and a
    group of two subtasks (KMMLU's format): the requests lm-eval built, split across the ranks."""
    pytest.importorskip("lm_eval")
    from polyplatypus.cli import main

    tasks, shots = ("lm_eval:kobest_copa_tsv", "lm_eval:kmmlu_local"), (0, 2)
    common = [
        "eval",
        "--model",
        f"tiny={tiny_gptneox_dir}",
        "--tasks",
        ",".join(tasks),
        "--include-path",
        str(lm_eval_tasks),
        "--shots",
        "0,2",
        "--limit",
        "5",
        "--log-samples",
        "--no-progress",
    ]
    writes = _torchrun(tmp_path, common, tmp_path / "two")
    assert main([*common, "--output", str(tmp_path / "one")]) == 0  # in this process: lm-eval's index is built once
    two, one = _results(tmp_path / "two"), _results(tmp_path / "one")
    assert [(r["task"], r["shots"], r["n"], r["fingerprint"]) for r in two] == [
        (r["task"], r["shots"], r["n"], r["fingerprint"]) for r in one
    ]
    assert {r["task"]: r["n"] for r in two} == {"lm_eval:kobest_copa_tsv": 5, "lm_eval:kmmlu_local": 10}
    assert any(len(c.split()) > 1 for c in _samples(tmp_path / "two", tasks[0], 0)[0]["continuations"])
    files = _lm_eval_files(tmp_path / "two")
    for row in two:  # the lm-eval-format files say what results.json says: lm-eval's own results
        name = row["task"].removeprefix("lm_eval:")
        assert files[row["shots"]]["results"][name] == row["lm_eval"]["results"][name]
        assert files[row["shots"]]["results"][name]["sample_len"] == row["n"]
    near_ties = _compare_samples(tmp_path / "two", tmp_path / "one", tasks, shots)
    _assert_metrics_follow_the_samples(tmp_path / "two", tmp_path / "one", two, one, near_ties)
    if not near_ties:
        # the same predictions, hence the same metrics: lm-eval's, ours, and the lm-eval-format files
        without_date = [{k: v for k, v in r.items() if k != "date"} for r in two]
        assert without_date == [{k: v for k, v in r.items() if k != "date"} for r in one]
        assert files == _lm_eval_files(tmp_path / "one")
    _written_once_by_rank_0(writes, tmp_path / "two")


BY_RANK = '''\
import os


def by_rank(dataset):
    """The second process leaves out the first document: documents that depend on the process."""
    return dataset.select(range(1, len(dataset))) if os.environ.get("RANK") == "1" else dataset
'''


def test_processes_that_built_different_requests_stop(tmp_path, tiny_gptneox_dir):
    """Two real gloo processes, one of which builds other requests for a cell: both exit 2 naming
    the cell, and nothing is written."""
    pytest.importorskip("lm_eval")
    from tests.eval.lm_eval_fixtures import write_haerae_task

    folder = tmp_path / "tasks"
    name = write_haerae_task(folder, name="haerae_by_rank")
    (folder / "utils.py").write_text(BY_RANK, encoding="utf-8")
    task_file = folder / f"{name}.yaml"
    task_file.write_text(
        task_file.read_text(encoding="utf-8") + "process_docs: !function utils.by_rank\n", encoding="utf-8"
    )
    world = {
        **os.environ,
        **OFFLINE,
        "WORLD_SIZE": "2",
        "LOCAL_WORLD_SIZE": "2",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
    }
    command = [
        sys.executable,
        "-m",
        "polyplatypus.cli",
        "eval",
        "--model",
        f"tiny={tiny_gptneox_dir}",
        "--tasks",
        f"lm_eval:{name}",
        "--include-path",
        str(folder),
        "--shots",
        "0",
        "--limit",
        "3",
        "--no-progress",
        "--output",
        str(tmp_path / "out"),
    ]
    ranks = [
        subprocess.Popen(
            command,
            cwd=tmp_path,
            env={**world, "RANK": str(r), "LOCAL_RANK": str(r)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in (0, 1)
    ]
    try:
        errors = [rank.communicate(timeout=240)[1] for rank in ranks]  # a process left waiting fails here
    finally:
        for rank in ranks:
            rank.kill()
    assert [rank.returncode for rank in ranks] == [2, 2], errors
    for error in errors:
        assert f"lm_eval:{name} 0-shot: the processes built different requests" in error
    assert not (tmp_path / "out" / "cells").exists()


def test_the_main_process_bar_counts_every_rank_share(monkeypatch):
    """Rank 0 of 2 scores 5 of 9 documents; its progress bar, the only one shown, reaches 9."""
    import types

    import accelerate.utils

    from polyplatypus.eval import distributed

    class Engine:  # stands in for a scorer: one progress step per document, the document back
        def score(self, requests, progress=None):
            for _ in requests:
                progress(1.0)
            return list(requests)

    state = types.SimpleNamespace(process_index=0, num_processes=2)
    monkeypatch.setattr(distributed, "distributed_state", lambda: state)
    others = [(i, f"doc{i}") for i in range(1, 9, 2)]  # what rank 1 scored
    monkeypatch.setattr(accelerate.utils, "gather_object", lambda mine: mine + others)
    done = []
    scored = distributed.score_split(Engine(), [f"doc{i}" for i in range(9)], progress=done.append)
    assert scored == [f"doc{i}" for i in range(9)]
    assert sum(done) == pytest.approx(9)
