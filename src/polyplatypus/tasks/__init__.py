"""KoBEST tasks as data; see ``registry.get_task``."""

from polyplatypus.tasks.registry import ChoiceTask, all_task_names, get_task

__all__ = ["ChoiceTask", "all_task_names", "get_task"]
