"""Reference tasks as data files (``definitions/*.yaml``); see ``registry.get_task``."""

from polyplatypus.tasks.registry import ChoiceTask, all_task_names, get_task, task_names

__all__ = ["ChoiceTask", "all_task_names", "get_task", "task_names"]
