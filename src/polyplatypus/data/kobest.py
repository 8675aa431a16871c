"""KoBEST v1.0 documents, read exactly as the hub dataset `skt/kobest_v1` builds them.

The five KoBEST task files (``tasks/definitions/kobest_*.yaml``) hold the folders, split files
and column mappings; :mod:`polyplatypus.data.task_data` reads them (reader ``tsv_by_header``: the
hub's loading script reads each TSV with pandas' defaults, so standard CSV quoting applies and
booleans come in mixed case). This module is the KoBEST view of that: tasks by their short name
(``copa``), one folder for all five.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from polyplatypus.data.task_data import (  # noqa: F401  (_load_cached: tests clear it)
    _load_cached,
    load_documents,
    resolve_source_dir,
)
from polyplatypus.data.task_data import (
    describe_source as _describe,
)
from polyplatypus.errors import DataError
from polyplatypus.tasks.registry import reference_tasks

KOBEST_DIR_ENV = "POLYPLATYPUS_KOBEST_DIR"
HUB_DATASET = "skt/kobest_v1"
SPLIT_FILES = {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}


@dataclass(frozen=True)
class KobestSource:
    """Where a task's files live and how their columns map onto the hub's field names."""

    directory: str  # folder name in the authors' release
    hub_name: str  # configuration name of skt/kobest_v1
    fields: tuple[tuple[str, str, str], ...]  # (hub field, TSV column, kind: text|int|bool|choice)


def _kobest_tasks() -> dict:
    return {task.source: task for task in reference_tasks().values() if task.data.source == "kobest"}


#: The five tasks by short name (boolq, copa, hellaswag, sentineg, wic), from their task files.
SOURCES: dict[str, KobestSource] = {
    short: KobestSource(
        task.data.folder,
        task.data.hub.name,
        tuple((field, str(spec.column), spec.type) for field, spec in task.data.columns.items()),
    )
    for short, task in sorted(_kobest_tasks().items())
}


def resolve_kobest_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """The explicit directory, else $POLYPLATYPUS_KOBEST_DIR, else None (the hub)."""
    return resolve_source_dir("kobest", data_dir)


def load_kobest(task: str, split: str, data_dir: str | os.PathLike | None = None) -> list[dict]:
    """Documents of one KoBEST task split ("train", "validation" or "test").

    ``task`` is the short name (boolq, copa, hellaswag, sentineg, wic). ``data_dir`` holds the
    authors' TSVs; None means $POLYPLATYPUS_KOBEST_DIR, else the hub.
    """
    tasks = _kobest_tasks()
    if task not in tasks:
        raise DataError(f"unknown KoBEST task {task!r}; known: {', '.join(SOURCES)}")
    if split not in SPLIT_FILES:
        raise DataError(f"unknown split {split!r}; known: {', '.join(SPLIT_FILES)}")
    return load_documents(tasks[task], split, {"kobest": data_dir})


def describe_source(data_dir: str | os.PathLike | None) -> str:
    return _describe("kobest", data_dir, HUB_DATASET)


def documents_sha256(task: str, splits, data_dir: str | os.PathLike | None = None) -> str:
    """What a cell was scored on, as one SHA-256: per split, the TSV file's bytes (a local
    folder), or the documents as loaded (the hub), so an edited file at the same path is seen."""
    import hashlib
    import json

    from polyplatypus.utils.io import sha256_file

    resolved = resolve_kobest_dir(data_dir)
    digest = hashlib.sha256()
    for split in splits:
        if resolved is not None:
            part = sha256_file(resolved / SOURCES[task].directory / SPLIT_FILES[split])
        else:
            docs = hashlib.sha256()
            for doc in load_kobest(task, split, None):
                docs.update((json.dumps(doc, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8"))
            part = docs.hexdigest()
        digest.update(f"{task}/{split}\0{part}\n".encode("utf-8"))
    return digest.hexdigest()
