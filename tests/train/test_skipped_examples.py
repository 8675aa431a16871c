"""Examples whose prompt alone fills the cutoff are left out of training, and train says so on
screen: how many, and the first record numbers."""

from __future__ import annotations

import json

from polyplatypus.train import train

SHORT = {"instruction": "한국의 수도는?", "input": "", "output": "서울입니다."}
LONG = {"instruction": "아주 긴 질문입니다. " * 40, "input": "", "output": "답"}


def test_skipped_examples_are_counted_and_named(tmp_path, small_run, capsys):
    records = [SHORT, LONG, SHORT, SHORT, LONG, SHORT, SHORT, SHORT]  # LONG: records 2 and 5
    data = tmp_path / "data.jsonl"
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    lines.insert(3, "")  # a blank line does not count as a record
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = train(small_run(data=str(data), max_steps=1, cutoff_len=128))
    out = capsys.readouterr().out
    assert f"skipped 2 example(s) of {data} whose prompt alone fills the cutoff (128 tokens)" in out
    assert "record(s) 2, 5" in out
    assert summary["skipped_examples"] == 2 and summary["skipped_records"] == [2, 5]
    assert summary["train_examples"] == 6


def test_nothing_said_when_nothing_is_skipped(small_run, capsys):
    summary = train(small_run(max_steps=1))
    assert "skipped" not in capsys.readouterr().out and summary["skipped_records"] == []
