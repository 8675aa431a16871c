"""Read evaluation results folders (as ``polyplatypus.eval.runner.evaluate(output=DIR)`` writes
them) and combine several into one list of rows for a report.

A results folder holds ``results.json`` = {"results": [records], "config": {...}, "versions":
{...}} and per-cell files ``cells/<model>/<task>_<k>shot.json`` (the record plus per-document
"golds" and "preds"). A run directory of ``polyplatypus run`` holds its results in ``eval/``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from polyplatypus.errors import DataError

REQUIRED_FIELDS = ("model", "task", "shots", "macro_f1")
# A cell file's per-document golds/preds are used for a results.json record only when the cell
# agrees with the record on these: a re-run that stopped part-way (say with another eval.limit)
# may have overwritten a cell after results.json was written, and its documents are not the
# record's.
CELL_MATCH_FIELDS = ("n", "limit", "data_source", "dtype", "scorer", "model_path", "macro_f1")
# Settings that change the numbers: rows that differ in any of them are flagged in the card.
PROVENANCE_FIELDS = ("version", "dtype", "batch_size", "data_source", "scorer", "limit")
RESULTS_FILE = "results.json"


@dataclass
class ResultsFolder:
    """One results folder: its records and, where present, each cell's per-document labels."""

    path: Path
    records: list[dict]
    config: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    cells: dict[tuple[str, str, int], dict] = field(default_factory=dict)
    # cell files that could not be used, by path relative to the folder: why
    unreadable_cells: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name or str(self.path)


def find_results_files(path: str | Path) -> list[Path]:
    """The results.json files of a results folder, a run directory, or a folder of either."""
    path = Path(path)
    if path.is_file():
        if path.name != RESULTS_FILE:
            raise DataError(f"expected a results folder or a {RESULTS_FILE} file", path=path)
        return [path]
    if not path.is_dir():
        raise DataError("results folder does not exist", path=path)
    for candidate in (path / RESULTS_FILE, path / "eval" / RESULTS_FILE):
        if candidate.is_file():
            return [candidate]
    found = sorted(
        p for p in path.glob(f"**/{RESULTS_FILE}")
        if len(p.relative_to(path).parts) <= 4 and "cells" not in p.parts and "report" not in p.relative_to(path).parts
    )
    if not found:
        raise DataError(f"no {RESULTS_FILE} found in this folder or its subfolders", path=path)
    return found


def _read_json(path: Path):
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except json.JSONDecodeError as error:
        raise DataError(f"invalid JSON: {error} (the file is damaged or incomplete)", path=path) from None
    except UnicodeDecodeError as error:
        raise DataError(f"not UTF-8 text (byte {error.start}); the file is damaged", path=path) from None
    except OSError as error:
        raise DataError(f"cannot be read ({error.strerror})", path=path) from None


def load_results_folder(results_file: str | Path) -> ResultsFolder:
    results_file = Path(results_file)
    data = _read_json(results_file)
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise DataError('expected an object with a "results" list', path=results_file)
    records = []
    for index, record in enumerate(data["results"]):
        if not isinstance(record, dict):
            raise DataError("expected an object", path=results_file, record=index)
        for name in REQUIRED_FIELDS:
            if name not in record:
                raise DataError("missing field", path=results_file, record=index, field=name)
        records.append(dict(record))
    folder = ResultsFolder(
        path=results_file.parent, records=records,
        config=data.get("config") or {}, versions=data.get("versions") or {},
    )
    cells_dir = results_file.parent / "cells"
    if cells_dir.is_dir():
        for cell_file in sorted(cells_dir.glob("**/*.json")):
            name = str(cell_file.relative_to(folder.path))
            try:
                cell = _read_cell(cell_file)
            except DataError as error:  # shown as such in the report, never stopping it
                folder.unreadable_cells[name] = str(error).removeprefix(f"{cell_file}: ")
                continue
            folder.cells[(cell["model"], cell["task"], int(cell["shots"]))] = cell
    return folder


def _read_cell(path: Path) -> dict:
    cell = _read_json(path)
    if not isinstance(cell, dict) or not {"model", "task", "shots", "golds", "preds"} <= cell.keys():
        raise DataError("not a cell file (no model, task, shots, golds and preds)", path=path)
    if not isinstance(cell["golds"], list) or not isinstance(cell["preds"], list) \
            or len(cell["golds"]) != len(cell["preds"]):
        raise DataError("golds and preds differ in length", path=path)
    try:
        int(cell["shots"])
    except (TypeError, ValueError):
        raise DataError(f"shots {cell['shots']!r} is not a number", path=path) from None
    return cell


