"""Task definitions as data, and the registry that finds them by name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from polyplatypus.errors import ConfigError


@dataclass(frozen=True)
class ChoiceTask:
    """A multiple-choice task scored by comparing the loglikelihood of each choice.

    A few-shot example is ``doc_to_text(doc) + target_prefix + choices[label]``; the scored
    continuation of choice ``c`` is ``continuation_prefix + c``.
    """

    name: str
    source: str  # key of polyplatypus.data.kobest.SOURCES
    title: str  # heading in result tables
    doc_to_text: Callable[[dict], str]
    doc_to_choices: Callable[[dict], list[str]]
    target_prefix: str
    continuation_prefix: str
    strip_context: bool = False
    length_normalized: bool = False  # also report acc_norm (loglikelihood / choice length)
    eval_split: str = "test"
    fewshot_split: str = "train"

    def gold(self, doc: dict) -> int:
        return int(doc["label"])

    def doc_to_target(self, doc: dict) -> str:
        return self.target_prefix + self.doc_to_choices(doc)[self.gold(doc)]

    def continuations(self, doc: dict) -> list[str]:
        return [self.continuation_prefix + choice for choice in self.doc_to_choices(doc)]

    @property
    def metrics(self) -> tuple[str, ...]:
        return ("macro_f1", "acc", "acc_norm") if self.length_normalized else ("macro_f1", "acc")


TASKS: dict[str, ChoiceTask] = {}


def register(task: ChoiceTask) -> ChoiceTask:
    TASKS[task.name] = task
    return task


def get_task(name: str) -> ChoiceTask:
    """Find a task by its name (``kobest_copa``; the short ``copa`` works too)."""
    import polyplatypus.tasks.kobest  # noqa: F401  (fills the registry)

    key = name.strip().lower()
    if key not in TASKS and f"kobest_{key}" in TASKS:
        key = f"kobest_{key}"
    if key not in TASKS:
        raise ConfigError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    return TASKS[key]


def all_task_names() -> list[str]:
    """Every registered task in registration order: the default task list of ``eval`` and of a
    recipe, and the order of the tables in reports."""
    import polyplatypus.tasks.kobest  # noqa: F401

    return list(TASKS)
