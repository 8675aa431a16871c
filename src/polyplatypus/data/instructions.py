"""Instruction records in the KOpen-Platypus format: ``instruction``, ``input``, ``output``.

A source is a hub dataset id (its ``train`` split) or a local ``.json`` (a list of objects, or
JSON lines), ``.jsonl`` or ``.parquet`` file. Every record comes back with ``instruction``,
``input`` ("" when missing or null) and ``output`` as strings and every other field exactly as it
came (``data_source``, ``id``, ...), in the order the record has them (a missing ``input`` is
placed right after ``instruction``).

Errors name the file, the 1-based record number and the field. With ``skip_invalid=True`` an
invalid record is dropped instead and counted by reason (see :data:`SKIP_REASONS`).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from polyplatypus.data.conversations import INVALID_MESSAGES, MESSAGES, is_conversation, validate_messages
from polyplatypus.errors import DataError
from polyplatypus.utils.builtin import resolve_builtin

REQUIRED_FIELDS = ("instruction", "output")
TEXT_FIELDS = ("instruction", "input", "output")
LOCAL_SUFFIXES = (".json", ".jsonl", ".parquet")
# Suffixes that mark a source as a file path (so a missing one is "file not found", never a
# hub lookup); only LOCAL_SUFFIXES can be read.
_FILE_LIKE_SUFFIXES = LOCAL_SUFFIXES + (
    ".csv",
    ".tsv",
    ".txt",
    ".gz",
    ".bz2",
    ".xz",
    ".zst",
    ".zip",
    ".arrow",
    ".ndjson",
    ".yaml",
    ".yml",
)
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
HUB_PREFIX = "hub:"

#: Reasons under which ``skipped`` counts dropped records.
SKIP_REASONS = (
    "invalid JSON line",
    "not an object",
    "missing instruction",
    "missing output",
    "empty instruction",
    "empty output",
    "non-string instruction",
    "non-string input",
    "non-string output",
    "lone surrogate",
    INVALID_MESSAGES,
)
# A UTF-16 surrogate alone (JSON "\ud800" without its pair) is no character: it cannot be
# encoded as UTF-8, so a tokenizer or a writer would fail on it deep inside the work.
_SURROGATE = re.compile("[\ud800-\udfff]")


def describe_source(source: str | os.PathLike) -> str:
    """The source as it appears in reports: the hub id, or the path as given."""
    return os.fspath(source)


def source_kind(source: str | os.PathLike) -> str:
    """``"file"`` or ``"hub"``: how :func:`load_instructions` reads this source.

    An existing path is a file. A missing path is still a file (and an error) when it names a
    file suffix, starts with ``/``, ``.`` or ``~``, or has more than one ``/``; anything else
    shaped like ``owner/name`` (or ``hub:owner/name``) is a hub dataset id.
    """
    text = os.fspath(source)
    if text.startswith(HUB_PREFIX):
        return "hub"
    path = Path(text).expanduser()
    if path.exists():
        return "file"
    looks_like_path = (
        text.startswith(("/", ".", "~"))
        or text.count("/") > 1
        or "\\" in text
        or path.suffix.lower() in _FILE_LIKE_SUFFIXES
    )
    if looks_like_path or not _HUB_ID.match(text):
        return "file"
    return "hub"


def instruction_needs(
    sources,
    instead: str = "a local .jsonl/.json/.parquet file (or the bundled sample, "
    "builtin:instructions/ko_platypus_sample.jsonl)",
) -> list:
    """A :class:`~polyplatypus.utils.hub.HubNeed` for each source that is a hub dataset id."""
    from polyplatypus.utils.hub import HubNeed

    return [
        HubNeed(text.removeprefix(HUB_PREFIX), "dataset", "instruction data", instead)
        for text in map(os.fspath, sources)
        if source_kind(text) == "hub"
    ]


def validate_record(
    record,
    *,
    path=None,
    number: int | None = None,
    line: int | None = None,
    conversations: bool = False,
    messages_as_given: bool = False,
) -> dict:
    """The record with ``input`` filled in; raises :class:`DataError` naming what is wrong.
    With ``conversations``, a record with ``messages`` is a conversation instead
    (:mod:`polyplatypus.data.conversations`), its messages checked and cleaned to ``role`` and
    ``content`` (kept as they came, other keys of each message too, with ``messages_as_given``).

    The error's ``reason`` attribute is one of :data:`SKIP_REASONS`.
    """

    def fail(reason: str, message: str, field: str | None = None):
        error = DataError(message, path=path, record=number, field=field, line=line)
        error.reason = reason
        raise error

    if not isinstance(record, dict):
        fail("not an object", f"expected an object, got {type(record).__name__}")
    if is_conversation(record):
        if not conversations:
            fail(
                "missing instruction",
                "a conversation (messages) record; train on conversations with --prompt-template chat",
                MESSAGES,
            )
        messages = validate_messages(record[MESSAGES], path=path, number=number, line=line)
        _refuse_lone_surrogates(record, fail)
        return {**record, MESSAGES: record[MESSAGES] if messages_as_given else messages}
    for field in TEXT_FIELDS:
        value = record.get(field)
        if value is None:
            if field in REQUIRED_FIELDS:
                fail(f"missing {field}", "missing required field", field)
            continue
        if not isinstance(value, str):
            fail(f"non-string {field}", f"expected a string, got {type(value).__name__} {value!r:.60}", field)
        if field in REQUIRED_FIELDS and not value.strip():
            fail(f"empty {field}", "empty (blank) value", field)
    _refuse_lone_surrogates(record, fail)
    clean = {}
    for key, value in record.items():  # the fields in the order they came
        clean[key] = (value or "") if key == "input" else value
        if key == "instruction" and "input" not in record:
            clean["input"] = ""  # a missing input goes right after the instruction
    return clean


def _refuse_lone_surrogates(record: dict, fail) -> None:
    """``fail`` on the first field (of a conversation: the message, ``messages[2]``) holding one."""
    for field, value in record.items():
        if field == MESSAGES and isinstance(value, list):
            parts = [(f"{MESSAGES}[{index}]", message) for index, message in enumerate(value)]
        else:
            parts = [(field, value)]
        for where, part in parts:
            if (found := _lone_surrogate(part)) is not None:
                fail(
                    "lone surrogate",
                    f'holds a lone UTF-16 surrogate, U+{ord(found):04X} (JSON "\\u{ord(found):04x}" '
                    "without its pair): not text, it cannot be encoded or tokenized",
                    where,
                )


def _lone_surrogate(value) -> str | None:
    """The first lone surrogate in a string, or in the strings of a list/object value."""
    if isinstance(value, str):
        match = _SURROGATE.search(value)
        return match.group() if match else None
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list):
        return next((found for item in value if (found := _lone_surrogate(item)) is not None), None)
    return None


# Readers yield (record number, line number or None, raw record, parse error or None).
Raw = Iterator[tuple[int, "int | None", object, "DataError | None"]]


def _iter_jsonl(path: Path, text: str) -> Raw:
    number = 0
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        number += 1
        try:
            yield number, line_number, json.loads(line), None
        except json.JSONDecodeError as error:
            problem = DataError(
                f"invalid JSON on line {line_number}: {error.msg} (column {error.colno})", path=path, record=number
            )
            problem.reason = "invalid JSON line"
            problem.line = line_number
            yield number, line_number, None, problem


def _read_file(path: Path) -> Raw:
    """(record number, line or None, raw record, parse error or None) for each record of a local file."""
    if not path.exists():
        raise DataError("file does not exist", path=path)
    if path.is_dir():
        raise DataError("is a directory; expected a .json, .jsonl or .parquet file", path=path)
    suffix = path.suffix.lower()
    if suffix not in LOCAL_SUFFIXES:
        raise DataError(f"unknown file type {suffix or '(no suffix)'!r}; expected .json, .jsonl or .parquet", path=path)
    if suffix == ".parquet":
        if path.stat().st_size == 0:
            raise DataError("empty file", path=path)
        import pyarrow.parquet as pq  # imported lazily: only parquet sources need it

        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as error:  # pyarrow raises several types for a corrupt file
            raise DataError(f"cannot read parquet: {error}", path=path) from None
        if not rows:
            raise DataError("empty file (no rows)", path=path)
        yield from ((number, None, row, None) for number, row in enumerate(rows, start=1))
        return
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataError(f"not UTF-8 text on line {line} ({error.reason} at byte {error.start})", path=path) from None
    if not text.strip():
        raise DataError("empty file", path=path)
    if suffix == ".jsonl":
        yield from _iter_jsonl(path, text)
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        if error.msg == "Extra data" and text.lstrip().startswith("{"):
            yield from _iter_jsonl(path, text)  # a .json file holding JSON lines
            return
        raise DataError(f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}", path=path) from None
    if isinstance(data, dict):
        raise DataError("expected a list of objects at the top level, got an object", path=path)
    if not isinstance(data, list):
        raise DataError(f"expected a list of objects at the top level, got {type(data).__name__}", path=path)
    if not data:
        raise DataError("empty file (an empty list)", path=path)
    yield from ((number, None, row, None) for number, row in enumerate(data, start=1))


def _read_hub(dataset_id: str) -> Raw:
    import datasets  # imported lazily: slow, and only hub sources need it

    try:
        dataset = datasets.load_dataset(dataset_id, split="train")
    except Exception as error:  # not found, offline, no train split, ...
        raise DataError(
            f"cannot load hub dataset ({type(error).__name__}: {error}); a local file must end in "
            ".json, .jsonl or .parquet",
            path=dataset_id,
        ) from None
    if len(dataset) == 0:
        raise DataError("hub dataset has an empty train split", path=dataset_id)
    for number, row in enumerate(dataset, start=1):
        yield number, None, row, None


def iter_raw(source: str | os.PathLike) -> Raw:
    """Raw records of a source: (1-based record number, line number in a JSON-lines file or None,
    record, parse error or None)."""
    text = os.fspath(source)
    if source_kind(text) == "hub":
        return _read_hub(text[len(HUB_PREFIX) :] if text.startswith(HUB_PREFIX) else text)
    return _read_file(Path(resolve_builtin(text)).expanduser())  # builtin:NAME, data shipped in the package


def iter_instructions(
    source: str | os.PathLike,
    *,
    skip_invalid: bool = False,
    skipped: Counter | None = None,
    with_numbers: bool = False,
    conversations: bool = False,
    messages_as_given: bool = False,
) -> Iterator:
    """Validated records of one source, lazily; ``(number, record)`` with ``with_numbers``.
    ``conversations``: ``messages`` records are accepted too, their messages cleaned unless
    ``messages_as_given`` (see :func:`validate_record`).

    ``number`` is the 1-based record number in the source (for JSON lines, blank lines do not
    count; the line number appears in the error message).
    """
    name = describe_source(source)
    for number, line, raw, problem in iter_raw(source):
        try:
            if problem is not None:
                raise problem
            record = validate_record(
                raw,
                path=name,
                number=number,
                line=line,
                conversations=conversations,
                messages_as_given=messages_as_given,
            )
        except DataError as error:
            if not skip_invalid:
                raise
            if skipped is not None:
                skipped[getattr(error, "reason", "invalid")] += 1
            continue
        yield (number, record) if with_numbers else record


def load_instructions(
    source: str | os.PathLike,
    *,
    skip_invalid: bool = False,
    skipped: Counter | None = None,
    conversations: bool = False,
) -> list[dict]:
    """All valid records of a hub dataset id or a local .json/.jsonl/.parquet file.

    Raises :class:`~polyplatypus.errors.DataError` (with ``path``, ``record`` and ``field``)
    for a missing or empty ``instruction``/``output``, a non-string text field, an invalid JSON
    line, an empty or missing file, or an unknown suffix. With ``skip_invalid=True`` invalid
    records are dropped and counted by reason in ``skipped`` (file-level errors still raise).
    """
    return list(iter_instructions(source, skip_invalid=skip_invalid, skipped=skipped, conversations=conversations))
