"""The reference tasks: one data file per task (``definitions/<name>.yaml``), read on first use.

Nothing registers itself by being imported: :func:`load_task_file` turns one file into a
:class:`ChoiceTask`, and the registry is the package's ``definitions`` folder read in the files'
``order``.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from polyplatypus.errors import ConfigError
from polyplatypus.tasks.definition import TaskDefinitionError, load_task_file
from polyplatypus.tasks.task import ChoiceTask

DEFINITIONS_PACKAGE = "polyplatypus.tasks"
DEFINITIONS_FOLDER = "definitions"

__all__ = [
    "ChoiceTask",
    "TaskDefinitionError",
    "all_task_names",
    "definitions_dir",
    "get_task",
    "is_task_file",
    "load_task_file",
    "reference_tasks",
    "task_names",
]


def definitions_dir() -> Path:
    return Path(str(resources.files(DEFINITIONS_PACKAGE) / DEFINITIONS_FOLDER))


@functools.lru_cache(maxsize=1)
def reference_tasks() -> dict[str, ChoiceTask]:
    """Every task file shipped with the package, by name, in the files' ``order``."""
    tasks = [load_task_file(path) for path in sorted(definitions_dir().glob("*.yaml"))]
    by_name: dict[str, ChoiceTask] = {}
    for task in sorted(tasks, key=lambda t: (t.order, t.name)):
        if task.name in by_name:
            raise TaskDefinitionError(f"{task.file}: task name {task.name!r} is also used by {by_name[task.name].file}")
        by_name[task.name] = task
    return by_name


TASK_FILE_SUFFIXES = (".yaml", ".yml")


def is_task_file(name: str) -> bool:
    """A task given as the path of a task file rather than a shipped task's name."""
    return str(name).lower().endswith(TASK_FILE_SUFFIXES)


@functools.lru_cache(maxsize=32)
def _task_from_file(path: str, mtime_ns: int) -> ChoiceTask:
    return load_task_file(path)


def get_task(name: str) -> ChoiceTask:
    """Find a task by its name (``kobest_copa``; the short ``copa`` works too), or read the task
    file at a path ending in .yaml (a task of one's own, in the same format)."""
    if is_task_file(name):
        path = Path(name).expanduser()
        if not path.is_file():
            raise TaskDefinitionError(f"{path}: task file not found")
        return _task_from_file(str(path.resolve()), path.stat().st_mtime_ns)
    tasks = reference_tasks()
    key = name.strip().lower()
    if key not in tasks and f"kobest_{key}" in tasks:
        key = f"kobest_{key}"
    if key not in tasks:
        raise ConfigError(f"unknown task {name!r}; known tasks: {', '.join(sorted(tasks))}")
    return tasks[key]


def all_task_names() -> list[str]:
    """The default task list of ``eval`` and of a recipe (the files marked ``default: true``: the
    five KoBEST tasks), in the model card's order, which is also the order of report tables."""
    return [name for name, task in reference_tasks().items() if task.default]


def task_names() -> list[str]:
    """Every reference task, the default ones first, in the order of report tables."""
    return list(reference_tasks())
