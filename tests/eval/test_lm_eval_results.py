"""eval's lm-eval-format results files, checked with lm-eval 0.4.13's own code (its table printer,
its results schema, its stderr of a mean) and read back by report --published."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import polyplatypus
from polyplatypus.cli import main
from polyplatypus.eval.lm_eval_results import LM_EVAL_FOLDER, lm_eval_results, sanitize_model_name

lm_eval = pytest.importorskip("lm_eval")

SHOTS = [0, 2]
TASKS = ["kobest_copa", "kobest_hellaswag"]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, kobest_dir, tiny_gptneox_dir):
    out = tmp_path_factory.mktemp("lm_eval_format") / "results"
    polyplatypus.evaluate(
        [f"tiny={tiny_gptneox_dir}"], TASKS, SHOTS, output=str(out), kobest_dir=kobest_dir, limit=12, progress=False
    )
    return out


def files_of(out: Path) -> dict[int, Path]:
    found = {}
    for path in (out / LM_EVAL_FOLDER).glob("*-shot/*/results_*.json"):
        shots = int(path.parent.parent.name.removesuffix("-shot"))
        assert shots not in found
        found[shots] = path
    return found


def test_one_file_per_model_and_shot_count_in_evaluation_trackers_layout(evaluated):
    files = files_of(evaluated)
    assert sorted(files) == SHOTS
    for shots, path in files.items():
        assert path.parent.name == sanitize_model_name("tiny")
        # results_<date>.json with the date as EvaluationTracker writes it (isoformat, ':' -> '-')
        stamp = path.stem.removeprefix("results_")
        assert ":" not in stamp and len(stamp) >= len("2025-01-01T00-00-00")


def test_files_validate_against_lm_evals_schema_and_hold_our_numbers(evaluated):
    from lm_eval.result_schema import EvalResults
    from pydantic import TypeAdapter

    adapter = TypeAdapter(EvalResults)
    records = {(r["task"], r["shots"]): r for r in json.loads((evaluated / "results.json").read_text())["results"]}
    for shots, path in files_of(evaluated).items():
        data = json.loads(path.read_text())
        adapter.validate_python(data, strict=True)
        assert set(data["results"]) == set(TASKS)
        assert data["n-shot"] == {task: shots for task in TASKS}
        assert data["config"]["model_args"].startswith("pretrained=") and data["config"]["model_args"].endswith(
            records[(TASKS[0], shots)]["model_path"]
        )
        for task in TASKS:
            record, entry = records[(task, shots)], data["results"][task]
            assert entry["macro_f1,none"] == record["macro_f1"] and entry["acc,none"] == record["acc"]
            assert data["n-samples"][task] == {"original": record["n_documents"], "effective": 12}
            assert record["n_documents"] > 12  # the whole split, before --limit
            assert data["higher_is_better"][task]["macro_f1"] is True
            assert data["configs"][task]["dataset_path"] == "skt/kobest_v1"
        assert "acc_norm,none" in data["results"]["kobest_hellaswag"]


def test_acc_stderr_is_lm_evals_stderr_of_a_mean(evaluated):
    from lm_eval.api.metrics import mean_stderr

    for shots, path in files_of(evaluated).items():
        data = json.loads(path.read_text())
        for task in TASKS:
            cell = json.loads(next((evaluated / "cells").glob(f"*/{task}_{shots}shot.json")).read_text())
            correct = [float(g == p) for g, p in zip(cell["golds"], cell["preds"])]
            assert data["results"][task]["acc_stderr,none"] == pytest.approx(mean_stderr(correct), rel=1e-12)
            assert "macro_f1_stderr,none" not in data["results"][task]  # not a mean: no stderr (see the module)


def test_lm_evals_table_printer_prints_them(evaluated):
    from lm_eval.utils import make_table

    for shots, path in files_of(evaluated).items():
        data = json.loads(path.read_text())
        table = make_table(data)
        for task in TASKS:
            line = next(row for row in table.splitlines() if row.startswith(f"|{task}"))
            cells = [c.strip() for c in line.strip("|").split("|")]
            assert cells[3] == str(shots)  # the n-shot column
        assert f"{data['results']['kobest_copa']['acc,none']:.4f}" in table
        assert f"{data['results']['kobest_copa']['macro_f1,none']:.4f}" in table


def test_report_published_reads_them_back_as_our_tasks(evaluated, tmp_path):
    out = tmp_path / "report"
    assert (
        main(
            ["report", "--published", f"exchanged={evaluated / LM_EVAL_FOLDER}", "--output", str(out), "--format", "md"]
        )
        == 0
    )
    report = json.loads((out / "results.json").read_text())
    back = {(r["task"], r["shots"]): r for r in report["results"]}
    original = {(r["task"], r["shots"]): r for r in json.loads((evaluated / "results.json").read_text())["results"]}
    assert set(back) == set(original)  # same task names (not lm_eval:...), same shot counts
    for key, record in original.items():
        assert back[key]["macro_f1"] == record["macro_f1"] and back[key]["acc"] == record["acc"]
        assert back[key]["n"] == record["n"] and back[key]["published"] is True
        assert back[key]["harness"].startswith("polyplatypus")


def test_lm_eval_tasks_are_written_under_lm_evals_names(tmp_path):
    from polyplatypus.eval.lm_eval_results import task_dataset, write_lm_eval_results
    from polyplatypus.report.published import read_published

    records = [
        {
            "model": "m",
            "model_path": "org/m",
            "task": "lm_eval:kobest_boolq",
            "shots": 5,
            "macro_f1": 0.5,
            "acc": 0.6,
            "n": 10,
        }
    ]
    (data,) = lm_eval_results(records, datasets=task_dataset).values()
    assert list(data["results"]) == ["kobest_boolq"]
    assert data["configs"]["kobest_boolq"]["dataset_name"] == "boolq"
    assert "polyplatypus_task" not in data["configs"]["kobest_boolq"]
    (path,) = write_lm_eval_results(tmp_path, records)
    (record,) = read_published(path).records
    assert (record["task"], record["shots"], record["macro_f1"]) == ("lm_eval:kobest_boolq", 5, 0.5)