def cell_problem(folder: ResultsFolder, record: dict) -> str | None:
    """Why a results.json record of a folder that keeps cell files has no usable one: its file
    is missing or unreadable (None: the folder keeps no cells, or the cell is there)."""
    label, task, shots = record["model"], record["task"], int(record["shots"])
    if (label, task, shots) in folder.cells or not (folder.path / "cells").is_dir():
        return None
    from polyplatypus.eval.models import ModelSpec

    names = [f"cells/{slug}/{task}_{shots}shot.json" for slug in dict.fromkeys(
        (ModelSpec(label=label, path="").slug, label.replace("/", "_")))]
    for name in names:
        if name in folder.unreadable_cells:
            return f"{name} cannot be read: {folder.unreadable_cells[name]}"
    return f"{names[0]} is missing"


@dataclass
class Row:
    """One model's result on one task at one shot count, ready for a report."""

    label: str  # model label as shown in the report (unique across folders)
    record: dict
    source: Path  # the results folder
    golds: list[int] | None = None
    preds: list[int] | None = None
    stale_cell: str | None = None  # why the cell file was not used (it disagrees with the record)
    damaged_cell: str | None = None  # the cell file is missing or unreadable

    @property
    def task(self) -> str:
        return self.record["task"]

    @property
    def shots(self) -> int:
        return int(self.record["shots"])

    @property
    def f1(self) -> float:
        return float(self.record["macro_f1"])

    def provenance(self) -> tuple:
        return tuple(self.record.get(name) for name in PROVENANCE_FIELDS)


def load_rows(paths) -> list[Row]:
    """Rows of every record in the given results folders, labels made unique across folders.

    A label that two folders share stays as it is when both name the same model path and their
    cells do not overlap (one run evaluated in parts); otherwise it gets the folder name appended.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    folders: list[ResultsFolder] = []
    seen_files: set[Path] = set()
    for path in paths:
        for results_file in find_results_files(path):
            if results_file.resolve() in seen_files:
                continue
            seen_files.add(results_file.resolve())
            folders.append(load_results_folder(results_file))

    owners: dict[str, list[ResultsFolder]] = {}
    for folder in folders:
        for label in dict.fromkeys(r["model"] for r in folder.records):
            owners.setdefault(label, []).append(folder)

    def clashes(label: str) -> bool:
        holders = owners[label]
        if len(holders) < 2:
            return False
        paths_seen = {r.get("model_path") for f in holders for r in f.records if r["model"] == label}
        cells_seen: set = set()
        for folder in holders:
            cells = {(r["task"], int(r["shots"])) for r in folder.records if r["model"] == label}
            if cells & cells_seen:
                return True
            cells_seen |= cells
        return len(paths_seen) > 1

    names = _unique_folder_names(folders)
    rows: list[Row] = []
    for folder in folders:
        for record in folder.records:
            label = record["model"]
            shown = f"{label} ({names[id(folder)]})" if clashes(label) else label
            cell = folder.cells.get((label, record["task"], int(record["shots"])))
            stale = None if cell is None else cell_mismatch(cell, record)
            use = cell is not None and stale is None
            rows.append(Row(
                label=shown, record=record, source=folder.path,
                golds=[int(g) for g in cell["golds"]] if use else None,
                preds=[int(p) for p in cell["preds"]] if use else None,
                stale_cell=stale, damaged_cell=cell_problem(folder, record),
            ))
    return rows


def cell_mismatch(cell: dict, record: dict) -> str | None:
    """How a cell file disagrees with its results.json record (None: it matches), e.g.
    ``"n 2 (results.json: 30), limit 2 (results.json: None)"``."""
    differences = []
    for name in CELL_MATCH_FIELDS:
        ours, theirs = cell.get(name), record.get(name)
        if name == "macro_f1" and isinstance(ours, (int, float)) and isinstance(theirs, (int, float)):
            same = math.isclose(float(ours), float(theirs), rel_tol=1e-9, abs_tol=1e-12)
        else:
            same = ours == theirs
        if not same:
            differences.append(f"{name} {ours} (results.json: {theirs})")
    n = record.get("n")
    if not differences and isinstance(n, int) and len(cell["golds"]) != n:
        differences.append(f"{len(cell['golds'])} documents (results.json: n {n})")
    return ", ".join(differences) or None


def _unique_folder_names(folders: list[ResultsFolder]) -> dict[int, str]:
    """Shortest trailing path of each folder that tells it apart from the others (a run
    directory's ``eval/`` folder is named by its run directory)."""

    def parts(folder: ResultsFolder) -> tuple[str, ...]:
        resolved = folder.path.resolve()
        if resolved.name == "eval" and resolved.parent != resolved:
            resolved = resolved.parent
        return resolved.parts

    names = {}
    for folder in folders:
        own = parts(folder)
        depth = 1
        while True:
            name = "/".join(own[-depth:])
            others = ["/".join(parts(f)[-depth:]) for f in folders if f is not folder]
            if name not in others or depth >= len(own):
                break
            depth += 1
        names[id(folder)] = name
    return names
