"""`polyplatypus eval` under torchrun with 2 CPU processes (gloo) equals a single-process run."""

import json
import subprocess
import sys

import pytest

# The two layouts run with different thread counts and batch compositions, so float sums are
# reduced in another order: compare with the fp32 tolerance the scorer tests use, never ``==``.
FP32_REL, FP32_ABS = 1e-5, 1e-4


def _samples(out, task, shots):
    path = out / "samples" / "tiny" / f"{task}_{shots}shot.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_two_processes_equal_one(tmp_path, kobest_dir, tiny_gptneox_dir):
    common = ["eval", "--model", f"tiny={tiny_gptneox_dir}", "--kobest-dir", str(kobest_dir),
              "--tasks", "kobest_copa,kobest_hellaswag", "--shots", "0,2", "--limit", "9", "--log-samples", "--no-progress"]
    env_args = dict(check=True, capture_output=True, text=True, cwd=tmp_path)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "polyplatypus.cli",
                    *common, "--output", str(tmp_path / "two")], **env_args)
    subprocess.run([sys.executable, "-m", "polyplatypus.cli", *common, "--output", str(tmp_path / "one")], **env_args)
    two = json.loads((tmp_path / "two" / "results.json").read_text())["results"]
    one = json.loads((tmp_path / "one" / "results.json").read_text())["results"]
    assert [(r["task"], r["shots"], r["n"]) for r in two] == [(r["task"], r["shots"], r["n"]) for r in one]
    near_ties = 0
    for task in ("kobest_copa", "kobest_hellaswag"):
        for shots in (0, 2):
            a, b = _samples(tmp_path / "two", task, shots), _samples(tmp_path / "one", task, shots)
            assert [s["doc_index"] for s in a] == [s["doc_index"] for s in b]
            for doc_a, doc_b in zip(a, b):
                assert doc_a["loglikelihoods"] == pytest.approx(doc_b["loglikelihoods"], rel=FP32_REL, abs=FP32_ABS)
                if _margin(doc_b["loglikelihoods"]) > 2 * (FP32_ABS + FP32_REL * max(map(abs, doc_b["loglikelihoods"]))):
                    assert doc_a["pred"] == doc_b["pred"]  # a clear winner cannot change within the tolerance
                else:
                    near_ties += 1  # two choices tied within the tolerance: either may win
    if near_ties == 0:  # then the predictions, hence the metrics, are the same
        assert [(r["macro_f1"], r["acc"]) for r in two] == [(r["macro_f1"], r["acc"]) for r in one]


def _margin(loglikelihoods):
    top = sorted(loglikelihoods, reverse=True)
    return top[0] - top[1]
