"""A damaged results folder never stops a report: a missing or unreadable cell file is shown as
such (its F1 from results.json, no interval) with a warning naming it; the rest is reported. An
unreadable results.json is an error naming it."""

import json

import pytest

from polyplatypus.cli import main
from polyplatypus.report.card import read_card_tables
from polyplatypus.report.results import load_rows


@pytest.fixture
def folder(tmp_path, make_results):
    return make_results(tmp_path / "r", {"a": ("org/a", 0.8), "b": ("org/b", 0.6)}, shots=(0, 5), n=30, seed=3)


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_truncated_and_deleted_cells_are_named_and_the_rest_reported(folder, tmp_path, capsys):
    truncate(folder / "cells" / "a" / "kobest_boolq_0shot.json")
    (folder / "cells" / "b" / "kobest_copa_5shot.json").unlink()
    (folder / "cells" / "b" / "kobest_wic_0shot.json").write_bytes(b"\xff\xfe{")
    records = {
        (r["model"], r["task"], r["shots"]): r for r in json.loads((folder / "results.json").read_text())["results"]
    }

    rows = {(r.label, r.task, r.shots): r for r in load_rows([folder])}
    damaged = {key: row.damaged_cell for key, row in rows.items() if row.damaged_cell}
    assert damaged == {
        ("a", "kobest_boolq", 0): "cells/a/kobest_boolq_0shot.json cannot be read: invalid JSON: "
        + damaged[("a", "kobest_boolq", 0)].split("invalid JSON: ", 1)[1],
        ("b", "kobest_copa", 5): "cells/b/kobest_copa_5shot.json is missing",
        ("b", "kobest_wic", 0): "cells/b/kobest_wic_0shot.json cannot be read: not UTF-8 text (byte 0); "
        "the file is damaged",
    }
    assert all(rows[key].golds is None for key in damaged)
    assert sum(row.golds is not None for row in rows.values()) == len(rows) - 3

    assert (
        main(["report", str(folder), "--output", str(tmp_path / "out"), "--format", "md,html", "--resamples", "50"])
        == 0
    )
    err = capsys.readouterr().err
    for label, task, shots in damaged:
        assert f"{label} " in err and f"cells/{label}/{task}_{shots}shot.json" in err
    assert err.count("polyplatypus report: warning:") == 3 and "Traceback" not in err

    card = (tmp_path / "out" / "card.md").read_text()
    assert "Warning: the cell files of 3 cell(s) are missing or unreadable" in card
    assert "cells/b/kobest_copa_5shot.json is missing" in card
    tables = read_card_tables(card)
    assert tables["BoolQ"]["a"][0]["f1"] == round(records[("a", "kobest_boolq", 0)]["macro_f1"], 4)
    assert tables["BoolQ"]["a"][0]["ci"] is None and tables["BoolQ"]["a"][5]["ci"] is not None
    assert tables["COPA"]["b"][5]["ci"] is None and tables["COPA"]["b"][0]["ci"] is not None
    html = (tmp_path / "out" / "card.html").read_text()
    assert "are missing or unreadable" in html and "kobest_wic_0shot.json" in html
    reported = json.loads((tmp_path / "out" / "results.json").read_text())["results"]
    assert sum("damaged_cell" in r for r in reported) == 3


def test_a_folder_without_cells_gives_no_warning(tmp_path, make_results):
    folder = make_results(tmp_path / "r", {"a": ("org/a", 0.8)}, shots=(0,), n=20, cells=False)
    assert all(row.damaged_cell is None for row in load_rows([folder]))


@pytest.mark.parametrize("damage", [lambda p: truncate(p), lambda p: p.write_bytes(b"\xff\xfe")])
def test_unreadable_results_json_is_an_error_naming_it(folder, tmp_path, capsys, damage):
    damage(folder / "results.json")
    assert main(["report", str(folder), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{folder / 'results.json'}: " in err and "damaged" in err and "Traceback" not in err
