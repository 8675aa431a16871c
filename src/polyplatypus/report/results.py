"""Combine evaluation results folders into one list of rows for a report.

The folders are read by :mod:`polyplatypus.eval.store`, which owns their layout (``results.json``
plus per-cell files with per-document golds and preds); a run directory of ``polyplatypus run``
holds its results in ``eval/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from polyplatypus.eval.store import ResultsFolder, ResultsStore

# Settings that change the numbers: rows that differ in any of them are flagged in the card.
PROVENANCE_FIELDS = ("version", "dtype", "batch_size", "data_source", "scorer", "limit")


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
        for results_file in ResultsStore.find(path):
            if results_file.resolve() in seen_files:
                continue
            seen_files.add(results_file.resolve())
            folders.append(ResultsStore(results_file.parent).read())

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
            cell, stale = folder.cell_for(record)
            use = cell is not None and stale is None
            rows.append(
                Row(
                    label=shown,
                    record=record,
                    source=folder.path,
                    golds=[int(g) for g in cell["golds"]] if use else None,
                    preds=[int(p) for p in cell["preds"]] if use else None,
                    stale_cell=stale,
                    damaged_cell=folder.cell_problem(record),
                )
            )
    return rows


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
