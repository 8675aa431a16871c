"""Per-cell metrics, computed as the reference harness does (sklearn macro-F1, argmax first on ties)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score


def predict(loglikelihoods: list[float]) -> int:
    return int(np.argmax(loglikelihoods))  # first maximum on ties, as np.argmax in the reference


def predict_length_normalized(loglikelihoods: list[float], choices: list[str]) -> int:
    # The reference divides by the character length of the bare choice (no leading space).
    lengths = np.array([float(len(choice)) for choice in choices])
    return int(np.argmax(np.asarray(loglikelihoods) / lengths))


def macro_f1(golds: list[int], preds: list[int]) -> float:
    return float(f1_score(golds, preds, average="macro"))


def accuracy(golds: list[int], preds: list[int]) -> float:
    return float(np.mean(np.asarray(golds) == np.asarray(preds))) if golds else float("nan")
