"""``builtin:NAME`` (data shipped in the package) is accepted wherever a data path is, as in recipes."""

from __future__ import annotations

import json

from polyplatypus.cli import main
from polyplatypus.data.instructions import load_instructions
from polyplatypus.utils.builtin import ASSETS_DIR

SAMPLE = "builtin:instructions/ko_platypus_sample.jsonl"


def test_data_curate_reads_a_builtin_source(tmp_path, capsys):
    out = tmp_path / "curated.jsonl"
    assert (
        main(
            [
                "data",
                "curate",
                "--data",
                SAMPLE,
                "--output",
                str(out),
                "--decontaminate",
                "kobest",
                "--kobest-dir",
                "builtin:kobest_sample",
                "--quiet",
            ]
        )
        == 0
    )
    expected = load_instructions(ASSETS_DIR / "instructions" / "ko_platypus_sample.jsonl")
    assert 0 < len(load_instructions(out)) <= len(expected)
    report = json.loads(out.with_name(out.name + ".report.json").read_text())
    assert report["sources"][0]["source"] == SAMPLE and report["sources"][0]["records_in"] == len(expected)


def test_eval_reads_builtin_kobest(tiny_gptneox_dir, tmp_path, capsys):
    assert (
        main(
            [
                "eval",
                "--model",
                str(tiny_gptneox_dir),
                "--tasks",
                "kobest_copa",
                "--shots",
                "0",
                "--limit",
                "2",
                "--kobest-dir",
                "builtin:kobest_sample",
                "--output",
                str(tmp_path / "r"),
                "--no-progress",
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "r" / "results.json").read_text())["results"][0]["n"] == 2


def test_an_unknown_builtin_names_the_known_ones(tmp_path, capsys):
    assert (
        main(
            [
                "data",
                "curate",
                "--data",
                "builtin:nope.jsonl",
                "--output",
                str(tmp_path / "o.jsonl"),
                "--decontaminate",
                "none",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "builtin:nope.jsonl: no such built-in data (known: " in err and "instructions" in err


def test_train_reads_builtin_data(tiny_gptneox_dir, tmp_path, capsys):
    out = tmp_path / "adapter"
    assert (
        main(
            [
                "train",
                "--base",
                str(tiny_gptneox_dir),
                "--data",
                SAMPLE,
                "--output",
                str(out),
                "--max-steps",
                "1",
                "--batch-size",
                "2",
                "--micro-batch-size",
                "2",
                "--cutoff-len",
                "256",
                "--warmup-steps",
                "0",
                "--report-to",
                "none",
            ]
        )
        == 0
    )
    assert json.loads((out / "train_summary.json").read_text())["steps"] == 1
