"""An lm_eval: task of output_type loglikelihood has no macro-F1 (no choices to predict): eval
stores its own metrics, and report shows them beside the macro-F1 tables instead of exiting 2."""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("lm_eval")
os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_EVALUATE_OFFLINE="1")

from polyplatypus.cli import main  # noqa: E402

TASK = """\
task: ko_continuation_local
dataset_path: json
dataset_name: null
dataset_kwargs:
  data_files: {{test: {data}}}
output_type: loglikelihood
test_split: test
doc_to_text: "{{{{context}}}}"
doc_to_target: " {{{{target}}}}"
metric_list:
  - metric: perplexity
    aggregation: perplexity
    higher_is_better: false
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata: {{version: 1.0}}
"""

DOCS = [
    {"context": "한국의 수도는", "target": "서울이다."},
    {"context": "하늘은", "target": "파랗다."},
    {"context": "바다는", "target": "넓다."},
]


def test_report_shows_a_task_without_macro_f1(tmp_path, tiny_gptneox_dir, kobest_dir, capsys):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    data = tasks / "docs.jsonl"
    data.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in DOCS), encoding="utf-8")
    (tasks / "ko_continuation_local.yaml").write_text(TASK.format(data=data), encoding="utf-8")
    results = tmp_path / "results"
    assert (
        main(
            [
                "eval",
                "--model",
                f"tiny={tiny_gptneox_dir}",
                "--tasks",
                "kobest_copa,lm_eval:ko_continuation_local",
                "--include-path",
                str(tasks),
                "--kobest-dir",
                str(kobest_dir),
                "--shots",
                "0",
                "--limit",
                "3",
                "--output",
                str(results),
                "--no-progress",
            ]
        )
        == 0
    )
    (record,) = [
        r
        for r in json.loads((results / "results.json").read_text())["results"]
        if r["task"] == "lm_eval:ko_continuation_local"
    ]
    assert record.get("macro_f1") is None and record["metrics"]["perplexity"] > 1

    out = tmp_path / "report"
    assert main(["report", str(results), "--output", str(out), "--format", "md,html"]) == 0, capsys.readouterr().err
    card = (out / "card.md").read_text(encoding="utf-8")
    assert "Tasks without a macro-F1" in card and "perplexity" in card and "tiny" in card
    assert "COPA" in card  # the macro-F1 table of the task that has one is still there
    (row,) = json.loads((out / "results.json").read_text())["task_metrics"]
    assert (row["model"], row["task"], row["shots"]) == ("tiny", "lm_eval:ko_continuation_local", 0)
    assert row["metrics"]["perplexity"]["value"] == pytest.approx(record["metrics"]["perplexity"])
    assert "perplexity" in (out / "card.html").read_text(encoding="utf-8")
