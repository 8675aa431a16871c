"""Flags brought along from lm-evaluation-harness get a message naming ours, and no flag is taken
by an abbreviation of another (argparse's default would read ``--task`` as ``--tasks``)."""

from __future__ import annotations

import pytest

from polyplatypus.cli import LM_EVAL_FLAGS, main


def _refused(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    "flag,ours",
    [
        ("--num_fewshot", "--shots"),
        ("--batch_size", "--batch-size"),
        ("--model_args", "--model"),
        ("--gen_kwargs", "--gen-kwargs"),
        ("--apply_chat_template", "--apply-chat-template"),
        ("--task", "--tasks"),
    ],
)
@pytest.mark.parametrize("joined", [False, True])
def test_an_lm_eval_flag_names_ours(flag, ours, joined, capsys):
    words = [f"{flag}=5"] if joined else [flag, "5"]
    err = _refused(["eval", "--model", "m", *words], capsys)
    assert f"{flag} is lm-evaluation-harness's flag; polyplatypus takes {ours}" in err, err
    assert flag in LM_EVAL_FLAGS


@pytest.mark.parametrize(
    "argv,prefix",
    [
        (["eval", "--model", "m", "--task", "kobest_boolq"], "--task"),
        (["eval", "--model", "m", "--shot", "0"], "--shot"),
        (["train", "--base", "b", "--max-step", "3"], "--max-step"),
        (["data", "curate", "--data", "in.jsonl", "--out", "o"], "--out"),
        (["run", "tiny-cpu", "--unt", "eval"], "--unt"),
        (["report", "results", "--base", "x"], "--base"),
        (["tasks", "--mat", "boolq"], "--mat"),
    ],
)
def test_abbreviations_are_not_taken(argv, prefix, capsys):
    err = _refused(argv, capsys)
    assert prefix in err and ("unrecognized arguments" in err or "lm-evaluation-harness" in err), err


@pytest.mark.parametrize("ends", ["returns 2", "raises"])
def test_the_command_leaves_its_process_group_before_exiting(tmp_path, monkeypatch, ends):
    """``cli.main`` (the console script, and the scripts the torchrun tests launch) destroys a
    process group the command joined, so that the interpreter's shutdown never tears a gloo group
    down under a peer that has gone; also when the command fails."""
    import socket

    import torch.distributed as dist

    from polyplatypus import cli

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def joins_a_group(args):
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
        if ends == "raises":
            raise RuntimeError("the command failed")
        return 2

    monkeypatch.setattr(cli, "_run_command", joins_a_group)
    if ends == "raises":
        with pytest.raises(RuntimeError, match="the command failed"):
            cli.main(["tasks"])
    else:
        assert cli.main(["tasks"]) == 2
    assert not dist.is_initialized()


def test_python_dash_m_runs_the_command_line():
    import subprocess
    import sys

    from polyplatypus.version import __version__

    done = subprocess.run([sys.executable, "-m", "polyplatypus", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == f"polyplatypus {__version__}"
    done = subprocess.run(
        [sys.executable, "-m", "polyplatypus", "eval", "--shots", "x"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "--shots" in done.stderr and "Traceback" not in done.stderr
