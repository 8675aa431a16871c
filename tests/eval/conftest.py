"""Fixtures shared by the evaluation tests: counting the cells a run scores, refusing model loads."""

from __future__ import annotations

import pytest

from polyplatypus.eval import runner


@pytest.fixture
def scored(monkeypatch):
    """The cells scored (not reused) by the runs of a test, in order, as (task name, shots)."""
    calls = []
    real = runner.score_cell

    def counting(model, tokenizer, task, shots, **kwargs):
        calls.append((task.name, shots))
        return real(model, tokenizer, task, shots, **kwargs)

    monkeypatch.setattr(runner, "score_cell", counting)
    return calls


@pytest.fixture
def refuse_loading(monkeypatch):
    """Call it to make any later model load fail the test (a re-run that must reuse every cell)."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded")

    return lambda: monkeypatch.setattr(runner, "load_model", refuse)


@pytest.fixture
def no_model_loading(refuse_loading):
    """No model may load during the test (errors must come before)."""
    refuse_loading()
