"""`polyplatypus eval --tasks lm_eval:...`: cells, samples, resume, fingerprints, the report and the
CLI's errors (exit 2 before any model loads) for lm-evaluation-harness tasks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("lm_eval")
os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_EVALUATE_OFFLINE="1")

from polyplatypus.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def folder(lm_eval_tasks):
    return lm_eval_tasks


def test_eval_runs_lm_eval_tasks_beside_ours_and_resumes(
    tiny_gptneox_dir, kobest_dir, folder, tmp_path, refuse_loading
):
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    import polyplatypus
    from polyplatypus.models.loading import load_model
    from polyplatypus.tasks.lm_eval_tasks import task_manager

    out = tmp_path / "results"
    options = dict(
        models=[f"tiny={tiny_gptneox_dir}"],
        tasks=["kobest_copa", "lm_eval:kmmlu_local", "lm_eval:haerae_local"],
        shots=[0, 2],
        limit=3,
        include_path=[str(folder)],
        kobest_dir=str(kobest_dir),
        output=str(out),
        log_samples=True,
        progress=False,
    )
    records = polyplatypus.evaluate(**options)
    assert [(r["task"], r["shots"]) for r in records] == [
        ("kobest_copa", 0),
        ("kobest_copa", 2),
        ("lm_eval:kmmlu_local", 0),
        ("lm_eval:kmmlu_local", 2),
        ("lm_eval:haerae_local", 0),
        ("lm_eval:haerae_local", 2),
    ]
    group = records[3]
    assert group["n"] == 6 and group["num_fewshot"] == {"kmmlu_local_accounting": 2, "kmmlu_local_korean_history": 2}
    assert len(group["fingerprint"]) == 64 and group["task_versions"]["kmmlu_local"] == "2.0"
    assert "golds" not in group and set(group["lm_eval"]["results"]) >= {"kmmlu_local", "kmmlu_local_accounting"}

    # the same numbers as lm-eval's own engine on the same model
    model, tokenizer = load_model(str(tiny_gptneox_dir), dtype="auto", device="cpu")
    expected = simple_evaluate(
        model=HFLM(pretrained=model, tokenizer=tokenizer),
        tasks=["kmmlu_local"],
        num_fewshot=2,
        limit=3,
        task_manager=task_manager([str(folder)]),
    )
    assert group["metrics"]["acc"] == expected["results"]["kmmlu_local"]["acc,none"]

    # the lm-eval-format results file holds lm-eval's own metrics (group and subjects) and versions
    (written,) = (out / "lm_eval" / "2-shot" / "tiny").glob("results_*.json")
    data = json.loads(written.read_text(encoding="utf-8"))
    for name, entry in expected["results"].items():
        assert data["results"][name].keys() == entry.keys(), name
        for key, value in entry.items():
            assert data["results"][name][key] == (pytest.approx(value, abs=1e-6) if isinstance(value, float) else value)
        assert data["versions"][name] == expected["versions"][name] and data["n-shot"][name] == 2
    assert data["results"]["kobest_copa"]["macro_f1,none"] == records[1]["macro_f1"]  # ours as before

    # each cell names the data it read: the task config's files for lm-eval tasks, KoBEST for ours
    files = [
        json.loads((folder / "kmmlu" / f"{s}.yaml").read_text().split("data_files: ")[1].split("\n")[0])
        for s in ("kmmlu_local_accounting", "kmmlu_local_korean_history")
    ]
    assert group["data_source"] == "json: " + ", ".join(f for pair in files for f in pair.values())
    assert records[0]["data_source"] == str(Path(kobest_dir).resolve())  # ours: the KoBEST folder, resolved
    saved = json.loads((out / "results.json").read_text(encoding="utf-8"))["results"]
    assert saved[3]["data_source"] == group["data_source"]
    assert records[4]["data_source"].startswith("json: ") and "haerae_local-test.jsonl" in records[4]["data_source"]

    cell = json.loads((out / "cells" / "tiny" / "lm_eval-kmmlu_local_2shot.json").read_text(encoding="utf-8"))
    assert len(cell["golds"]) == len(cell["preds"]) == 6 and cell["task"] == "lm_eval:kmmlu_local"
    lines = (out / "samples" / "tiny" / "lm_eval-haerae_local_2shot.jsonl").read_text(encoding="utf-8").splitlines()
    sample = json.loads(lines[1])
    assert sample["doc_index"] == 1 and sample["continuations"] == [" (A)", " (B)", " (C)", " (D)", " (E)"]
    assert sample["context"].endswith("정답:") and sample["context"].count("정답:") == 3
    assert "lm_eval:haerae_local" in (out / "results.md").read_text(encoding="utf-8")

    # a re-run reuses every cell without loading the model
    refuse_loading()
    again = polyplatypus.evaluate(**options)
    assert [r["fingerprint"] for r in again if "fingerprint" in r] == [
        r["fingerprint"] for r in records if "fingerprint" in r
    ]

    # the report reads the folder
    assert main(["report", str(out), "--format", "md", "--resamples", "50"]) == 0
    card = (out / "report" / "card.md").read_text(encoding="utf-8")
    assert "lm_eval:kmmlu_local" in card and "lm_eval:haerae_local" in card


def test_a_changed_task_file_recomputes_its_cells_with_a_message(tiny_gptneox_dir, folder, tmp_path, capsys):
    import polyplatypus

    options = dict(
        models=[f"tiny={tiny_gptneox_dir}"],
        tasks=["lm_eval:haerae_changing_file"],
        shots=[1],
        limit=2,
        include_path=[str(folder)],
        output=str(tmp_path / "out"),
        progress=False,
    )
    first = polyplatypus.evaluate(**options)[0]
    yaml_file = folder / "changing" / "haerae_changing_file.yaml"
    yaml_file.write_text(yaml_file.read_text(encoding="utf-8") + 'target_delimiter: "  "\n', encoding="utf-8")
    second = polyplatypus.evaluate(**options)[0]
    assert second["fingerprint"] != first["fingerprint"]
    assert (
        "lm_eval:haerae_changing_file 1-shot of model tiny: prompts and choices, other task settings changed "
        "since it was stored: recomputing it"
    ) in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--tasks", "lm_eval:haerae_locl"], "did you mean lm_eval:haerae_local"),
        (["--tasks", "lm_eval:kmmlu_local", "--shots", "6"], "6 shots asked but its few-shot split 'dev' has 5"),
        (["--tasks", "kobest_copa", "--limit", "0.5"], "a fraction (0.5) applies to lm_eval: tasks only"),
    ],
)
def test_cli_errors_exit_2_before_any_model_loads(folder, tmp_path, no_model_loading, capsys, argv, message):
    code = main(
        [
            "eval",
            "--model",
            str(tmp_path / "never-loaded"),
            "--include-path",
            str(folder),
            "--output",
            str(tmp_path / "out"),
            "--no-progress",
            *argv,
        ]
    )
    assert code == 2
    assert message in capsys.readouterr().err


def test_tasks_command_lists_user_tasks(folder, capsys):
    assert main(["tasks", "--include-path", str(folder), "--match", "haerae_loc"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "name\tsource\tversion\tmetrics\toutput_type"
    assert out[1].startswith("lm_eval:haerae_local\ttask, ") and out[1].endswith("\t1.0\tacc,acc_norm\tmultiple_choice")
