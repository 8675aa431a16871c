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
