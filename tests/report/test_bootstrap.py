import random

import numpy as np
import pytest
from sklearn.metrics import f1_score

from polyplatypus.report.bootstrap import PairedBootstrap, bootstrap_interval, macro_f1


@pytest.mark.parametrize("classes,n,seed", [(2, 30, 0), (4, 50, 1), (2, 7, 2), (4, 12, 3)])
def test_macro_f1_matches_sklearn(classes, n, seed):
    rng = random.Random(seed)
    golds = [rng.randrange(classes) for _ in range(n)]
    preds = [rng.randrange(classes) for _ in range(n)]
    assert macro_f1(golds, preds) == pytest.approx(f1_score(golds, preds, average="macro"), abs=1e-12)


def test_macro_f1_counts_only_labels_present_like_sklearn():
    # the model always answers 1: class 0 has F1 0, class 1 has F1 2*2/(2+4); sklearn averages both
    golds, preds = [0, 0, 1, 1], [1, 1, 1, 1]
    assert macro_f1(golds, preds) == pytest.approx(f1_score(golds, preds, average="macro"))
    assert macro_f1(golds, preds) == pytest.approx((0 + 2 / 3) / 2)
    # a label seen in neither list does not count (here only label 2 appears)
    assert macro_f1([2, 2], [2, 2]) == 1.0


def test_interval_brackets_the_estimate_and_shrinks_with_more_documents():
    rng = random.Random(5)

    def sample(n):
        golds = [rng.randrange(2) for _ in range(n)]
        preds = [g if rng.random() < 0.75 else 1 - g for g in golds]
        return golds, preds

    small_g, small_p = sample(40)
    large_g, large_p = sample(2000)
    small = bootstrap_interval(small_g, small_p, resamples=500, seed=0)
    large = bootstrap_interval(large_g, large_p, resamples=500, seed=0)
    assert small.low <= macro_f1(small_g, small_p) <= small.high
    assert large.low <= macro_f1(large_g, large_p) <= large.high
    assert (large.high - large.low) < (small.high - small.low) / 3
    assert 0.70 < large.low < large.high < 0.80


def test_interval_is_reproducible_with_a_seed():
    golds = [0, 1] * 20
    preds = [0, 0, 1, 1] * 10
    assert bootstrap_interval(golds, preds, seed=3) == bootstrap_interval(golds, preds, seed=3)


def test_paired_difference_identical_models_is_exactly_zero():
    golds = [0, 1, 1, 0, 1] * 10
    preds = [0, 1, 0, 0, 1] * 10
    boot = PairedBootstrap(golds, resamples=300, seed=1)
    boot.add("a", preds)
    boot.add("b", list(preds))
    interval = boot.difference("a", "b")
    assert (interval.low, interval.high) == (0.0, 0.0)
    assert boot.within_noise("a", "b")


def test_paired_difference_separates_a_clearly_better_model():
    rng = np.random.default_rng(0)
    golds = rng.integers(0, 2, size=400)
    good = np.where(rng.random(400) < 0.9, golds, 1 - golds)
    poor = np.where(rng.random(400) < 0.6, golds, 1 - golds)
    boot = PairedBootstrap(golds, resamples=500, seed=0)
    boot.add("good", good)
    boot.add("poor", poor)
    assert not boot.within_noise("good", "poor")
    assert boot.difference("good", "poor").low > 0.15


def test_paired_bootstrap_rejects_mismatched_lengths():
    boot = PairedBootstrap([0, 1, 1], resamples=20)
    with pytest.raises(ValueError, match="2 predictions for 3 documents"):
        boot.add("x", [0, 1])
