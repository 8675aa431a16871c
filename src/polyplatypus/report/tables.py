"""The result tables are rendered by evaluation, which writes them: see :mod:`polyplatypus.eval.tables`."""

from polyplatypus.eval.tables import results_markdown, task_title

__all__ = ["results_markdown", "task_title"]
