"""polyplatypus: the Poly-platypus-ko recipe (curate, fine-tune, merge, evaluate on KoBEST)."""

from polyplatypus.version import __version__


def evaluate(models=None, tasks=None, shots=None, **kwargs):
    """Evaluate models on KoBEST tasks; see :func:`polyplatypus.eval.runner.evaluate` (the settings:
    :class:`polyplatypus.eval.config.EvalConfig`)."""
    from polyplatypus.eval.runner import evaluate as _evaluate

    return _evaluate(models, tasks=tasks, shots=shots, **kwargs)


__all__ = ["__version__", "evaluate"]
