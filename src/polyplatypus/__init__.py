"""polyplatypus: the Poly-platypus-ko recipe (curate, fine-tune, merge, evaluate on KoBEST)."""

__version__ = "0.1.0"


def evaluate(models, tasks=None, shots=(0, 5, 10, 50), **kwargs):
    """Evaluate models on KoBEST tasks; see :func:`polyplatypus.eval.runner.evaluate`."""
    from polyplatypus.eval.runner import evaluate as _evaluate

    return _evaluate(models, tasks=tasks, shots=shots, **kwargs)


__all__ = ["__version__", "evaluate"]
