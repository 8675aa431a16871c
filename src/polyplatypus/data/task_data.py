"""A reference task's documents, read from the data files its task file names.

A task file's ``data`` section names a *data source* (where the folder comes from), a *reader*
(how a split file is parsed) and the column mapping. Sources:

* ``kobest``: the KoBEST v1.0 TSVs; the folder is ``--kobest-dir``, else ``$POLYPLATYPUS_KOBEST_DIR``,
  else the hub (``skt/kobest_v1``).
* ``korean_hate_speech``: the authors' ``labeled/`` TSVs of the Korean HateSpeech dataset; the
  folder is ``--hatespeech-dir``, else ``$POLYPLATYPUS_HATESPEECH_DIR``; there is no hub copy the
  reference reads the same way, so one of them is needed.

Readers:

* ``tsv_by_header``: what the hub's KoBEST loading script does with pandas' defaults: a header
  row, columns found by name, standard CSV quoting (a field starting with a double quote is
  unquoted), blank lines skipped, booleans in mixed case.
* ``tsv_by_position``: what the reference's hate-speech dataset script does: the first line
  skipped, the rest read by Python's csv module (tab delimiter, default quoting), columns by
  position.

Every document gets the task file's field names plus ``doc_index``, its 0-based row in the split
file. Errors name the data file, the record and the column, and the task file's line.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

from polyplatypus.errors import DataError
from polyplatypus.tasks.schema import DATA_SOURCES, READERS, ColumnSpec, DataSpec
from polyplatypus.tasks.task import ChoiceTask
from polyplatypus.tasks.texts import TaskDocument, document_from_fields
from polyplatypus.utils.builtin import resolve_builtin


@dataclass(frozen=True)
class SourceFolder:
    """How a data source's folder is found."""

    setting: str  # the eval / curate setting holding the folder (its flag: --kobest-dir)
    env: str  # the environment variable used when the setting is not given
    title: str  # in messages

    @property
    def option(self) -> str:
        return "--" + self.setting.replace("_", "-")


SOURCE_FOLDERS: dict[str, SourceFolder] = {
    "kobest": SourceFolder("kobest_dir", "POLYPLATYPUS_KOBEST_DIR", "KoBEST"),
    "korean_hate_speech": SourceFolder("hatespeech_dir", "POLYPLATYPUS_HATESPEECH_DIR", "Korean HateSpeech"),
}
assert set(SOURCE_FOLDERS) == set(DATA_SOURCES), "every data source a task file may name has a folder rule"

DataDirs = Mapping[str, "str | os.PathLike | None"]


def source_dirs(settings) -> dict[str, str | None]:
    """The folder a stage's settings give for each data source (None: the source's default)."""
    return {source: getattr(settings, folder.setting) for source, folder in SOURCE_FOLDERS.items()}


def resolve_source_dir(source: str, data_dir: str | os.PathLike | None) -> Path | None:
    """The explicit directory, else the source's environment variable, else None (the hub)."""
    folder = SOURCE_FOLDERS[source]
    if data_dir is None:
        data_dir = os.environ.get(folder.env) or None
    if data_dir is None:
        return None
    path = Path(resolve_builtin(str(data_dir))).expanduser()  # builtin:kobest_sample, shipped in the package
    if not path.is_dir():
        raise DataError(f"{folder.title} data directory does not exist", path=path)
    return path.resolve()


def describe_source(source: str, data_dir: str | os.PathLike | None, hub: str | None = None) -> str:
    resolved = resolve_source_dir(source, data_dir)
    if resolved is not None:
        return str(resolved)
    return f"hub:{hub}" if hub else f"none (give {SOURCE_FOLDERS[source].option})"


def _convert(value: str, spec: ColumnSpec, path: Path, row: int, column: str):
    text = value.strip()
    kind = spec.type
    if kind == "text":
        if value == "":
            raise DataError("empty value", path=path, record=row, field=column)
        return value
    if kind == "class":
        if value not in spec.names:
            raise DataError(f"expected one of {spec.names}, got {value!r}", path=path, record=row, field=column)
        return spec.names.index(value)
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


