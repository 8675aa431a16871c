"""An lm_eval: cell's key covers everything that decides its numbers: gold targets, metric_list,
filters, generation_kwargs, the code of !function helpers and the bytes of local data files (never
the datasets cache's mtime check). A change recomputes the cell with a message naming it."""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("lm_eval")
os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_EVALUATE_OFFLINE="1")

import polyplatypus  # noqa: E402


def _evaluate(model, folder, task, output):
    return polyplatypus.evaluate(
        models=[f"tiny={model}"],
        tasks=[f"lm_eval:{task}"],
        shots=[0],
        limit=4,
        include_path=[str(folder)],
        output=str(output),
        progress=False,
    )[0]


def _golds(output, task):
    return json.loads((output / "cells" / "tiny" / f"lm_eval-{task}_0shot.json").read_text(encoding="utf-8"))["golds"]


def test_gold_targets_rewritten_with_the_old_mtime_give_new_results(tiny_gptneox_dir, lm_eval_tasks, tmp_path, capsys):
    data = lm_eval_tasks / "keys" / "haerae_key_gold-test.jsonl"
    first = _evaluate(tiny_gptneox_dir, lm_eval_tasks, "haerae_key_gold", tmp_path / "out")
    assert _golds(tmp_path / "out", "haerae_key_gold") == [0, 1, 2, 3]
    stat = data.stat()
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    # the same size and modification time: datasets' own cache would not notice
    data.write_text(
        "".join(json.dumps(dict(r, answer="(E)"), ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert data.stat().st_size == stat.st_size
    capsys.readouterr()
    again = _evaluate(tiny_gptneox_dir, lm_eval_tasks, "haerae_key_gold", tmp_path / "out")
    assert _golds(tmp_path / "out", "haerae_key_gold") == [4, 4, 4, 4]
    assert again["fingerprint"] != first["fingerprint"]
    err = capsys.readouterr().err
    assert "lm_eval:haerae_key_gold 0-shot of model tiny: gold targets" in err and f"data file bytes ({data})" in err
    assert "prompts and choices" not in err  # the requests themselves did not change
    fresh = _evaluate(tiny_gptneox_dir, lm_eval_tasks, "haerae_key_gold", tmp_path / "fresh")
    assert (
        _golds(tmp_path / "fresh", "haerae_key_gold") == [4, 4, 4, 4] and fresh["fingerprint"] == again["fingerprint"]
    )


def test_a_changed_metric_list_recomputes_naming_it(tiny_gptneox_dir, lm_eval_tasks, tmp_path, capsys):
    first = _evaluate(tiny_gptneox_dir, lm_eval_tasks, "haerae_key_metrics", tmp_path / "out")
    assert set(first["metrics"]) == {"acc", "acc_norm"}
    task = lm_eval_tasks / "keys" / "haerae_key_metrics.yaml"
    task.write_text(
        task.read_text(encoding="utf-8")
        + "metric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    again = _evaluate(tiny_gptneox_dir, lm_eval_tasks, "haerae_key_metrics", tmp_path / "out")
    assert set(again["metrics"]) == {"acc"} and again["metrics"]["acc"] == first["metrics"]["acc"]
    assert "lm_eval:haerae_key_metrics 0-shot of model tiny: metric_list changed" in capsys.readouterr().err


def test_function_helper_code_recomputes_naming_it(tiny_gptneox_dir, lm_eval_tasks, tmp_path, capsys):
    first = _evaluate(tiny_gptneox_dir, lm_eval_tasks, "haerae_key_function", tmp_path / "out")
    assert _golds(tmp_path / "out", "haerae_key_function") == [0, 1, 2, 3]
    helpers = lm_eval_tasks / "keys" / "key_helpers.py"
    helpers.write_text(
        helpers.read_text(encoding="utf-8").replace("return ", "return 0 * ") + "\n# always A\n", encoding="utf-8"
    )
    capsys.readouterr()
    again = _evaluate(tiny_gptneox_dir, lm_eval_tasks, "haerae_key_function", tmp_path / "out")
    assert (
        _golds(tmp_path / "out", "haerae_key_function") == [0, 0, 0, 0] and again["fingerprint"] != first["fingerprint"]
    )
    assert "haerae_key_function 0-shot of model tiny: gold targets, !function code changed" in capsys.readouterr().err


def test_filters_and_generation_kwargs_are_key_parts(lm_eval_tasks):
    from polyplatypus.tasks.lm_eval_tasks import build_cell, changed_parts

    original = (lm_eval_tasks / "haerae" / "haerae_local.yaml").read_text(encoding="utf-8")
    base = build_cell("lm_eval:haerae_local", 0, limit=2, include_path=[str(lm_eval_tasks)])
    for extra, named in (
        ("generation_kwargs: {until: ['\\n\\n']}\n", "generation_kwargs"),
        ("filter_list:\n  - name: strict\n    filter:\n      - function: take_first\n", "filters"),
    ):
        (lm_eval_tasks / "haerae" / "haerae_local.yaml").write_text(original + extra, encoding="utf-8")
        try:
            changed = build_cell("lm_eval:haerae_local", 0, limit=2, include_path=[str(lm_eval_tasks)])
        finally:
            (lm_eval_tasks / "haerae" / "haerae_local.yaml").write_text(original, encoding="utf-8")
        assert changed.fingerprint != base.fingerprint
        assert changed_parts(base.fingerprint_parts, changed.fingerprint_parts) == named


def test_a_group_aggregation_is_a_key_part(lm_eval_tasks):
    from polyplatypus.tasks.lm_eval_tasks import build_cell, changed_parts

    group = lm_eval_tasks / "kmmlu" / "_kmmlu_local.yaml"
    original = group.read_text(encoding="utf-8")
    base = build_cell("lm_eval:kmmlu_local", 0, limit=2, include_path=[str(lm_eval_tasks)])
    group.write_text(original.replace("weight_by_size: true", "weight_by_size: false"), encoding="utf-8")
    try:
        changed = build_cell("lm_eval:kmmlu_local", 0, limit=2, include_path=[str(lm_eval_tasks)])
    finally:
        group.write_text(original, encoding="utf-8")
    assert changed_parts(base.fingerprint_parts, changed.fingerprint_parts) == "metric_list"
