"""A warm-up as long as the run is named before training: the learning rate would never leave ~0."""

from __future__ import annotations

import pytest

from polyplatypus.train import train
from polyplatypus.train.recipe import warmup_message


@pytest.mark.parametrize(
    "warmup,total,scheduler,warned",
    [
        (100, 3, "cosine", True),
        (3, 3, "linear", True),
        (2, 3, "cosine", False),
        (0, 1, "linear", False),
        (100, 3, "constant", False),  # a constant schedule has no warm-up
    ],
)
def test_warmup_message(warmup, total, scheduler, warned):
    message = warmup_message(warmup, total, scheduler)
    assert (message is not None) == warned
    if warned:
        assert f"--warmup-steps {warmup} is not below the run's {total} optimizer steps" in message


def test_training_warns_of_a_warmup_longer_than_the_run(small_run, capsys):
    summary = train(small_run(max_steps=2, warmup_steps=100))
    err = capsys.readouterr().err
    assert "--warmup-steps 100 is not below the run's 2 optimizer steps" in err, err
    assert summary["steps"] == 2
