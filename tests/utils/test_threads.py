"""The thread policy (utils/threads.py): the cores not busy elsewhere, overridable, applied once
before PyTorch starts its threads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from polyplatypus.errors import ConfigError
from polyplatypus.utils import threads
from polyplatypus.utils.threads import apply_thread_policy, choose_threads, parse_request

SOURCES = Path(threads.__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "cores, busy, expected",
    [
        (2, 0.0, 2),  # alone: every core
        (2, 0.4, 2),  # a little background work rounds away
        (2, 1.0, 1),  # one busy process elsewhere
        (2, 2.0, 1),  # two: still one thread, never zero
        (2, 7.5, 1),
        (16, 3.2, 13),
        (1, 0.0, 1),
    ],
)
def test_auto_leaves_busy_cores_to_others(cores, busy, expected):
    assert choose_threads("auto", cores=cores, busy_elsewhere=busy).threads == expected


def test_overrides():
    assert choose_threads(3, cores=2, busy_elsewhere=2.0).threads == 3  # asked for: exactly that
    assert choose_threads("off", cores=2, busy_elsewhere=2.0).threads is None
    user = choose_threads("auto", cores=2, busy_elsewhere=2.0, user_omp="2")
    assert user.threads is None and "OMP_NUM_THREADS=2" in user.reason
    assert choose_threads(1, cores=2, busy_elsewhere=0.0, user_omp="2").threads == 1  # --threads wins


@pytest.mark.parametrize("text, expected", [(None, "auto"), ("", "auto"), ("AUTO", "auto"), ("off", "off"), ("4", 4)])
def test_parse_request(text, expected):
    assert parse_request(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "two", "1.5"])
def test_bad_requests_name_the_source(text):
    with pytest.raises(ConfigError, match="POLYPLATYPUS_THREADS"):
        parse_request(text)


def test_apply_writes_the_environment_children_inherit(monkeypatch):
    import torch

    environ = {}
    monkeypatch.setattr(torch, "set_num_threads", lambda n: environ.setdefault("torch", n))
    choice = apply_thread_policy("3", environ=environ)
    assert choice.threads == 3 and environ["torch"] == 3
    assert environ["OMP_NUM_THREADS"] == environ["MKL_NUM_THREADS"] == environ["RAYON_NUM_THREADS"] == "3"
    assert environ["OMP_WAIT_POLICY"] == "PASSIVE"  # waiting threads sleep instead of spinning

    kept = {"OMP_WAIT_POLICY": "ACTIVE", "POLYPLATYPUS_THREADS": "off"}
    assert apply_thread_policy(environ=kept).threads is None and kept == {
        "OMP_WAIT_POLICY": "ACTIVE",
        "POLYPLATYPUS_THREADS": "off",
    }


def test_busy_cores_sees_busy_processes():
    """Two busy-looping processes on this machine are seen as (about) two busy cores."""
    quiet = threads.busy_cores(0.3)
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        import time

        time.sleep(0.3)
        busy = threads.busy_cores(0.5)
    finally:
        for process in spinners:
            process.kill()
            process.wait()
    assert busy >= min(2, os.cpu_count() or 1) - 0.5
    assert busy > quiet - 0.5


def test_the_cli_sets_threads_before_torch_starts():
    """`polyplatypus --threads 1 ...` (or `polyplatypus tasks --threads 1`) reaches PyTorch in the
    command's process (and `off` leaves it be)."""
    script = (
        "import sys, polyplatypus.cli as cli\n"
        "import polyplatypus.tasks.command as tc\n"
        "def show(args):\n    import torch; print(torch.get_num_threads()); return 0\n"
        "tc.run = show\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["PYTHONPATH"] = str(SOURCES)
    for argv in (["--threads", "1", "tasks"], ["tasks", "--threads", "1"]):  # before or after the command
        done = subprocess.run(
            [sys.executable, "-c", script, *argv], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split()[-1] == "1", argv
    done = subprocess.run(
        [sys.executable, "-c", script, "--threads", "none", "tasks"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and "--threads: 'none' is not a number of threads" in done.stderr
