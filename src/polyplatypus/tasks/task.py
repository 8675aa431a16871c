"""A multiple-choice task as eval uses it, built from a task file (:mod:`.definition`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

from polyplatypus.tasks.schema import DataSpec


@dataclass(frozen=True)
class ChoiceTask:
    """A multiple-choice task scored by comparing the loglikelihood of each choice.

    A few-shot example is ``doc_to_text(doc) + target_prefix + choices[label]``; the scored
    continuation of choice ``c`` is ``continuation_prefix + c``.
    """

    name: str
    source: str  # the dataset's name within its data source (KoBEST's "copa"; see data.task_data)
    title: str  # heading in result tables
    doc_to_text: Callable[[dict], str]
    doc_to_choices: Callable[[dict], list[str]]
    target_prefix: str
    continuation_prefix: str
    strip_context: bool = False
    length_normalized: bool = False  # also report acc_norm (loglikelihood / choice length)
    eval_split: str = "test"
    fewshot_split: str = "train"
    label_field: str = "label"
    version: int = 0
    default: bool = False
    order: int = 0
    fewshot_draw: str = "v0.3_seed42_sample"
    data: DataSpec | None = None
    text_fields: tuple[str, ...] = ()  # content fields, for decontamination
    standalone_fields: tuple[str, ...] = ()  # of those, the ones also checked on their own
    file: Path | None = None  # the task file it was read from
    lines: Mapping[tuple, int] = field(default_factory=dict, repr=False, compare=False)  # key path -> line
    definition: Mapping = field(default_factory=dict, repr=False, compare=False)  # the file's contents

    def gold(self, doc: dict) -> int:
        return int(doc[self.label_field])

    def doc_to_target(self, doc: dict) -> str:
        return self.target_prefix + self.doc_to_choices(doc)[self.gold(doc)]

    def continuations(self, doc: dict) -> list[str]:
        return [self.continuation_prefix + choice for choice in self.doc_to_choices(doc)]

    @property
    def metrics(self) -> tuple[str, ...]:
        return ("macro_f1", "acc", "acc_norm") if self.length_normalized else ("macro_f1", "acc")

    def where(self, *key) -> str:
        """``FILE, line N`` of a key path in the task file (``where("data", "columns")``)."""
        line = next((self.lines[key[:n]] for n in range(len(key), 0, -1) if key[:n] in self.lines), None)
        return f"{self.file}, line {line}" if line else str(self.file)

    def definition_digest(self) -> str:
        """sha256 of what decides the task's requests apart from its data: the task file's
        contents (prompt, choices, prefixes, splits, columns, few-shot draw, version) and its hook."""
        from polyplatypus.tasks.hooks import HOOKS

        hook = self.definition.get("hook")
        described = {"task": dict(self.definition), "hook": None if hook is None else [hook, HOOKS[hook].version]}
        return _sha256_json(described)

    def fingerprint(self, documents: Mapping[str, Iterable[dict]]) -> str:
        """The task's fingerprint: its definition (:meth:`definition_digest`) and the documents
        it reads, ``{split: documents}`` (the evaluation split and, for few-shot, the few-shot
        split), as read from its data files. Any change to either changes it."""
        return "sha256:" + _sha256_json(
            {
                "definition": self.definition_digest(),
                "documents": {split: _sha256_json(list(docs)) for split, docs in sorted(documents.items())},
            }
        )


def _sha256_json(value) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
