"""Synthetic evaluation results folders in the format of polyplatypus.eval.runner.evaluate(output=DIR):
results.json plus per-cell files with per-document golds and preds."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

TASKS = {"kobest_boolq": 2, "kobest_copa": 2, "kobest_hellaswag": 4, "kobest_sentineg": 2, "kobest_wic": 2}


def macro_f1(golds, preds):
    from sklearn.metrics import f1_score

    return float(f1_score(golds, preds, average="macro"))


def write_results_folder(
    directory: Path,
    models: dict[str, tuple[str, float]],
    *,
    shots=(0, 5, 10, 50),
    n=60,
    seed=0,
    dtype="float32",
    batch_size=1,
    data_source="/data/kobest",
    version="0.1.0",
    truncated_at=None,
    cells=True,
    limit=None,
) -> Path:
    """models: label -> (model_path, accuracy); predictions are gold flipped with probability 1-acc."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    records = []
    for task, classes in TASKS.items():
        golds = [rng.randrange(classes) for _ in range(n)]
        for label, (path, accuracy) in models.items():
            for k in shots:
                preds = [
                    g if rng.random() < accuracy + 0.01 * k / 10 else rng.choice([c for c in range(classes) if c != g])
                    for g in golds
                ]
                truncated = n // 3 if truncated_at is not None and k >= truncated_at else 0
                record = {
                    "model": label,
                    "model_path": path,
                    "task": task,
                    "shots": k,
                    "macro_f1": macro_f1(golds, preds),
                    "acc": sum(g == p for g, p in zip(golds, preds)) / n,
                    "n": n,
                    "truncated": truncated,
                    "dtype": dtype,
                    "batch_size": batch_size,
                    "data_source": data_source,
                    "version": version,
                    "date": "2025-01-02T03:04:05Z",
                    "scorer": "shared",
                    "limit": limit,
                }
                if task == "kobest_hellaswag":
                    record["acc_norm"] = record["acc"]
                records.append(record)
                if cells:
                    cell = directory / "cells" / label.replace("/", "_") / f"{task}_{k}shot.json"
                    cell.parent.mkdir(parents=True, exist_ok=True)
                    cell.write_text(json.dumps({**record, "golds": golds, "preds": preds}))
    (directory / "results.json").write_text(
        json.dumps(
            {"results": records, "config": {"shots": list(shots)}, "versions": {"polyplatypus": version}},
            ensure_ascii=False,
            indent=1,
        )
    )
    return directory


@pytest.fixture
def make_results():
    """The folder writer itself, for tests that need several folders or other settings."""
    return write_results_folder


@pytest.fixture
def results_folder(tmp_path):
    return write_results_folder(
        tmp_path / "results",
        {
            "polyglot-ko-1.3b": ("EleutherAI/polyglot-ko-1.3b", 0.62),
            "poly-platypus-ko-1.3b": ("runs/x/merged", 0.75),
            "noise-twin": ("runs/y/merged", 0.74),
        },
        truncated_at=10,
    )
