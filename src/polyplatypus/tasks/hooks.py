"""Named hooks: what a task file's ``prompt`` template cannot say on its own.

A hook adds template fields computed from a document. A task file names it (``hook: NAME``); its
prompt may then use the fields the hook provides. A hook is part of the task's definition: its
name and version enter the task's fingerprint, so changing what a hook computes means changing
its version here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Hook:
    name: str
    version: int
    needs: tuple[str, ...]  # document fields it reads
    provides: tuple[str, ...]  # template fields it adds
    compute: Callable[[dict], dict]


# The reference harness's COPA prompt joins premise and question word with a connector:
# "원인" (cause) reads "… 왜냐하면", "결과" (effect) "… 그래서" (question stripped of spaces).
_COPA_CONNECTORS = {"원인": "왜냐하면", "결과": "그래서"}


def _copa_connector(doc: dict) -> dict:
    question = doc["question"].strip()
    if question not in _COPA_CONNECTORS:
        raise ValueError(f"COPA question must be 원인 or 결과, got {doc['question']!r}")
    return {"connector": _COPA_CONNECTORS[question]}


HOOKS: dict[str, Hook] = {
    hook.name: hook for hook in (Hook("copa_connector", 1, ("question",), ("connector",), _copa_connector),)
}