def _rows_by_header(path: Path, columns: Mapping[str, ColumnSpec]) -> Iterator[tuple[int, dict[str, str]]]:
    with open(path, encoding="utf-8", newline="") as handle:
        # csv's default dialect with a tab delimiter quotes like pandas.read_csv(sep="\t").
        reader = csv.reader(handle, delimiter="\t")
        try:
            header = next(reader)
        except StopIteration:
            raise DataError("empty file (no header row)", path=path) from None
        missing = [spec.column for spec in columns.values() if spec.column not in header]
        if missing:
            raise DataError(f"header lacks column(s) {missing}; found {header}", path=path, record="header")
        positions = {str(spec.column): header.index(spec.column) for spec in columns.values()}
        for row_number, row in enumerate(reader, start=1):
            if not row or all(not cell.strip() for cell in row):
                continue  # pandas skips blank lines
            if len(row) != len(header):
                raise DataError(
                    f"expected {len(header)} tab-separated fields, found {len(row)} (line {reader.line_num})",
                    path=path,
                    record=row_number,
                )
            yield row_number, {column: row[position] for column, position in positions.items()}


def _rows_by_position(path: Path, columns: Mapping[str, ColumnSpec]) -> Iterator[tuple[int, dict[str, str]]]:
    width = 1 + max(int(spec.column) for spec in columns.values())
    # As the reference's dataset script: open in text mode, skip the first line, csv.reader.
    with open(path, encoding="utf-8") as handle:
        if next(handle, None) is None:
            raise DataError("empty file (no header line)", path=path)
        reader = csv.reader(handle, delimiter="\t")
        for row_number, row in enumerate(reader, start=1):
            if len(row) < width:
                raise DataError(
                    f"expected at least {width} tab-separated fields, found {len(row)} (line {reader.line_num + 1})",
                    path=path,
                    record=row_number,
                )
            yield row_number, {str(spec.column): row[int(spec.column)] for spec in columns.values()}


_READERS = {"tsv_by_header": _rows_by_header, "tsv_by_position": _rows_by_position}
assert set(_READERS) == set(READERS), "every reader a task file may name is implemented"


def read_split_file(path: Path, data: DataSpec, *, task_file: str = "") -> list[dict]:
    """Documents of one split file read as ``data`` says. Errors name the file, the data row
    (1-based) and the column."""
    if not path.is_file():
        raise DataError(
            f"missing {SOURCE_FOLDERS[data.source].title} file (expected {Path(data.folder) / path.name}){task_file}",
            path=path,
        )
    docs = []
    for row_number, raw in _READERS[data.reader](path, data.columns):
        doc = {"doc_index": len(docs)}
        for name, spec in data.columns.items():
            doc[name] = _convert(raw[str(spec.column)], spec, path, row_number, str(spec.column))
        docs.append(doc)
    if not docs:
        raise DataError("no data rows", path=path)
    return docs


def _load_from_hub(task: ChoiceTask, split: str, option: str, env: str):
    """One split from the hub, with an error that says what to do offline."""
    import datasets  # imported lazily: slow, and only the hub path needs it

    hub = task.data.hub
    try:
        try:
            return datasets.load_dataset(hub.dataset, hub.name, split=split)
        except RuntimeError as error:
            # Recent `datasets` no longer run loading scripts; the hub keeps a parquet conversion.
            if "script" not in str(error).lower():
                raise
            return datasets.load_dataset(hub.dataset, hub.name, split=split, revision="refs/convert/parquet")
    except Exception as error:  # network, offline mode, missing dataset: all need the same advice
        raise DataError(
            f"could not load {SOURCE_FOLDERS[task.data.source].title} ({hub.dataset}, {hub.name}/{split}) from the "
            f"hub: {error}. Offline, point {option} or ${env} at the files "
            f"({task.data.folder}/{', '.join(task.data.splits.values())})"
        ) from error


class _DocumentCache:
    """Documents read once per (task definition, split, folder); ``cache_clear()`` forgets them."""

    def __init__(self):
        self._docs: dict[tuple, tuple[dict, ...]] = {}

    def cache_clear(self) -> None:
        self._docs.clear()

    def __call__(self, task: ChoiceTask, split: str, data_dir: str | None) -> tuple[dict, ...]:
        key = (str(task.file), task.definition_digest(), split, data_dir, _file_state(task, split, data_dir))
        if key not in self._docs:
            self._docs[key] = tuple(_read(task, split, data_dir))
        return self._docs[key]


def _file_state(task: ChoiceTask, split: str, data_dir: str | None) -> tuple | None:
    """A split file's size, modification and change times and inode: an edited file is read again."""
    if data_dir is None:
        return None
    try:
        stat = (Path(data_dir) / task.data.folder / task.data.splits[split]).stat()
    except OSError:
        return None
    return (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)  # ctime: an edit that kept size and mtime


