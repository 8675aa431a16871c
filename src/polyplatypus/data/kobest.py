"""KoBEST v1.0 documents, read exactly as the hub dataset `skt/kobest_v1` builds them.

The hub's loading script reads each TSV with pandas' defaults, so standard CSV quoting applies
(a field starting with a double quote is unquoted) and booleans come in mixed case
(True/TRUE/False/FALSE). Every document gets the hub's field names plus ``doc_index``, its
0-based row in the split file.
"""

from __future__ import annotations

import csv
import functools
import os
from dataclasses import dataclass
from pathlib import Path

from polyplatypus.errors import DataError

KOBEST_DIR_ENV = "POLYPLATYPUS_KOBEST_DIR"
HUB_DATASET = "skt/kobest_v1"
SPLIT_FILES = {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}


@dataclass(frozen=True)
class KobestSource:
    """Where a task's files live and how their columns map onto the hub's field names."""

    directory: str  # folder name in the authors' release
    hub_name: str  # configuration name of skt/kobest_v1
    fields: tuple[tuple[str, str, str], ...]  # (hub field, TSV column, kind: text|int|bool|choice)


SOURCES: dict[str, KobestSource] = {
    "boolq": KobestSource(
        "BoolQ", "boolq",
        (("paragraph", "Text", "text"), ("question", "Question", "text"), ("label", "Answer", "bool")),
    ),
    "copa": KobestSource(
        "COPA", "copa",
        (
            ("premise", "sentence", "text"), ("question", "question", "text"),
            ("alternative_1", "1", "text"), ("alternative_2", "2", "text"), ("label", "Answer", "choice"),
        ),
    ),
    "hellaswag": KobestSource(
        "HellaSwag", "hellaswag",
        (
            ("context", "context", "text"), ("ending_1", "choice1", "text"), ("ending_2", "choice2", "text"),
            ("ending_3", "choice3", "text"), ("ending_4", "choice4", "text"), ("label", "label", "int"),
        ),
    ),
    "sentineg": KobestSource(
        "SentiNeg", "sentineg", (("sentence", "Text", "text"), ("label", "Label", "int")),
    ),
    "wic": KobestSource(
        "WiC", "wic",
        (
            ("word", "Target", "text"), ("context_1", "SENTENCE1", "text"),
            ("context_2", "SENTENCE2", "text"), ("label", "ANSWER", "bool"),
        ),
    ),
}


def resolve_kobest_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """The explicit directory, else $POLYPLATYPUS_KOBEST_DIR, else None (the hub)."""
    if data_dir is None:
        data_dir = os.environ.get(KOBEST_DIR_ENV) or None
    if data_dir is None:
        return None
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise DataError("KoBEST data directory does not exist", path=path)
    return path.resolve()


def _convert(value: str, kind: str, path: Path, row: int, column: str):
    text = value.strip()
    if kind == "text":
        if value == "":
            raise DataError("empty value", path=path, record=row, field=column)
        return value
    if kind == "bool":
        # The hub sets label 0 only when pandas reads False; values come as True/TRUE/False/FALSE.
        lowered = text.lower()
        if lowered not in ("true", "false"):
            raise DataError(f"expected True/False, got {value!r}", path=path, record=row, field=column)
        return int(lowered == "true")
    try:
        number = int(float(text))
    except ValueError:
        raise DataError(f"expected an integer, got {value!r}", path=path, record=row, field=column) from None
    if kind == "choice":  # COPA's Answer is 1/2, the hub's label 0/1
        if number not in (1, 2):
            raise DataError(f"expected 1 or 2, got {value!r}", path=path, record=row, field=column)
        return number - 1
    return number


