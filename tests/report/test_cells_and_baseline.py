"""Per-document cell files are used only when they match results.json; ambiguous --baseline labels."""

import json

import pytest

from polyplatypus.cli import main
from polyplatypus.errors import ConfigError
from polyplatypus.report.card import read_card_tables, write_report
from polyplatypus.report.results import load_rows


def overwrite_cell_as_a_limited_rerun(folder, label="a", task="kobest_boolq", shots=0, n=2):
    """What a re-run with --set eval.limit=2 that failed before writing results.json leaves behind:
    a cell file for the first n documents, while results.json still holds the full record."""
    path = folder / "cells" / label / f"{task}_{shots}shot.json"
    cell = json.loads(path.read_text())
    golds, preds = [0, 1][:n], [0, 0][:n]
    cell.update(
        {
            "golds": golds,
            "preds": preds,
            "n": n,
            "limit": n,
            "macro_f1": 0.3333333333333333,
            "date": "2025-02-01T00:00:00Z",
        }
    )
    path.write_text(json.dumps(cell))
    return cell


def test_a_stale_cell_gives_no_interval_and_a_visible_warning(tmp_path, make_results):
    folder = make_results(tmp_path / "r", {"a": ("org/a", 0.8), "b": ("org/b", 0.6)}, shots=(0, 5), n=30, seed=3)
    record = next(
        r
        for r in json.loads((folder / "results.json").read_text())["results"]
        if (r["model"], r["task"], r["shots"]) == ("a", "kobest_boolq", 0)
    )
    overwrite_cell_as_a_limited_rerun(folder)

    rows = {(r.label, r.task, r.shots): r for r in load_rows([folder])}
    stale = rows[("a", "kobest_boolq", 0)]
    assert stale.golds is None and stale.preds is None
    assert "n 2 (results.json: 30)" in stale.stale_cell and "limit 2 (results.json: None)" in stale.stale_cell
    # every other cell still has its documents
    assert all(
        r.golds is not None and r.stale_cell is None for key, r in rows.items() if key != ("a", "kobest_boolq", 0)
    )

    write_report([folder], tmp_path / "out", formats=("md", "html"), resamples=100)
    card = (tmp_path / "out" / "card.md").read_text()
    tables = read_card_tables(card)
    cell = tables["BoolQ"]["a"][0]
    assert cell["f1"] == round(record["macro_f1"], 4)  # the F1 of results.json ...
    assert cell["ci"] is None and not cell["noise"]  # ... never with an interval from other documents
    assert tables["BoolQ"]["a"][5]["ci"] is not None and tables["BoolQ"]["b"][0]["ci"] is not None
    assert "[0.000, 1.000]" not in card
    assert "Warning: the per-document predictions of 1 cell(s) do not match results.json" in card
    assert "a BoolQ 0-shot: n 2 (results.json: 30)" in card
    html = (tmp_path / "out" / "card.html").read_text()
    assert html.count('class="warning"') == 1 and "do not match results.json" in html
    report = json.loads((tmp_path / "out" / "results.json").read_text())
    reported = next(r for r in report["results"] if (r["label"], r["task"], r["shots"]) == ("a", "kobest_boolq", 0))
    assert reported["ci_low"] is None and "n 2" in reported["stale_cell"]


@pytest.mark.parametrize(
    "field,value",
    [
        ("data_source", "/other/kobest"),
        ("dtype", "float16"),
        ("scorer", "reference"),
        ("model_path", "org/other"),
        ("macro_f1", 0.123),
    ],
)
def test_any_disagreeing_setting_makes_a_cell_stale(tmp_path, make_results, field, value):
    folder = make_results(tmp_path / "r", {"a": ("org/a", 0.8)}, shots=(0,), n=20)
    path = folder / "cells" / "a" / "kobest_copa_0shot.json"
    cell = json.loads(path.read_text())
    cell[field] = value
    path.write_text(json.dumps(cell))
    row = next(r for r in load_rows([folder]) if r.task == "kobest_copa")
    assert row.golds is None and row.stale_cell.startswith(f"{field} {value}")


