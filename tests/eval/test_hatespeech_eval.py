"""kohatespeech and kohatespeech_gen_bias evaluated, reported and carded like KoBEST."""

import json

import pytest
from sklearn.metrics import accuracy_score, f1_score

import polyplatypus
from polyplatypus.cli import main
from polyplatypus.errors import DataError
from polyplatypus.report.card import read_card_tables, write_report


def test_eval_report_and_card(tmp_path, hatespeech_dir, tiny_gptneox_dir, capsys):
    out = tmp_path / "results"
    code = main(
        [
            "eval",
            "--model",
            f"neox={tiny_gptneox_dir}",
            "--tasks",
            "kohatespeech,kohatespeech_gen_bias",
            "--shots",
            "0,5",
            "--limit",
            "6",
            "--hatespeech-dir",
            str(hatespeech_dir),
            "--output",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    saved = json.loads((out / "results.json").read_text())
    records = {(r["task"], r["shots"]): r for r in saved["results"]}
    assert sorted(records) == [
        ("kohatespeech", 0),
        ("kohatespeech", 5),
        ("kohatespeech_gen_bias", 0),
        ("kohatespeech_gen_bias", 5),
    ]
    assert saved["config"]["data_sources"] == {"korean_hate_speech": str(hatespeech_dir.resolve())}
    for (task, shots), record in records.items():
        cell = json.loads((out / "cells" / "neox" / f"{task}_{shots}shot.json").read_text())
        assert record["data_source"] == str(hatespeech_dir.resolve()) and record["n"] == 6
        assert record["task_fingerprint"].startswith("sha256:")
        assert record["macro_f1"] == pytest.approx(f1_score(cell["golds"], cell["preds"], average="macro"))
        assert record["acc"] == pytest.approx(accuracy_score(cell["golds"], cell["preds"]))
        assert "acc_norm" not in record
    tables = (out / "results.md").read_text()
    assert "### KoHateSpeech (F1)" in tables and "### KoHateSpeech gender bias (F1)" in tables

    written = write_report([out], tmp_path / "report", resamples=50, formats=("md",))
    card = read_card_tables((tmp_path / "report" / "card.md").read_text())
    assert list(card) == ["KoHateSpeech", "KoHateSpeech gender bias"]
    assert card["KoHateSpeech"]["neox"][0]["f1"] == pytest.approx(records[("kohatespeech", 0)]["macro_f1"], abs=5e-5)
    assert written

    # with KoBEST cells in the same folder: one card, the tasks in the task files' order, and no
    # "not all evaluated with the same settings" warning for the two data sources
    from polyplatypus.pipeline.config import resolve_builtin

    main(
        [
            "eval",
            "--model",
            f"neox={tiny_gptneox_dir}",
            "--tasks",
            "kobest_copa,kohatespeech",
            "--shots",
            "0,5",
            "--limit",
            "6",
            "--hatespeech-dir",
            str(hatespeech_dir),
            "--kobest-dir",
            resolve_builtin("builtin:kobest_sample"),
            "--output",
            str(out),
            "--no-progress",
        ]
    )
    write_report([out], tmp_path / "report2", resamples=50, formats=("md",))
    text = (tmp_path / "report2" / "card.md").read_text()
    assert list(read_card_tables(text)) == ["COPA", "KoHateSpeech"]
    assert "Warning: these rows were not all evaluated" not in text


def test_missing_hatespeech_folder_is_named_before_any_model_loads(tmp_path, monkeypatch, tiny_gptneox_dir, capsys):
    from polyplatypus.eval import runner

    monkeypatch.delenv("POLYPLATYPUS_HATESPEECH_DIR", raising=False)
    monkeypatch.setattr(runner, "load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    code = main(
        [
            "eval",
            "--model",
            str(tiny_gptneox_dir),
            "--tasks",
            "kohatespeech",
            "--shots",
            "0",
            "--output",
            str(tmp_path / "r"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "--hatespeech-dir" in err and "$POLYPLATYPUS_HATESPEECH_DIR" in err and "kohatespeech.yaml, line" in err
    with pytest.raises(DataError, match=r"dev.tsv.*kohatespeech.yaml, line \d+"):
        polyplatypus.evaluate([str(tiny_gptneox_dir)], ["kohatespeech"], [0], hatespeech_dir=tmp_path)
