"""The evaluation grid end to end on the tiny fixture: outputs, resume, samples and errors."""

import json

import pytest
from sklearn.metrics import f1_score

import polyplatypus
from polyplatypus.cli import main
from polyplatypus.errors import ConfigError, DataError
from polyplatypus.eval import runner


def test_grid_outputs_and_resume(tmp_path, kobest_dir, tiny_gptneox_dir, tiny_llama_dir, monkeypatch):
    out = tmp_path / "results"
    records = polyplatypus.evaluate(
        [f"neox={tiny_gptneox_dir}", f"llama={tiny_llama_dir}"],
        ["kobest_copa", "kobest_hellaswag"],
        [0, 5],
        output=out,
        kobest_dir=kobest_dir,
        limit=8,
        log_samples=True,
        progress=False,
    )
    assert [(r["model"], r["task"], r["shots"]) for r in records] == [
        (m, t, k) for m in ("neox", "llama") for t in ("kobest_copa", "kobest_hellaswag") for k in (0, 5)
    ]
    saved = json.loads((out / "results.json").read_text())
    assert saved["results"] == records
    assert saved["config"]["limit"] == 8 and "transformers" in saved["versions"]
    hellaswag = [r for r in records if r["task"] == "kobest_hellaswag"]
    assert all("acc_norm" in r for r in hellaswag)
    assert all(r["n"] == 8 and r["dtype"] == "float32" for r in records)

    # Samples: metrics recomputed from the per-document lines agree with the records.
    for record in records:
        path = out / "samples" / record["model"] / f"{record['task']}_{record['shots']}shot.jsonl"
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        assert len(lines) == 8
        golds, preds = [s["gold"] for s in lines], [s["pred"] for s in lines]
        assert record["macro_f1"] == pytest.approx(f1_score(golds, preds, average="macro"))
        assert all(
            s["pred"] == max(range(len(s["loglikelihoods"])), key=lambda i: (s["loglikelihoods"][i], -i)) for s in lines
        )
        assert lines[0]["prompt"] and isinstance(lines[0]["doc_index"], int)

    # results.md: the model card layout, F1 with four decimals.
    table = (out / "results.md").read_text()
    assert "### COPA (F1)" in table and "| Model | 0-shot | 5-shot |" in table
    copa_neox = next(r for r in records if r["model"] == "neox" and r["task"] == "kobest_copa" and r["shots"] == 5)
    assert "| neox | " in table and f"{copa_neox['macro_f1']:.4f}" in table

    # Re-running the same grid loads no model: every cell is reused.
    def no_loading(*args, **kwargs):
        raise AssertionError("a finished cell was recomputed")

    monkeypatch.setattr(runner, "load_model", no_loading)
    again = polyplatypus.evaluate(
        [f"neox={tiny_gptneox_dir}", f"llama={tiny_llama_dir}"],
        ["kobest_copa", "kobest_hellaswag"],
        [0, 5],
        output=out,
        kobest_dir=kobest_dir,
        limit=8,
        progress=False,
    )
    assert again == records


def test_interrupted_grid_keeps_finished_cells(tmp_path, kobest_dir, tiny_gptneox_dir, monkeypatch):
    out = tmp_path / "results"
    real = runner.score_cell
    calls = []

    def failing_second(*args, **kwargs):
        calls.append(args[3])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "score_cell", failing_second)
    with pytest.raises(KeyboardInterrupt):
        polyplatypus.evaluate(
            [str(tiny_gptneox_dir)], ["kobest_wic"], [0, 5], output=out, kobest_dir=kobest_dir, limit=4, progress=False
        )
    assert (out / "cells" / "tiny-gptneox" / "kobest_wic_0shot.json").is_file()
    assert not (out / "cells" / "tiny-gptneox" / "kobest_wic_5shot.json").exists()
    monkeypatch.setattr(runner, "score_cell", real)
    records = polyplatypus.evaluate(
        [str(tiny_gptneox_dir)], ["kobest_wic"], [0, 5], output=out, kobest_dir=kobest_dir, limit=4, progress=False
    )
    assert [r["shots"] for r in records] == [0, 5]


def test_scorers_give_identical_results(tmp_path, kobest_dir, tiny_gptneox_dir):
    kwargs = dict(kobest_dir=kobest_dir, limit=12, progress=False)
    fast = polyplatypus.evaluate([str(tiny_gptneox_dir)], None, [0, 5], scorer="shared", **kwargs)
    slow = polyplatypus.evaluate([str(tiny_gptneox_dir)], None, [0, 5], scorer="reference", **kwargs)
    for a, b in zip(fast, slow):
        assert (a["task"], a["shots"], a["macro_f1"], a["acc"], a["truncated"]) == (
            b["task"],
            b["shots"],
            b["macro_f1"],
            b["acc"],
            b["truncated"],
        )
        assert a["forwarded_tokens"] <= b["forwarded_tokens"]  # equal only where every context was cut
    zero_shot = [(a["forwarded_tokens"], b["forwarded_tokens"]) for a, b in zip(fast, slow) if a["shots"] == 0]
    assert sum(a for a, _ in zero_shot) < 0.7 * sum(b for _, b in zero_shot)


def test_clear_errors(tmp_path, kobest_dir, tiny_gptneox_dir):
    with pytest.raises(ConfigError, match="unknown task"):
        polyplatypus.evaluate([str(tiny_gptneox_dir)], ["kobest_nope"], [0], kobest_dir=kobest_dir)
    with pytest.raises(ConfigError, match="model path does not exist: ./no/such/model"):
        polyplatypus.evaluate(["./no/such/model"], ["kobest_copa"], [0], kobest_dir=kobest_dir, limit=1, progress=False)
    with pytest.raises(ConfigError, match="5000 shots asked but its train split has 3076"):
        polyplatypus.evaluate([str(tiny_gptneox_dir)], ["kobest_copa"], [5000], kobest_dir=kobest_dir)
    broken = tmp_path / "kobest"
    (broken / "COPA").mkdir(parents=True)
    (broken / "COPA" / "test.tsv").write_text("ID\tsentence\tquestion\t1\t2\tAnswer\n1\t가\t결과\t나\t다\t1\n")
    (broken / "COPA" / "train.tsv").write_text("ID\tsentence\tquestion\t1\t2\tAnswer\n1\t가\t결과\t나\t다\tx\n")
    with pytest.raises(DataError, match=r"COPA/train.tsv, record 1, field 'Answer'"):
        polyplatypus.evaluate([str(tiny_gptneox_dir)], ["kobest_copa"], [0, 1], kobest_dir=broken)


def test_cli_eval(tmp_path, kobest_dir, tiny_gptneox_dir, capsys):
    out = tmp_path / "cli"
    code = main(
        [
            "eval",
            "--model",
            f"base={tiny_gptneox_dir}",
            "--tasks",
            "kobest_sentineg",
            "--shots",
            "0,1",
            "--kobest-dir",
            str(kobest_dir),
            "--limit",
            "5",
            "--output",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    assert "### SentiNeg (F1)" in capsys.readouterr().out
    assert (out / "results.md").is_file()
    code = main(["eval", "--model", str(tiny_gptneox_dir), "--tasks", "kobest_x", "--kobest-dir", str(kobest_dir)])
    assert code == 2
    assert "unknown task 'kobest_x'" in capsys.readouterr().err
