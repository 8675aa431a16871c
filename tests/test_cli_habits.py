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


# --threads: before the command (the program's flag) or after it, as users write flags
COMMANDS = {
    ("eval",): ["--model", "m"],
    ("train",): ["--base", "b"],
    ("merge",): ["--adapter", "a", "--output", "o"],
    ("generate",): ["--model", "m", "--instruction", "x"],
    ("data",): None,  # takes an action: its parser is reached through data curate / data stats
    ("data", "curate"): ["--data", "in.jsonl", "--output", "out.jsonl"],
    ("data", "stats"): ["in.jsonl"],
    ("run",): ["tiny-cpu"],
    ("demo",): [],
    ("report",): ["results"],
    ("tasks",): [],
}


def _command_paths(parser, path=()):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                yield path + (name,)
                yield from _command_paths(subparser, path + (name,))


def test_every_command_is_listed_for_the_threads_tests():
    from polyplatypus.cli import build_parser

    assert set(_command_paths(build_parser())) == set(COMMANDS)


@pytest.mark.parametrize("path", [path for path, rest in COMMANDS.items() if rest is not None], ids=" ".join)
def test_threads_is_taken_before_and_after_every_command(path):
    from polyplatypus.cli import build_parser

    parse = build_parser().parse_args
    command = [*path, *COMMANDS[path]]
    assert parse(command).threads is None  # neither: $POLYPLATYPUS_THREADS, else auto
    assert parse(["--threads", "2", *command]).threads == "2"
    assert parse([*command, "--threads", "3"]).threads == "3"
    assert parse([*path, "--threads", "off", *COMMANDS[path]]).threads == "off"
    # both: the one after the command wins, as a flag repeated on one command
    assert parse(["--threads", "2", *command, "--threads", "auto"]).threads == "auto"
    if len(path) > 1:  # on the group too (data --threads 4 curate ...), the innermost winning
        assert parse([path[0], "--threads", "4", *path[1:], *COMMANDS[path]]).threads == "4"
        assert parse([path[0], "--threads", "4", *path[1:], *COMMANDS[path], "--threads", "5"]).threads == "5"


@pytest.mark.parametrize("argv", [["--threads", "3", "tasks"], ["tasks", "--threads", "3"]], ids=["before", "after"])
def test_the_thread_policy_is_given_threads_from_either_place(argv, monkeypatch):
    from polyplatypus import cli
    from polyplatypus.tasks import command as tasks_command
    from polyplatypus.utils import threads

    asked, order = [], []
    monkeypatch.setattr(threads, "APPLIED", [])  # as in a fresh process
    monkeypatch.setattr(threads, "apply_thread_policy", lambda wanted: asked.append(wanted) or order.append("policy"))
    monkeypatch.setattr(tasks_command, "run", lambda args: order.append("command") or 0)
    assert cli.main(argv) == 0
    assert asked == ["3"] and order == ["policy", "command"]
