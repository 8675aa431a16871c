"""The one owner of evaluation results on disk: what ``eval``, the recipe's eval stage and the
report read and write.

A results folder holds::

    results.json                          {"results": [records], "config": {...}, "versions": {...}}
    results.md                            the model-card tables of results.json
    cells/<model>/<task>_<k>shot.json     one finished cell: its record + per-document golds/preds
    cells/<model>/<task>_<k>shot.partial.jsonl   a generative cell's finished generations while it
                                          runs (its key, then one line each): a killed run resumes;
                                          under several processes, process r > 0 keeps its own
                                          in ``<task>_<k>shot.rank<r>.partial.jsonl``
    samples/<model>/<task>_<k>shot.jsonl  per-document details (``--log-samples``)
    lm_eval/<k>-shot/<model>/results_<date>.json   results.json in lm-eval 0.4's schema
                                          (:mod:`polyplatypus.eval.lm_eval_results`)

The cell file marks a finished cell, so it is written after its samples file and records their
checksum. A stored cell is reused only when its *key* (:meth:`ResultsStore.key`) equals the one
this run would write: the model path, the task, the shot count, the folder-wide settings of
:func:`folder_settings` and the task's fingerprint (its definition and the documents of its data
files, :meth:`polyplatypus.tasks.task.ChoiceTask.fingerprint`), so a cell another task definition
made is never reused. One folder never mixes settings: cells made otherwise are refused
(:meth:`ResultsStore.refuse_mixing`) or, by a caller that owns the folder, discarded
(:meth:`ResultsStore.discard_made_otherwise`).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from polyplatypus.errors import DataError, OutputError
from polyplatypus.eval.lm_eval_results import LM_EVAL_FOLDER, LM_EVAL_PREFIX, task_dataset, write_lm_eval_results
from polyplatypus.eval.models import ModelSpec
from polyplatypus.utils import outputs
from polyplatypus.utils.io import (
    atomic_write_json,
    atomic_write_jsonl,
    atomic_write_text,
    inside,
    safe_part,
    sha256_file,
)

RESULTS_FILE = "results.json"
TABLES_FILE = "results.md"
CELLS_DIR = "cells"
SAMPLES_DIR = "samples"
# What an evaluation folder holds: an existing folder with none of these is not one.
OUTPUT_ENTRIES = (RESULTS_FILE, TABLES_FILE, CELLS_DIR, SAMPLES_DIR, LM_EVAL_FOLDER)
# A results.json record must have these.
# macro_f1 is not required: an lm_eval: task of output_type loglikelihood (a perplexity) has none
REQUIRED_FIELDS = ("model", "task", "shots")
# Per-document arrays and bookkeeping that stay in the cell file, out of results.json.
CELL_ONLY_FIELDS = ("golds", "preds", "samples_sha256", "fingerprint_parts")
# A cell file's per-document golds/preds stand for a results.json record only when the two agree
# on these: a later run that stopped part-way (say with another limit) may have overwritten the
# cell after results.json was written, and its documents are then not the record's.
CELL_MATCH_FIELDS = (
    "n",
    "limit",
    "data_source",
    "dtype",
    "scorer",
    "model_path",
    "macro_f1",
    "model_fingerprint",
    "data_sha256",
)
# What made a cell, beyond its settings: the model's content (models.fingerprint) and the
# documents it was scored on (data.kobest.documents_sha256). Cells without them were written
# before they were recorded.
# A reference cell's "task_fingerprint" covers its task file and data (tasks.task), an lm-eval
# cell's "fingerprint" its built requests (task file, data, few-shot draws).
# an lm-eval cell's "fingerprint_parts" what its fingerprint is made of (to name what changed).
IDENTITY_FIELDS = ("model_fingerprint", "data_sha256", "task_fingerprint", "fingerprint", "fingerprint_parts")
# An lm-eval cell's request options (--gen-kwargs, the chat options, --predict-only) and the model's
# generation_config.json: part of its key like a setting, but a change is named as the fingerprint's.
NAMED_FIELDS = ("request_options", "generation_config_sha256")


def folder_settings(*, limit, dtype: str, data_source: str, scorer: str) -> dict:
    """The key settings that hold for a whole results folder (the model path holds per label).

    ``dtype`` is the requested one, stored as ``dtype_requested``: a cell's ``dtype`` is the one
    the model was actually loaded in."""
    return {"limit": limit, "dtype_requested": dtype, "data_source": data_source, "scorer": scorer}


@dataclass
class ResultsFolder:
    """A results folder as read back: its records and, where present, each cell's file."""

    path: Path
    records: list[dict]
    config: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    cells: dict[tuple[str, str, int], dict] = field(default_factory=dict)  # (model, task, shots)
    # cell files that cannot be read, by path relative to the folder: why (the report names them)
    unreadable_cells: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name or str(self.path)

    def cell_for(self, record: dict) -> tuple[dict | None, str | None]:
        """The cell file behind a record, and why it cannot stand for it (None when it can)."""
        cell = self.cells.get((record["model"], record["task"], int(record["shots"])))
        if cell is None:
            return None, None
        return cell, cell_mismatch(cell, record)

    def cell_problem(self, record: dict) -> str | None:
        """Why a record of a folder that keeps cell files has none to stand for it: its file is
        missing or unreadable (None: the cell is there, or the folder keeps no cells)."""
        label, task, shots = record["model"], record["task"], int(record["shots"])
        if (label, task, shots) in self.cells or not (self.path / CELLS_DIR).is_dir():
            return None
        names = [
            f"{CELLS_DIR}/{slug}/{cell_stem(task, shots)}.json"
            for slug in dict.fromkeys((ModelSpec(label=label, path="").slug, label.replace("/", "_")))
        ]
        for name in names:
            if name in self.unreadable_cells:
                return f"{name} cannot be read: {self.unreadable_cells[name]}"
        return f"{names[0]} is missing"