def test_a_cell_with_fewer_documents_than_its_record_is_stale(tmp_path, make_results):
    folder = make_results(tmp_path / "r", {"a": ("org/a", 0.8)}, shots=(0,), n=20)
    path = folder / "cells" / "a" / "kobest_wic_0shot.json"
    cell = json.loads(path.read_text())
    cell["golds"], cell["preds"] = cell["golds"][:5], cell["preds"][:5]
    path.write_text(json.dumps(cell))
    row = next(r for r in load_rows([folder]) if r.task == "kobest_wic")
    assert row.golds is None and row.stale_cell == "5 documents (results.json: n 20)"


def test_matching_cells_leave_no_warning(results_folder, tmp_path):
    write_report([results_folder], tmp_path / "out", formats=("md",), resamples=50)
    assert "do not match results.json" not in (tmp_path / "out" / "card.md").read_text()


def two_runs(tmp_path, make_results):
    a = make_results(
        tmp_path / "run1" / "eval",
        {"tiny-polyglot-ko": ("run1/base", 0.7), "tiny-platypus-ko": ("run1/merged", 0.8)},
        shots=(0,),
        seed=1,
    )
    b = make_results(
        tmp_path / "run2" / "eval",
        {"tiny-polyglot-ko": ("run2/base", 0.7), "tiny-platypus-ko": ("run2/merged", 0.8)},
        shots=(0,),
        seed=2,
    )
    return a, b


def test_an_ambiguous_bare_baseline_label_lists_the_candidates(tmp_path, make_results):
    a, b = two_runs(tmp_path, make_results)
    with pytest.raises(ConfigError) as error:
        write_report([a, b], tmp_path / "out", baseline="tiny-polyglot-ko", formats=("md",), resamples=50)
    message = str(error.value)
    assert "--baseline 'tiny-polyglot-ko' is ambiguous" in message
    assert "'tiny-polyglot-ko (run1)'" in message and "'tiny-polyglot-ko (run2)'" in message
    # the disambiguated label works, and so does a bare label that only one folder has
    write_report([a, b], tmp_path / "out", baseline="tiny-polyglot-ko (run2)", formats=("md",), resamples=50)
    assert "| tiny-polyglot-ko (run2) (baseline)[^2] |" in (tmp_path / "out" / "card.md").read_text()
    write_report([a], tmp_path / "one", baseline="tiny-polyglot-ko", formats=("md",), resamples=50)
    assert "| tiny-polyglot-ko (baseline)[^1] |" in (tmp_path / "one" / "card.md").read_text()


def test_a_bare_label_shown_once_is_accepted(tmp_path, make_results):
    """Only one folder has the label: no suffix is added and the bare label resolves."""
    a = make_results(tmp_path / "run1" / "eval", {"base-x": ("org/x", 0.7)}, shots=(0,), seed=1)
    b = make_results(tmp_path / "run2" / "eval", {"other": ("org/y", 0.7)}, shots=(0,), seed=2)
    write_report([a, b], tmp_path / "out", baseline="base-x", formats=("md",), resamples=50)
    assert "| base-x (baseline)" in (tmp_path / "out" / "card.md").read_text()


def test_report_command_ambiguous_baseline_is_a_clean_error(tmp_path, make_results, capsys):
    a, b = two_runs(tmp_path, make_results)
    code = main(
        [
            "report",
            str(tmp_path / "run1"),
            str(tmp_path / "run2"),
            "--baseline",
            "tiny-polyglot-ko",
            "--output",
            str(tmp_path / "out"),
            "--format",
            "md",
            "--resamples",
            "50",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "is ambiguous" in err and "tiny-polyglot-ko (run1)" in err and "Traceback" not in err