def read_kobest_tsv(path: Path, source: KobestSource) -> list[dict]:
    """Read one split file. Errors name the file, the data row (1-based) and the column."""
    if not path.is_file():
        raise DataError(f"missing KoBEST file (expected {source.directory}/{path.name})", path=path)
    with open(path, encoding="utf-8", newline="") as handle:
        # csv's default dialect with a tab delimiter quotes like pandas.read_csv(sep="\t").
        reader = csv.reader(handle, delimiter="\t")
        try:
            header = next(reader)
        except StopIteration:
            raise DataError("empty file (no header row)", path=path) from None
        missing = [column for _, column, _ in source.fields if column not in header]
        if missing:
            raise DataError(f"header lacks column(s) {missing}; found {header}", path=path, record="header")
        positions = {column: header.index(column) for _, column, _ in source.fields}
        docs = []
        for row_number, row in enumerate(reader, start=1):
            if not row or all(not cell.strip() for cell in row):
                continue  # pandas skips blank lines
            if len(row) != len(header):
                raise DataError(
                    f"expected {len(header)} tab-separated fields, found {len(row)} (line {reader.line_num})",
                    path=path, record=row_number,
                )
            doc = {"doc_index": len(docs)}
            for field, column, kind in source.fields:
                doc[field] = _convert(row[positions[column]], kind, path, row_number, column)
            docs.append(doc)
    if not docs:
        raise DataError("no data rows", path=path)
    return docs


def _load_from_hub(name: str, split: str):
    """One split of skt/kobest_v1 from the hub, with an error that says what to do offline."""
    import datasets  # imported lazily: slow, and only the hub path needs it

    try:
        try:
            return datasets.load_dataset(HUB_DATASET, name, split=split)
        except RuntimeError as error:
            # Recent `datasets` no longer run loading scripts; the hub keeps a parquet conversion.
            if "script" not in str(error).lower():
                raise
            return datasets.load_dataset(HUB_DATASET, name, split=split, revision="refs/convert/parquet")
    except Exception as error:  # network, offline mode, missing dataset: all need the same advice
        raise DataError(
            f"could not load KoBEST ({HUB_DATASET}, {name}/{split}) from the hub: {error}. "
            f"Offline, point --kobest-dir or ${KOBEST_DIR_ENV} at the KoBEST v1.0 TSVs "
            "(BoolQ/ COPA/ HellaSwag/ SentiNeg/ WiC/)"
        ) from error


@functools.lru_cache(maxsize=64)
def _load_cached(task: str, split: str, data_dir: str | None, stamp: tuple = ()) -> tuple[dict, ...]:
    """``stamp`` (the file's size, mtime and ctime) makes an edited file a new cache entry."""
    source = SOURCES[task]
    if data_dir is not None:
        docs = read_kobest_tsv(Path(data_dir) / source.directory / SPLIT_FILES[split], source)
    else:
        dataset = _load_from_hub(source.hub_name, split)
        docs = [{"doc_index": i, **{f: row[f] for f, _, _ in source.fields}} for i, row in enumerate(dataset)]
    return tuple(docs)


def load_kobest(task: str, split: str, data_dir: str | os.PathLike | None = None) -> list[dict]:
    """Documents of one KoBEST task split ("train", "validation" or "test").

    ``task`` is the short name (boolq, copa, hellaswag, sentineg, wic). ``data_dir`` holds the
    authors' TSVs; None means $POLYPLATYPUS_KOBEST_DIR, else the hub.
    """
    if task not in SOURCES:
        raise DataError(f"unknown KoBEST task {task!r}; known: {', '.join(SOURCES)}")
    if split not in SPLIT_FILES:
        raise DataError(f"unknown split {split!r}; known: {', '.join(SPLIT_FILES)}")
    resolved = resolve_kobest_dir(data_dir)
    stamp = ()
    if resolved is not None:
        path = resolved / SOURCES[task].directory / SPLIT_FILES[split]
        if path.is_file():
            info = path.stat()
            stamp = (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)
    docs = _load_cached(task, split, None if resolved is None else str(resolved), stamp)
    return [dict(doc) for doc in docs]


def describe_source(data_dir: str | os.PathLike | None) -> str:
    resolved = resolve_kobest_dir(data_dir)
    return f"hub:{HUB_DATASET}" if resolved is None else str(resolved)


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
