"""results.md and the console summary show each task's own declared metrics with ± stderr: ours
(macro-F1, acc, acc_norm where the task defines them; acc's stderr by lm-eval's formula for a
mean) and an lm_eval: task's as lm-eval names them, filters included, never an invented macro-F1."""

from __future__ import annotations

import math

from polyplatypus.eval.tables import record_metrics, results_markdown


def test_reference_task_shows_f1_and_acc_with_stderr():
    record = {"model": "tiny", "task": "kobest_copa", "shots": 0, "macro_f1": 0.61, "acc": 0.6, "n": 100}
    table = results_markdown([record])
    stderr = math.sqrt(0.6 * 0.4 / 99)
    assert "### COPA (F1)" in table and "| tiny | 0.6100 |" in table
    assert "### COPA (acc)" in table and f"| tiny | 0.6000 ± {stderr:.4f} |" in table
    assert "acc_norm" not in table  # COPA does not define it


def test_lm_eval_task_shows_its_own_metrics_and_filters_without_macro_f1():
    entry = {
        "alias": "gsm",
        "exact_match,strict-match": 0.25,
        "exact_match_stderr,strict-match": 0.04,
        "exact_match,flexible-extract": 0.5,
        "exact_match_stderr,flexible-extract": "N/A",
        "sample_len": 10,
    }
    record = {
        "model": "m",
        "task": "lm_eval:gsm",
        "shots": 5,
        "macro_f1": None,
        "metrics": {},
        "lm_eval": {"results": {"gsm": entry}},
    }
    assert record_metrics(record) == {
        "exact_match,strict-match": (0.25, 0.04),
        "exact_match,flexible-extract": (0.5, None),
    }
    table = results_markdown([record])
    assert "### lm_eval:gsm (exact_match,strict-match)" in table and "| m | 0.2500 ± 0.0400 |" in table
    assert "| m | 0.5000 |" in table and "F1" not in table


def test_lm_eval_multiple_choice_task_shows_acc_and_acc_norm_as_lm_eval_names_them():
    entry = {"acc,none": 0.33, "acc_stderr,none": 0.05, "acc_norm,none": 0.4, "acc_norm_stderr,none": 0.049}
    record = {
        "model": "m",
        "task": "lm_eval:kornli",
        "shots": 0,
        "macro_f1": 0.1654,
        "lm_eval": {"results": {"kornli": entry}},
    }
    table = results_markdown([record])
    assert "(acc)" in table and "0.3300 ± 0.0500" in table and "(acc_norm)" in table
    assert "0.1654" not in table  # our pooled macro-F1 is not the task's metric
