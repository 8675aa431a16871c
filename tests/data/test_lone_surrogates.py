"""A lone UTF-16 surrogate ("\\ud800" in JSON) is no text: curate and train stop before any work,
naming the file, the record and the field."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from polyplatypus.cli import main
from polyplatypus.data.instructions import load_instructions
from polyplatypus.errors import DataError

GOOD = {"instruction": "한국의 수도는?", "input": "", "output": "서울입니다."}


def write(path, records):
    # json.dumps writes a lone surrogate as the escape "\ud800", as a file from elsewhere would hold it
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.mark.parametrize("field, value", [("output", "서울\ud800"), ("input", "\udfff"), ("data_source", "x\ud83d")])
def test_lone_surrogate_names_record_and_field(tmp_path, field, value):
    path = write(tmp_path / "d.jsonl", [GOOD, GOOD, {**GOOD, field: value}])
    with pytest.raises(DataError) as caught:
        load_instructions(path)
    assert (caught.value.record, caught.value.field) == (3, field)
    assert "lone UTF-16 surrogate" in str(caught.value) and str(path) in str(caught.value)
    skipped = Counter()
    assert len(load_instructions(path, skip_invalid=True, skipped=skipped)) == 2
    assert skipped == Counter({"lone surrogate": 1})


def test_a_surrogate_pair_is_one_character_and_fine(tmp_path):
    path = write(tmp_path / "d.jsonl", [{**GOOD, "output": "웃음 \U0001f600"}])  # written as "\ud83d\ude00"
    assert "\\ud83d\\ude00" in path.read_text(encoding="utf-8")
    assert load_instructions(path)[0]["output"] == "웃음 \U0001f600"


def test_curate_and_train_stop_before_work(tmp_path, tiny_gptneox_dir, capsys):
    data = write(tmp_path / "d.jsonl", [GOOD, {**GOOD, "instruction": "질문\ud800"}])
    assert main(["data", "curate", "--data", str(data), "--output", str(tmp_path / "c.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "record 2" in err and "'instruction'" in err and "surrogate" in err and "Traceback" not in err
    assert not (tmp_path / "c.jsonl").exists()

    assert (
        main(
            [
                "train",
                "--base",
                str(tiny_gptneox_dir),
                "--data",
                str(data),
                "--output",
                str(tmp_path / "run"),
                "--max-steps",
                "1",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "record 2" in err and "'instruction'" in err and "surrogate" in err
    assert not (tmp_path / "run" / "checkpoints").exists()