class ResultsStore:
    """One results folder: paths, the reuse key, reading and writing cells, the mixing check."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    # -- paths -------------------------------------------------------------------------------
    # Made of sanitised parts and checked to lie inside the folder: a task named
    # ``x/../../escaped`` (an lm-eval YAML's ``task:``) never writes outside it.
    def cell_path(self, spec: ModelSpec, task: str, shots: int) -> Path:
        return inside(self.root, CELLS_DIR, spec.slug, cell_stem(task, shots) + ".json")

    def samples_path(self, spec: ModelSpec, task: str, shots: int) -> Path:
        return inside(self.root, SAMPLES_DIR, spec.slug, cell_stem(task, shots) + ".jsonl")

    def partial_path(self, spec: ModelSpec, task: str, shots: int, rank: int = 0) -> Path:
        """A generative cell's finished generations while it runs (removed once the cell is written):
        each process appends to its own file, so no two processes write one file."""
        process = f".rank{rank}" if rank else ""
        return self.root / CELLS_DIR / spec.slug / f"{task}_{shots}shot{process}.partial.jsonl"

    def partial_paths(self, spec: ModelSpec, task: str, shots: int) -> list[Path]:
        """The cell's partial files of every process (of this run's process count or another's)."""
        import re

        name = re.compile(re.escape(f"{task}_{shots}shot") + r"(\.rank[1-9][0-9]*)?\.partial\.jsonl")
        folder = self.partial_path(spec, task, shots).parent
        return sorted(p for p in folder.glob("*.partial.jsonl") if name.fullmatch(p.name)) if folder.is_dir() else []

    def kept_generations(
        self, spec: ModelSpec, task: str, shots: int, key: dict, rank: int | None = None
    ) -> dict[int, dict]:
        """The generations an interrupted run of this cell kept, by request number (those of every
        process's file, or of process ``rank``'s only): only those of a run with the same key (a
        file's first line); a line cut short by the kill is left out."""
        paths = self.partial_paths(spec, task, shots) if rank is None else [self.partial_path(spec, task, shots, rank)]
        kept: dict[int, dict] = {}
        for path in paths:
            kept.update(self._kept_in(path, key))
        return kept

    def partials_of_other_settings(self, spec: ModelSpec, task: str, shots: int, key: dict) -> bool:
        """Whether a partial file of the cell was written by a run with another key (its first line)."""
        want = {"key": json.loads(json.dumps(key, default=str))}
        for path in self.partial_paths(spec, task, shots):
            try:
                with open(path, encoding="utf-8") as handle:  # the key line only: the file may be long
                    first = handle.readline()
                if json.loads(first) != want:
                    return True
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                return True  # unreadable: not this run's either
        return False

    @staticmethod
    def _kept_in(path: Path, key: dict) -> dict[int, dict]:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return {}
        rows = []
        for line in lines:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break
        if not rows or rows[0] != {"key": json.loads(json.dumps(key, default=str))}:
            return {}
        return {int(row["request"]): row["record"] for row in rows[1:] if isinstance(row, dict) and "record" in row}

    @contextmanager
    def keeping_generations(self, spec: ModelSpec, task: str, shots: int, key: dict, kept: dict[int, dict], rank=0):
        """``keep(number, record)`` appending each finished generation to process ``rank``'s partial
        file of the cell (rewritten first with its key and ``kept``), flushed line by line so that a
        killed run loses only what was in flight."""
        path = self.partial_path(spec, task, shots, rank)
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [{"key": key}] + [{"request": n, "record": r} for n, r in sorted(kept.items())]
        atomic_write_jsonl(path, json.loads(json.dumps(rows, default=str)))
        with open(path, "a", encoding="utf-8") as handle:

            def keep(number: int, record: dict) -> None:
                handle.write(json.dumps({"request": number, "record": record}, ensure_ascii=False, default=str) + "\n")
                handle.flush()

            yield keep

    def _samples_of(self, cell_path: Path) -> Path:
        return self.root / SAMPLES_DIR / cell_path.parent.name / f"{cell_path.stem}.jsonl"

    # -- the reuse key -----------------------------------------------------------------------
    @staticmethod
    def key(spec: ModelSpec, task: str, shots: int, settings: dict, identity: dict | None = None) -> dict:
        """What a stored cell must hold to be reused for (model, task, shots) under ``settings``
        (:func:`folder_settings`), made from what ``identity`` names: :data:`IDENTITY_FIELDS`,
        and ``data_source`` where the task reads another source than KoBEST's."""
        adapter = {"adapter_path": spec.adapter} if spec.adapter else {}  # scored through PEFT, not merged
        return {"model_path": spec.path, **adapter, "task": task, "shots": shots, **settings, **(identity or {})}

    def why_recomputed(self, spec: ModelSpec, task: str, shots: int, key: dict) -> str | None:
        """Why a stored cell for (model, task, shots) will not be reused although its settings
        match: ``"model"`` (the model's content changed), ``"data"`` (the documents changed),
        ``"requests"`` (an lm-eval cell's requests, request options or generation_config.json
        changed) or ``"no identity"`` (written before identities were recorded); None when there
        is no such cell, or it is reused, or its settings differ."""
        cell = self.read_cell(self.cell_path(spec, task, shots))
        named = IDENTITY_FIELDS + NAMED_FIELDS
        if "fingerprint" in key:  # an lm-eval cell's data_source is its task config's: the fingerprint covers it
            named += ("data_source",)
        if cell is None or any(cell.get(k) != v for k, v in key.items() if k not in named):
            return None
        if not any(name in cell for name in IDENTITY_FIELDS):
            return "no identity"
        for name, reason in (("model_fingerprint", "model"), ("data_sha256", "data"), ("fingerprint", "requests")):
            if name in key and cell.get(name) != key[name]:
                return reason
        # a cell records its (empty) request options where its key leaves them out
        if "fingerprint" in key and any((cell.get(name) or None) != (key.get(name) or None) for name in NAMED_FIELDS):
            return "requests"
        return None

    def redefined(self, spec: ModelSpec, task: str, shots: int, key: dict) -> tuple[bool, str | None]:
        """Whether a stored cell matches ``key`` in all its settings but not in the task
        fingerprint (its task's definition or data changed since it was made), and the
        fingerprint it was made with."""
        cell = self.read_cell(self.cell_path(spec, task, shots))
        if cell is None or cell.get("task_fingerprint") == key.get("task_fingerprint"):
            return False, None
        same = all(cell.get(k) == v for k, v in key.items() if k not in IDENTITY_FIELDS)
        return same, cell.get("task_fingerprint")

    # -- reading -----------------------------------------------------------------------------
    @staticmethod
    def read_cell(path: Path) -> dict | None:
        """A cell file's content; None for a missing or unreadable one (it is recomputed)."""
        try:
            cell = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        return cell if isinstance(cell, dict) else None

    def reusable_cell(self, spec: ModelSpec, task: str, shots: int, key: dict, *, with_samples: bool) -> dict | None:
        """The stored cell if it is finished under ``key``; with samples asked for, only if its
        samples file is there with the checksum the cell recorded."""
        cell = self.read_cell(self.cell_path(spec, task, shots))
        if cell is None or not all(cell.get(k) == v for k, v in key.items()):
            return None
        if with_samples:
            samples = self.samples_path(spec, task, shots)
            try:
                if not (samples.is_file() and cell.get("samples_sha256") == sha256_file(samples)):
                    return None
            except OSError:
                return None  # an unreadable samples file: the cell is scored again
        return cell

    def _stored_cells(self) -> Iterator[tuple[Path, dict]]:
        for path in sorted((self.root / CELLS_DIR).glob("*/*.json")):
            cell = self.read_cell(path)
            if cell is not None:
                yield path, cell

    # -- one folder, one set of settings -----------------------------------------------------
    def made_otherwise(
        self, specs: Sequence[ModelSpec], settings: dict, data_sources: dict | None = None
    ) -> list[tuple[Path, str, object, object]]:
        """Cells whose folder-wide settings differ from ``settings``, or that hold another model
        path or label in the folder of one of ``specs``' labels, as (cell file, setting, its value, this run's value).
        ``settings["data_source"]`` is KoBEST's; ``data_sources`` (data source -> description)
        those of the other sources this run reads. A cell of a source this run does not read keeps
        its own, and so does an lm-eval cell (its task config names its data)."""
        paths = {spec.slug: spec.path for spec in specs}
        labels = {spec.slug: spec.label for spec in specs}  # one label, one folder: run:1 and run_1 never share
        found = []
        for path, cell in self._stored_cells():
            mine = path.parent.name in paths
            wanted = {
                **settings,
                **({"model": labels[path.parent.name], "model_path": paths[path.parent.name]} if mine else {}),
            }
            source = _task_data_source(cell.get("task"))
            if str(cell.get("task", "")).startswith(LM_EVAL_PREFIX):
                wanted.pop("data_source", None)  # its task config's own; its fingerprint covers the data
            elif source != "kobest":
                if source in (data_sources or {}):
                    wanted["data_source"] = data_sources[source]
                else:
                    wanted.pop("data_source", None)
            for name, ours in wanted.items():
                if name in cell and cell[name] != ours:
                    found.append((path, name, cell[name], ours))
                    break
        return found

    def refuse_mixing(self, specs: Sequence[ModelSpec], settings: dict, data_sources: dict | None = None) -> None:
        differing = self.made_otherwise(specs, settings, data_sources)
        if differing:
            path, name, theirs, ours = differing[0]
            more = f" and {len(differing) - 1} more cells" if len(differing) > 1 else ""
            raise OutputError(
                f"{self.root} holds results made with {name} {theirs!r} ({path.relative_to(self.root)}{more}); "
                f"this run has {name} {ours!r}. One folder never mixes settings: choose another --output, "
                f"or delete {self.root} to start over"
            )

    def discard_made_otherwise(
        self, specs: Sequence[ModelSpec], settings: dict, data_sources: dict | None = None
    ) -> list[Path]:
        """Delete the cells (and their samples) that :meth:`refuse_mixing` would refuse: for a
        caller that owns the folder and recomputes it (the recipe's eval stage)."""
        removed = []
        for path, *_ in self.made_otherwise(specs, settings, data_sources):
            path.unlink(missing_ok=True)
            self._samples_of(path).unlink(missing_ok=True)
            removed.append(path)
        return removed

    @contextmanager
    def holding(
        self, specs: Sequence[ModelSpec], settings: dict, *, main_process: bool = True, data_sources: dict | None = None
    ):
        """Hold the folder (one evaluation at a time), refuse cells made with other settings and
        clear the temporary files an interrupted run left."""
        with outputs.hold(self.root, "eval"):
            self.refuse_mixing(specs, settings, data_sources)
            if main_process:  # only in what eval writes (report/ may be another command's)
                outputs.remove_temporaries(self.root)
                for part in (CELLS_DIR, SAMPLES_DIR, LM_EVAL_FOLDER):
                    outputs.remove_temporaries(self.root / part, recursive=True)
            yield self

    # -- writing -----------------------------------------------------------------------------
    def write_cell(self, spec: ModelSpec, task: str, shots: int, cell: dict, samples: list[dict] | None) -> dict:
        """Write a finished cell, samples first: the cell file marks the cell finished, so a run
        stopped before it leaves the cell to be computed again. Returns the cell as written."""
        samples_path = self.samples_path(spec, task, shots)
        if samples is not None:
            atomic_write_jsonl(samples_path, samples)
            cell = {**cell, "samples_sha256": sha256_file(samples_path)}
        else:
            samples_path.unlink(missing_ok=True)  # an earlier run's samples would not match this cell
        atomic_write_json(self.cell_path(spec, task, shots), cell)
        for partial in self.partial_paths(spec, task, shots):
            partial.unlink(missing_ok=True)
        return cell

    def write_results(self, records: list[dict], *, config: dict, versions: dict, tables: str) -> None:
        """results.json (records, the run's settings, versions), results.md (``tables``) and the
        same results as lm-eval 0.4 results files under ``lm_eval/``, for tools that read those."""
        atomic_write_json(
            self.root / RESULTS_FILE,
            {
                "results": records,
                "config": config,
                "versions": versions,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            },
        )
        atomic_write_text(self.root / TABLES_FILE, tables)
        write_lm_eval_results(self.root / LM_EVAL_FOLDER, records, config, versions=versions, datasets=task_dataset)

    # -- reading a whole folder back (the report) ---------------------------------------------
    @classmethod
    def find(cls, path: str | Path) -> list[Path]:
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
            p
            for p in path.glob(f"**/{RESULTS_FILE}")
            if len(p.relative_to(path).parts) <= 4
            and CELLS_DIR not in p.parts
            and "report" not in p.relative_to(path).parts
        )
        if not found:
            raise DataError(f"no {RESULTS_FILE} found in this folder or its subfolders", path=path)
        return found

    def read(self) -> ResultsFolder:
        """results.json's records, config and versions, and every readable cell file."""
        results_file = self.root / RESULTS_FILE
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
            path=self.root, records=records, config=data.get("config") or {}, versions=data.get("versions") or {}
        )
        for cell_file in sorted((self.root / CELLS_DIR).glob("**/*.json")):
            try:
                cell = _read_report_cell(cell_file)
            except DataError as error:  # named in the report, never stopping it
                name = str(cell_file.relative_to(self.root))
                folder.unreadable_cells[name] = str(error).removeprefix(f"{cell_file}: ")
                continue
            folder.cells[(cell["model"], cell["task"], int(cell["shots"]))] = cell
        return folder


