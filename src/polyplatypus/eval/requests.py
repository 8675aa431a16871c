"""Documents → scoring requests, with the reference harness's shuffle and few-shot draws.

The reference (lm-evaluation-harness v0.3 ``evaluator.evaluate`` and ``Task.fewshot_context``)
shuffles a task's test documents once with ``random.Random`` seeded 42; the same generator then
draws each document's few-shot examples, in shuffled order, with ``sample(train_docs, k)``.
A 0-shot context draws nothing, so the generator is only advanced when k > 0.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from polyplatypus.errors import ConfigError
from polyplatypus.tasks.registry import ChoiceTask

SHUFFLE_SEED = 42


@dataclass(frozen=True)
class DocRequest:
    """One document to score: its context and the continuations compared after it."""

    position: int  # place in the shuffled order
    doc: dict
    context: str
    continuations: tuple[str, ...]
    gold: int

    @property
    def doc_index(self) -> int:
        return self.doc["doc_index"]


def fewshot_context(task: ChoiceTask, doc: dict, examples: list[dict]) -> str:
    """k solved examples separated by blank lines, a blank line, then the document's prompt."""
    shots = "".join(task.doc_to_text(ex) + task.doc_to_target(ex) + "\n\n" for ex in examples)
    context = shots + task.doc_to_text(doc)
    return context.strip() if task.strip_context else context


def build_requests(
    task: ChoiceTask, eval_docs: list[dict], train_docs: list[dict], shots: int, limit: int | None = None
) -> list[DocRequest]:
    """Requests for the first ``limit`` documents after the reference's shuffle."""
    if shots < 0:
        raise ConfigError(f"shots must be >= 0, got {shots}")
    if shots > len(train_docs):
        raise ConfigError(
            f"{task.name}: {shots} shots asked but the {task.fewshot_split} split has only {len(train_docs)} documents"
        )
    rnd = random.Random()
    rnd.seed(SHUFFLE_SEED)
    docs = list(eval_docs)
    rnd.shuffle(docs)
    if limit is not None:
        docs = docs[:limit]
    requests = []
    for position, doc in enumerate(docs):
        examples = rnd.sample(train_docs, shots) if shots > 0 else []
        requests.append(
            DocRequest(
                position=position,
                doc=doc,
                context=fewshot_context(task, doc, examples),
                continuations=tuple(task.continuations(doc)),
                gold=task.gold(doc),
            )
        )
    return requests
