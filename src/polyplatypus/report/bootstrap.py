"""Bootstrap confidence intervals for macro-F1 over documents, and paired differences.

Macro-F1 follows scikit-learn's ``f1_score(golds, preds, average="macro")`` as the reference
harness computes it: the mean of per-class F1 over the labels present in either the gold or the
predicted labels. The bootstrap resamples documents with replacement; when several models were
scored on the same documents (same task, shot count and gold labels), they share the resampled
indices, so their differences form a paired bootstrap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95


def macro_f1(golds: Sequence[int], preds: Sequence[int]) -> float:
    """Macro-F1 exactly as ``sklearn.metrics.f1_score(..., average="macro")`` computes it."""
    golds = np.asarray(golds)
    preds = np.asarray(preds)
    if golds.shape != preds.shape or golds.ndim != 1 or golds.size == 0:
        raise ValueError("golds and preds must be non-empty sequences of the same length")
    return float(_macro_f1_matrix(golds[None, :], preds[None, :], np.unique(np.concatenate([golds, preds])))[0])


def _macro_f1_matrix(golds: np.ndarray, preds: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Macro-F1 of each row of (resamples, documents) label matrices."""
    total = np.zeros(golds.shape[0])
    present = np.zeros(golds.shape[0])
    for label in labels:
        gold_is = golds == label
        pred_is = preds == label
        tp = np.sum(gold_is & pred_is, axis=1)
        support = np.sum(gold_is, axis=1) + np.sum(pred_is, axis=1)
        has = support > 0
        total += np.where(has, 2.0 * tp / np.maximum(support, 1), 0.0)
        present += has
    return total / np.maximum(present, 1)


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


class PairedBootstrap:
    """Bootstrap replicates of macro-F1 for several models scored on the same documents."""

    def __init__(self, golds: Sequence[int], *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0):
        self.golds = np.asarray(golds)
        if self.golds.ndim != 1 or self.golds.size == 0:
            raise ValueError("golds must be a non-empty sequence")
        rng = np.random.default_rng(seed)
        self.indices = rng.integers(0, self.golds.size, size=(resamples, self.golds.size))
        self._gold_matrix = self.golds[self.indices]
        self._replicates: dict[str, np.ndarray] = {}

    def add(self, name: str, preds: Sequence[int]) -> np.ndarray:
        preds = np.asarray(preds)
        if preds.shape != self.golds.shape:
            raise ValueError(f"{name}: {preds.size} predictions for {self.golds.size} documents")
        labels = np.unique(np.concatenate([self.golds, preds]))
        self._replicates[name] = _macro_f1_matrix(self._gold_matrix, preds[self.indices], labels)
        return self._replicates[name]

    def interval(self, name: str, confidence: float = DEFAULT_CONFIDENCE) -> Interval:
        return _percentile_interval(self._replicates[name], confidence)

    def difference(self, a: str, b: str, confidence: float = DEFAULT_CONFIDENCE) -> Interval:
        """Percentile interval of F1(a) - F1(b) over the shared resamples."""
        return _percentile_interval(self._replicates[a] - self._replicates[b], confidence)

    def within_noise(self, a: str, b: str, confidence: float = DEFAULT_CONFIDENCE) -> bool:
        """True when the interval of the paired difference contains zero."""
        return self.difference(a, b, confidence).contains(0.0)


def _percentile_interval(values: np.ndarray, confidence: float) -> Interval:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return Interval(float(low), float(high))


def bootstrap_interval(
    golds: Sequence[int],
    preds: Sequence[int],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval of macro-F1 for one model's predictions."""
    boot = PairedBootstrap(golds, resamples=resamples, seed=seed)
    boot.add("model", preds)
    return boot.interval("model", confidence)
