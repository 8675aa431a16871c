"""Published scores are fractions: a percent-scale value (a macro-F1 of 75.3) is refused naming
the file and field, never shown in bold as the best."""

from __future__ import annotations

import json

import pytest

from polyplatypus.cli import main
from polyplatypus.errors import DataError
from polyplatypus.report.published import read_published


def v03_file(path, **metrics):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "results": {"kobest_boolq": metrics},
                "versions": {"kobest_boolq": 0},
                "config": {"model": "gpt2", "model_args": "pretrained=org/m", "num_fewshot": 5},
            }
        )
    )
    return path


@pytest.mark.parametrize(
    "metrics, field",
    [
        ({"macro_f1": 75.3, "acc": 0.75}, "results.kobest_boolq.macro_f1"),
        ({"macro_f1": 0.75, "acc": 80.0}, "results.kobest_boolq.acc"),
        ({"macro_f1": 0.75, "macro_f1_stderr": 1.5}, "results.kobest_boolq.macro_f1_stderr"),
        ({"macro_f1": -0.1}, "results.kobest_boolq.macro_f1"),
    ],
)
def test_values_outside_zero_one_are_refused(tmp_path, metrics, field):
    path = v03_file(tmp_path / "5_shot.json", **metrics)
    with pytest.raises(DataError, match="outside \\[0, 1\\]") as caught:
        read_published(path)
    assert str(path) in str(caught.value) and field in str(caught.value)


def test_lm_eval_file_in_percent_is_refused(tmp_path):
    path = tmp_path / "results_2025.json"
    path.write_text(
        json.dumps(
            {
                "results": {"kobest_boolq": {"alias": "kobest_boolq", "f1,none": 75.3, "acc,none": 0.8}},
                "n-shot": {"kobest_boolq": 0},
                "configs": {"kobest_boolq": {"metric_list": [{"metric": "f1", "average": "macro"}]}},
                "config": {"model_args": "pretrained=org/m"},
            }
        )
    )
    with pytest.raises(DataError, match="a percentage"):
        read_published(path)


def test_report_exits_2_and_writes_nothing(tmp_path, capsys):
    path = v03_file(tmp_path / "pub" / "5_shot.json", macro_f1=75.3)
    assert main(["report", "--published", str(path), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "75.3 is outside [0, 1]" in err and str(path) in err
    assert not (tmp_path / "out").exists()


def test_fractions_still_read(tmp_path):
    (record,) = read_published(v03_file(tmp_path / "5_shot.json", macro_f1=1.0, acc=0.0, macro_f1_stderr=0.01)).records
    assert (record["macro_f1"], record["acc"], record["macro_f1_stderr"]) == (1.0, 0.0, 0.01)
