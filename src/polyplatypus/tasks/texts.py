"""What decontamination needs from a task: the texts of its evaluation and few-shot documents.

Any task kind implements :class:`DocumentSource`: the reference tasks through the data layer
(:class:`polyplatypus.data.task_data.ReferenceTaskDocuments`, which reads their task files'
data), lm-evaluation-harness tasks through their own loading
(``polyplatypus.tasks.lm_eval_tasks.document_source(name)``).
``data curate --decontaminate`` turns every document into benchmark texts and names the task of
each removal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol, runtime_checkable

#: How a task from lm-evaluation-harness is named where a task name is expected.
LM_EVAL_PREFIX = "lm_eval:"


@dataclass(frozen=True)
class TaskDocument:
    """One document of a task, as decontamination compares it with training text."""

    task: str  # the task's name as the user gave it (kobest_copa, lm_eval:arc_easy)
    split: str  # the split it came from (as the task calls it)
    doc_index: int  # its 0-based place in that split
    fields: tuple[tuple[str, str], ...]  # (field name, text): the content worth matching
    standalone: tuple[str, ...] = ()  # fields also checked on their own (a premise, a question)


@runtime_checkable
class DocumentSource(Protocol):
    """A task whose documents decontamination can read."""

    name: str
    benchmark: str  # the family it belongs to, shown in reports (kobest, korean_hate_speech, lm_eval)

    def documents(self) -> Iterable[TaskDocument]:
        """The task's evaluation documents, then its few-shot documents (when it has any)."""
        ...


def document_from_fields(task: str, split: str, doc_index: int, doc: dict, fields, standalone=()) -> TaskDocument:
    """A :class:`TaskDocument` of the named fields of ``doc`` (empty fields left out)."""
    present = tuple((name, str(doc[name])) for name in fields if doc.get(name) not in (None, ""))
    names = {name for name, _ in present}
    return TaskDocument(task, split, doc_index, present, tuple(n for n in standalone if n in names))
