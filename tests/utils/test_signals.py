"""SIGTERM (timeout, Slurm, Kubernetes, docker stop) and SIGHUP stop a command as Ctrl-C does:
the output lock is released, the stage is marked interrupted, and the same command then resumes to
the result an uninterrupted run gives. Real processes, really signalled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import polyplatypus as package
from polyplatypus.utils.outputs import LOCK_NAME

ROOT = Path(__file__).resolve().parents[2]
SOURCES = Path(package.__file__).resolve().parents[1]  # the code under test, also in the child processes
TRAIN_DATA = ROOT / "tests" / "train" / "data" / "ko_instructions.jsonl"


def polyplatypus(*args: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "POLYPLATYPUS_THREADS": "1",
        "POLYPLATYPUS_NO_PROGRESS": "1",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join([str(SOURCES), str(ROOT)]),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "polyplatypus.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    _, err = process.communicate(timeout=timeout)
    return process.returncode, err


def signal_when(process: subprocess.Popen, ready, signum: int, timeout: float = 300) -> None:
    """Send ``signum`` once ``ready()`` holds (failing if the process ends first)."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, f"ended before the signal: {process.communicate()[1][-3000:]}"
        assert time.monotonic() < deadline, "never got ready"
        time.sleep(0.02)
    process.send_signal(signum)


def train_args(base: Path, output: Path) -> list[str]:
    return [
        "train",
        "--base",
        str(base),
        "--data",
        str(TRAIN_DATA),
        "--output",
        str(output),
        "--batch-size",
        "4",
        "--micro-batch-size",
        "2",
        "--num-epochs",
        "6",
        "--save-steps",
        "4",
        "--save-total-limit",
        "1",
        "--warmup-steps",
        "2",
        "--learning-rate",
        "0.01",
        "--cutoff-len",
        "128",
        "--prompt-template",
        "korean",
        "--report-to",
        "none",
    ]


def test_train_killed_by_sigterm_releases_its_lock_and_resumes_to_the_same_adapter(tmp_path, tiny_gptneox_dir):
    from safetensors.torch import load_file

    full, cut = tmp_path / "full", tmp_path / "cut"
    process = polyplatypus(*train_args(tiny_gptneox_dir, cut))
    signal_when(process, lambda: (cut / "checkpoints" / "checkpoint-4").is_dir(), signal.SIGTERM)
    code, err = finish(process)
    assert code == 128 + signal.SIGTERM, err[-3000:]
    assert "interrupted by SIGTERM" in err and "--resume" in err
    assert not (cut / LOCK_NAME).exists()
    assert not (cut / "train_summary.json").exists()  # really stopped mid-run

    code, err = finish(polyplatypus(*train_args(tiny_gptneox_dir, cut), "--resume"))
    assert code == 0, err[-3000:]
    assert finish(polyplatypus(*train_args(tiny_gptneox_dir, full)))[0] == 0
    summaries = [json.loads((d / "train_summary.json").read_text(encoding="utf-8")) for d in (full, cut)]
    assert summaries[1]["resumed_from_step"] >= 4
    for key in ("steps", "examples", "tokens", "initial_loss", "final_loss"):
        assert summaries[0][key] == summaries[1][key], key
    a, b = (load_file(d / "adapter_model.safetensors") for d in (full, cut))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)  # one thread each: bit for bit


def test_eval_hung_up_releases_its_lock_and_resumes_to_the_same_results(tmp_path, tiny_gptneox_dir, kobest_dir):
    def eval_args(output: Path) -> list[str]:
        return [
            "eval",
            "--model",
            f"tiny={tiny_gptneox_dir}",
            "--tasks",
            "kobest_copa,kobest_wic",
            "--shots",
            "0,2",
            "--limit",
            "10",
            "--kobest-dir",
            str(kobest_dir),
            "--output",
            str(output),
            "--no-progress",
        ]

    full, cut = tmp_path / "full", tmp_path / "cut"
    process = polyplatypus(*eval_args(cut))
    signal_when(process, lambda: any((cut / "cells").glob("*/*.json")), signal.SIGHUP)
    code, err = finish(process)
    assert code == 128 + signal.SIGHUP, err[-3000:]
    assert "interrupted by SIGHUP" in err and not (cut / LOCK_NAME).exists()
    assert not (cut / "results.json").exists()

    assert finish(polyplatypus(*eval_args(cut)))[0] == 0
    assert finish(polyplatypus(*eval_args(full)))[0] == 0
    ignore = ("date", "seconds", "wall_time_s")
    results = [
        [
            {k: v for k, v in r.items() if k not in ignore}
            for r in json.loads((d / "results.json").read_text(encoding="utf-8"))["results"]
        ]
        for d in (full, cut)
    ]
    assert len(results[0]) == 4 and results[0] == results[1]


def test_demo_terminated_in_its_base_stage_marks_it_interrupted(tmp_path):
    run_dir = tmp_path / "demo"
    process = polyplatypus("demo", "--run-dir", str(run_dir), "--no-progress")

    def in_base_stage() -> bool:
        try:
            state = json.loads((run_dir / "pipeline.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return state.get("stages", {}).get("base", {}).get("status") == "running"

    signal_when(process, in_base_stage, signal.SIGTERM)
    code, err = finish(process)
    assert code == 128 + signal.SIGTERM, err[-3000:]
    assert not (run_dir / LOCK_NAME).exists()
    state = json.loads((run_dir / "pipeline.json").read_text(encoding="utf-8"))
    assert state["stages"]["base"]["status"] == "interrupted"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_handlers_are_restored_after_the_command(signum):
    from polyplatypus.utils.interrupts import Terminated, signals_interrupt

    before = signal.getsignal(signum)
    with pytest.raises(Terminated) as caught, signals_interrupt():
        os.kill(os.getpid(), signum)
        time.sleep(5)  # the handler raises at once
    assert isinstance(caught.value, KeyboardInterrupt) and caught.value.signum == signum
    assert signal.getsignal(signum) == before