def cell_stem(task: str, shots: int) -> str:
    """A cell's file name without its suffix: ``<task>_<k>shot``, made one plain name."""
    return safe_part(f"{task}_{shots}shot")


def public_record(cell: dict) -> dict:
    """A cell as a results.json record (per-document arrays stay in the cell file)."""
    return {k: v for k, v in cell.items() if k not in CELL_ONLY_FIELDS}


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


def _read_report_cell(path: Path) -> dict:
    """A cell file with per-document labels the report can use; DataError saying why not."""
    cell = _read_json(path)
    if not isinstance(cell, dict) or not {"model", "task", "shots", "golds", "preds"} <= cell.keys():
        raise DataError("not a cell file (no model, task, shots, golds and preds)", path=path)
    if (
        not isinstance(cell["golds"], list)
        or not isinstance(cell["preds"], list)
        or len(cell["golds"]) != len(cell["preds"])
    ):
        raise DataError("golds and preds differ in length", path=path)
    try:
        int(cell["shots"])
    except (TypeError, ValueError):
        raise DataError(f"shots {cell['shots']!r} is not a number", path=path) from None
    return cell


def _task_data_source(task_name) -> str:
    """The data source of a stored cell's task (KoBEST for a task this version does not know)."""
    from polyplatypus.tasks.registry import get_task

    try:
        return get_task(str(task_name)).data.source
    except Exception:
        return "kobest"


def _read_json(path: Path):
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except json.JSONDecodeError as error:
        raise DataError(f"invalid JSON: {error} (the file is damaged or incomplete)", path=path) from None
    except UnicodeDecodeError as error:
        raise DataError(f"not UTF-8 text (byte {error.start}); the file is damaged", path=path) from None
    except OSError as error:
        raise DataError(f"cannot be read ({error.strerror})", path=path) from None