def _read(task: ChoiceTask, split: str, data_dir: str | None) -> list[dict]:
    if data_dir is not None:
        path = Path(data_dir) / task.data.folder / task.data.splits[split]
        docs = read_split_file(
            path, task.data, task_file=f"; {task.name}: data.splits at {task.where('data', 'splits')}"
        )
    else:
        folder = SOURCE_FOLDERS[task.data.source]
        if task.data.hub is None:
            raise DataError(
                f"{task.name}: no {folder.title} folder given; pass {folder.option} or set ${folder.env} "
                f"to the folder with {', '.join(task.data.splits.values())} ({task.where('data', 'source')})"
            )
        dataset = _load_from_hub(task, split, folder.option, folder.env)
        docs = [{"doc_index": i, **{f: row[f] for f in task.data.columns}} for i, row in enumerate(dataset)]
    _check_gold(task, docs, split, data_dir)
    return docs


_load_cached = _DocumentCache()


def _check_gold(task: ChoiceTask, docs: list[dict], split: str, data_dir: str | None) -> None:
    for doc in docs:
        choices = len(task.doc_to_choices(doc))
        if not 0 <= task.gold(doc) < choices:
            path = Path(data_dir) / task.data.folder / task.data.splits[split] if data_dir else split
            raise DataError(
                f"gold label {task.gold(doc)} is out of range for {choices} choices "
                f"({task.name}: label {task.label_field!r}, {task.where('label')})",
                path=path,
                record=doc["doc_index"] + 1,
                field=task.label_field,
            )


def load_documents(task: ChoiceTask, split: str, data_dirs: DataDirs | None = None) -> list[dict]:
    """Documents of one split of a reference task; ``data_dirs`` maps a data source to its folder
    (None or absent: the source's environment variable, else the hub)."""
    if split not in task.data.splits:
        raise DataError(f"{task.name} has no split {split!r}; known: {', '.join(task.data.splits)}")
    resolved = resolve_source_dir(task.data.source, (data_dirs or {}).get(task.data.source))
    docs = _load_cached(task, split, None if resolved is None else str(resolved))
    return [dict(doc) for doc in docs]


def task_fingerprint(task: ChoiceTask, data_dirs: DataDirs | None = None) -> str:
    """The task's fingerprint (:meth:`ChoiceTask.fingerprint`) over its evaluation and few-shot
    documents as read now."""
    splits = dict.fromkeys((task.eval_split, task.fewshot_split))
    return task.fingerprint({split: load_documents(task, split, data_dirs) for split in splits})


def reference_task_needs(tasks, data_dirs: DataDirs | None = None) -> list:
    """A :class:`~polyplatypus.utils.hub.HubNeed` for each reference task read from the hub (no
    folder given), naming the flag and variable that give a local folder instead."""
    from polyplatypus.utils.hub import HubNeed

    needs = []
    for task in tasks:
        folder = SOURCE_FOLDERS[task.data.source]
        if (
            task.data.hub is not None
            and resolve_source_dir(task.data.source, (data_dirs or {}).get(task.data.source)) is None
        ):
            needs.append(
                HubNeed(
                    task.data.hub.dataset,
                    "dataset",
                    f"{folder.title} data",
                    f"{folder.option} DIR or ${folder.env} (the folder with the TSV files)",
                )
            )
    return needs


def describe_task_source(task: ChoiceTask, data_dirs: DataDirs | None = None) -> str:
    hub = task.data.hub.dataset if task.data.hub is not None else None
    return describe_source(task.data.source, (data_dirs or {}).get(task.data.source), hub)


class ReferenceTaskDocuments:
    """A reference task as a :class:`~polyplatypus.tasks.texts.DocumentSource`: the content
    fields its task file lists under ``decontamination`` of its evaluation and few-shot
    documents."""

    def __init__(self, task: ChoiceTask, data_dirs: DataDirs | None = None):
        self.task, self.data_dirs = task, data_dirs
        self.name, self.benchmark = task.name, task.data.source

    def splits(self) -> list[str]:
        return list(dict.fromkeys((self.task.eval_split, self.task.fewshot_split)))

    def documents(self) -> Iterator[TaskDocument]:
        for split in self.splits():
            for doc in load_documents(self.task, split, self.data_dirs):
                yield document_from_fields(
                    self.name, split, doc["doc_index"], doc, self.task.text_fields, self.task.standalone_fields
                )

    def describe(self) -> str:
        return describe_task_source(self.task, self.data_dirs)
