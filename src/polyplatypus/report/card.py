"""Publishable reports from evaluation results: a Markdown model card, an HTML page and PNG plots.

The card keeps the layout of the Poly-platypus-ko model card (one macro-F1 table per KoBEST task:
rows models, columns 0/5/10/50-shot, the best per column in bold) and adds what that card lacked:
a 95% bootstrap confidence interval for every F1 (documents resampled), a mark where a model's
difference from the column's best is within noise (paired bootstrap over the same documents), the
number of documents whose context was cut to fit the model, and every number's provenance
(package version, dtype, batch size, data source, date) as a footnote, with a warning where rows
were evaluated under different settings.
"""

from __future__ import annotations

import datetime as _dt
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from polyplatypus.errors import ConfigError
from polyplatypus.eval.tables import md_escape, task_title
from polyplatypus.report.bootstrap import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, Interval, PairedBootstrap
from polyplatypus.report.results import PROVENANCE_FIELDS, Row, load_rows
from polyplatypus.tasks.registry import get_task, task_names
from polyplatypus.utils.io import atomic_write_json, atomic_write_text
from polyplatypus.version import __version__

NOISE_MARK = "≈"
MISSING = "–"
PUBLISHED_MARK = "(published)"


@dataclass
class Cell:
    """One table cell: a model's macro-F1 on a task at a shot count, with its uncertainty."""

    label: str
    task: str
    shots: int
    f1: float
    n: int | None
    truncated: int | None
    provenance: int  # 1-based footnote number
    source: str
    ci: Interval | None = None
    best: bool = False
    within_noise_of_best: bool | None = None  # None: not comparable (no per-document labels)
    vs_baseline: Interval | None = None
    vs_baseline_estimate: float | None = None
    baseline_within_noise: bool | None = None
    stale_cell: str | None = None  # the cell file disagreed with results.json: no interval
    damaged_cell: str | None = None  # the cell file is missing or unreadable: no interval
    record: dict = field(default_factory=dict, repr=False)

    @property
    def published(self) -> bool:
        """A published result (report --published): no per-document data, so no interval."""
        return bool(self.record.get("published"))


@dataclass
class Report:
    tasks: list[str]
    shots: list[int]
    models: list[str]
    cells: dict[tuple[str, str, int], Cell]  # (task, model label, shots)
    provenance: list[dict]  # footnotes, in order
    differing_settings: dict[str, list]  # setting -> distinct values, where rows differ
    baseline: str | None
    confidence: float
    resamples: int
    seed: int
    title: str
    intro: str
    generated: str
    sources: list[str]
    published_notes: list[str] = field(default_factory=list)  # what published files had that the card leaves out
    baseline_match: str | None = None  # which model --baseline named, and how it matched
    # results without a macro-F1 (an lm_eval: generative task): shown with their own metrics, ± stderr
    own_metric_records: list[dict] = field(default_factory=list)

    def cell(self, task: str, model: str, shots: int) -> Cell | None:
        return self.cells.get((task, model, shots))

    def table_rows(self, task: str) -> list[tuple[str, list[Cell | None], list[int]]]:
        """(row name, cells per shot count, footnote numbers) for each model with a value on ``task``."""
        rows = []
        for model in self.models:
            cells = [self.cell(task, model, k) for k in self.shots]
            if all(c is None for c in cells):
                continue
            name = f"{model} {PUBLISHED_MARK}" if self.is_published(model) else model
            name = f"{name} (baseline)" if model == self.baseline else name
            rows.append((name, cells, sorted({c.provenance for c in cells if c is not None})))
        return rows

    def is_published(self, model: str) -> bool:
        return any(c.published for (t, m, k), c in self.cells.items() if m == model)

    def stale_cells(self) -> list[Cell]:
        """Cells whose per-document file disagreed with results.json (shown without an interval)."""
        return self._cells_where("stale_cell")

    def damaged_cells(self) -> list[Cell]:
        """Cells whose per-document file is missing or unreadable (shown without an interval)."""
        return self._cells_where("damaged_cell")

    def _cells_where(self, flag: str) -> list[Cell]:
        """The cells with ``flag`` set, in the table's order (task, model, shots)."""
        keys = ((t, m, k) for t in self.tasks for m in self.models for k in self.shots)
        return [self.cells[key] for key in keys if key in self.cells and getattr(self.cells[key], flag)]


def _ordered_tasks(tasks) -> list[str]:
    """The task files' order (KoBEST's five in the model card's order, then the other reference
    tasks), then any other task by name."""
    order = task_names()
    return [t for t in order if t in tasks] + sorted(t for t in tasks if t not in order)


def _task_family(task: str) -> str:
    """The data source a task reads (KoBEST, Korean hate speech); a task this version does not
    know counts as its own."""
    try:
        return get_task(task).data.source
    except Exception:
        return task


def _differing_data_sources(rows: list[Row]) -> list:
    """The data sources of tasks that read the same data but were given different copies of it
    (tasks of different data sources always differ there: that is no warning)."""
    by_family: dict[str, list] = {}
    for row in rows:
        values = by_family.setdefault(_task_family(row.task), [])
        if row.record.get("data_source") not in values:
            values.append(row.record.get("data_source"))
    return [value for values in by_family.values() if len(values) > 1 for value in values]


def _ends_with_components(path: str, tail: str) -> bool:
    """Whether ``path`` ends with the whole path components of ``tail`` (``runs/base`` ends with
    ``base``; ``runs/database`` does not)."""
    parts, wanted = Path(path.rstrip("/")).parts, Path(tail.rstrip("/")).parts
    return bool(wanted) and parts[len(parts) - len(wanted) :] == wanted


def resolve_baseline(rows: list[Row], baseline: str | None) -> str | None:
    """The report label of ``baseline`` (see :func:`match_baseline`)."""
    return match_baseline(rows, baseline)[0]


def match_baseline(rows: list[Row], baseline: str | None) -> tuple[str | None, str | None]:
    """(report label, what ``baseline`` matched) for ``baseline`` given as a model label (as shown
    in the report, or as in results.json before the folder name was added to tell two folders
    apart), a model path or hub id, or the last whole components of one. A name that fits
    several report rows is an error listing them."""
    if baseline is None:
        return None, None
    labels = list(dict.fromkeys(r.label for r in rows))
    if baseline in labels:
        return baseline, "its label"
    for match, how in (
        (lambda r: r.record.get("model") == baseline, "its label in results.json"),
        (lambda r: r.record.get("model_path") == baseline, "its model path or hub id"),
        (
            lambda r: _ends_with_components(str(r.record.get("model_path", "")), baseline),
            "the last component(s) of its model path",
        ),
    ):
        found = list(dict.fromkeys(r.label for r in rows if match(r)))
        if len(found) == 1:
            path = next(r.record.get("model_path") for r in rows if r.label == found[0])
            return found[0], f"{how} ({path})"
        if found:
            candidates = ", ".join(repr(label) for label in found)
            raise ConfigError(
                f"--baseline {baseline!r} is ambiguous: it matches {candidates}; give one of these labels"
            )
    known = ", ".join(f"{r.label} ({r.record.get('model_path')})" for r in {r.label: r for r in rows}.values())
    raise ConfigError(
        f"--baseline {baseline!r} matches no model label, model path or hub id in the results "
        f"(a path matches on whole components); known: {known}"
    )


def _cells_and_provenance(rows: list[Row]) -> tuple[dict[tuple[str, str, int], Cell], list[dict]]:
    """A card cell per row, and the provenance footnotes (one per results folder and settings)."""
    provenance_ids: dict[tuple, int] = {}
    provenance: list[dict] = []
    cells: dict[tuple[str, str, int], Cell] = {}
    for row in rows:
        key = (row.provenance(), str(row.source))
        if key not in provenance_ids:
            provenance_ids[key] = len(provenance) + 1
            provenance.append(
                {
                    **{name: row.record.get(name) for name in PROVENANCE_FIELDS},
                    **(
                        {"published": True, "harness": row.record.get("harness")} if row.record.get("published") else {}
                    ),
                    "source": str(row.source),
                    "dates": [],
                    "models": [],
                }
            )
        note = provenance[provenance_ids[key] - 1]
        if row.record.get("date") and row.record["date"] not in note["dates"]:
            note["dates"].append(row.record["date"])
        if row.label not in note["models"]:
            note["models"].append(row.label)
        cell_key = (row.task, row.label, row.shots)
        if cell_key in cells:
            raise ConfigError(f"model {row.label!r} has two results for {row.task} {row.shots}-shot (in {row.source})")
        cells[cell_key] = Cell(
            label=row.label,
            task=row.task,
            shots=row.shots,
            f1=row.f1,
            n=row.record.get("n"),
            truncated=row.record.get("truncated"),
            provenance=provenance_ids[key],
            source=str(row.source),
            stale_cell=row.stale_cell,
            damaged_cell=row.damaged_cell,
            record=row.record,
        )
    return cells, provenance


def _settings_that_differ(rows: list[Row], provenance: list[dict]) -> dict[str, list]:
    """The settings in which the footnotes differ; for the data source only copies of the same
    data count (tasks of different data sources always differ there)."""
    differing = differing_settings(provenance)
    copies = _differing_data_sources([row for row in rows if not row.record.get("published")])
    if len(copies) > 1:
        differing["data_source"] = copies
    else:
        differing.pop("data_source", None)
    return differing


def build_report(
    rows: list[Row],
    *,
    baseline: str | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
    title: str = "KoBEST results",
    intro: str = "",
    sources: list[str] | None = None,
) -> Report:
    if not rows:
        raise ConfigError("no results to report")
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    if resamples < 10:
        raise ConfigError(f"resamples must be at least 10, got {resamples}")
    sources = sources or sorted({str(r.source) for r in rows})
    own_metric_records = [{**r.record, "model": r.label} for r in rows if r.record.get("macro_f1") is None]
    rows = [r for r in rows if r.record.get("macro_f1") is not None]
    baseline_label, baseline_match = match_baseline(rows, baseline) if rows else (None, None)
    models = list(dict.fromkeys(r.label for r in rows))
    if baseline_label is not None:
        models.remove(baseline_label)
        models.insert(0, baseline_label)

    cells, provenance = _cells_and_provenance(rows)
    differing = _settings_that_differ(rows, provenance)

    tasks = _ordered_tasks({r.task for r in rows})
    shots = sorted({r.shots for r in rows})
    by_key = {(r.task, r.label, r.shots): r for r in rows}
    for task in tasks:
        for k in shots:
            column = [by_key[(task, m, k)] for m in models if (task, m, k) in by_key]
            _score_column(column, cells, baseline_label, resamples, confidence, seed)
    return Report(
        tasks=tasks,
        shots=shots,
        models=models,
        cells=cells,
        provenance=provenance,
        differing_settings=differing,
        baseline=baseline_label,
        confidence=confidence,
        resamples=resamples,
        seed=seed,
        title=title,
        intro=intro,
        generated=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        sources=sources,
        own_metric_records=own_metric_records,
        baseline_match=baseline_match and f"--baseline {baseline} matched model {baseline_label!r} by {baseline_match}",
    )


def differing_settings(provenance: list[dict]) -> dict[str, list]:
    """Setting -> its distinct values, for the settings in which the footnotes differ. With
    published rows the harness is one of them; a setting a published file does not state is not
    counted as a difference."""
    published = any(note.get("published") for note in provenance)
    names = (("harness",) if published else ()) + PROVENANCE_FIELDS
    differing = {}
    for name in names:
        values = []
        for note in provenance:
            value = note.get(name)
            if name == "harness" and not note.get("published"):
                value = f"polyplatypus {note.get('version') or ''}".strip()
            elif note.get("published") and (value is None or name in ("version", "scorer")):
                continue
            if value not in values:
                values.append(value)
        if len(values) > 1:
            differing[name] = values
    return differing


def _score_column(column: list[Row], cells, baseline: str | None, resamples: int, confidence: float, seed: int):
    """Bold the best, attach intervals, and mark ties with the best (and the baseline)."""
    if not column:
        return
    best_f1 = max(r.f1 for r in column)
    for row in column:
        cells[(row.task, row.label, row.shots)].best = row.f1 == best_f1
    # Published rows have no per-document data: the noise test compares evaluated rows only.
    evaluated = [r for r in column if not r.record.get("published")]
    best_evaluated = max((r.f1 for r in evaluated), default=None)
    best_rows = [r for r in evaluated if r.f1 == best_evaluated]
    # Rows scored on the same documents (same gold labels) share one paired bootstrap.
    groups: dict[tuple, PairedBootstrap] = {}
    member: dict[str, PairedBootstrap] = {}
    for row in column:
        if row.golds is None or row.preds is None or not row.golds:
            continue
        golds = tuple(row.golds)
        if golds not in groups:
            group_seed = (seed + zlib.crc32(f"{row.task}/{row.shots}/{len(groups)}".encode())) % 2**32
            groups[golds] = PairedBootstrap(golds, resamples=resamples, seed=group_seed)
        groups[golds].add(row.label, row.preds)
        member[row.label] = groups[golds]
        cells[(row.task, row.label, row.shots)].ci = groups[golds].interval(row.label, confidence)
    for row in evaluated:
        cell = cells[(row.task, row.label, row.shots)]
        if any(row is best for best in best_rows):
            continue
        boot = member.get(row.label)
        reference = next((b for b in best_rows if member.get(b.label) is boot), None) if boot else None
        if boot is not None and reference is not None:
            cell.within_noise_of_best = boot.within_noise(row.label, reference.label, confidence)
    if baseline is not None and baseline in member:
        boot = member[baseline]
        base_f1 = next(r.f1 for r in column if r.label == baseline)
        for row in column:
            if row.label == baseline or member.get(row.label) is not boot:
                continue
            cell = cells[(row.task, row.label, row.shots)]
            cell.vs_baseline = boot.difference(row.label, baseline, confidence)
            cell.vs_baseline_estimate = row.f1 - base_f1
            cell.baseline_within_noise = cell.vs_baseline.contains(0.0)
    _published_differences(column, cells, baseline)


def _published_differences(column: list[Row], cells, baseline: str | None) -> None:
    """Differences from the baseline where it or the row is published: estimates only (no
    per-document data, so no interval and no noise test)."""
    base = next((r for r in column if r.label == baseline), None)
    if base is None:
        return
    for row in column:
        if row is base or not (row.record.get("published") or base.record.get("published")):
            continue
        cells[(row.task, row.label, row.shots)].vs_baseline_estimate = row.f1 - base.f1


# ----------------------------------------------------------------------------- Markdown


def format_f1(value: float) -> str:
    return f"{value:.4f}"


def cell_text(cell: Cell | None, *, markdown: bool = True) -> str:
    if cell is None:
        return MISSING
    text = format_f1(cell.f1)
    if cell.best and markdown:
        text = f"**{text}**"
    if cell.ci is not None:
        text += f" [{cell.ci.low:.3f}, {cell.ci.high:.3f}]"
    if cell.within_noise_of_best:
        text += f" {NOISE_MARK}"
    return text


def legend(report: Report) -> str:
    level = f"{report.confidence:.0%}"
    return (
        f"Macro-F1 (the reference ko-lm-evaluation-harness metric). The best per column in bold; "
        f"brackets: {level} bootstrap confidence interval over documents ({report.resamples} resamples); "
        f"{NOISE_MARK}: the difference from the column's best is within noise (the {level} paired-bootstrap "
        f"interval of the difference contains 0)."
    )


def published_legend(report: Report) -> str:
    """Why published rows have no interval and no noise mark (empty without published rows)."""
    if not any(note.get("published") for note in report.provenance):
        return ""
    text = (
        f"Rows marked {PUBLISHED_MARK} are results published by others (`--published`), read from their results "
        "files: no per-document predictions exist for them, so they carry no bootstrap interval and take no part "
        f"in the paired test ({NOISE_MARK} compares evaluated rows only); a missing task or shot count stays empty."
    )
    if report.baseline is not None and report.is_published(report.baseline):
        text += " The baseline is a published row: differences from it are shown without intervals."
    return text


def published_note(note: dict) -> str:
    return (
        f"published results: {note.get('harness') or 'another harness'}"
        + (f", batch size {note['batch_size']}" if note.get("batch_size") is not None else "")
        + (f", dtype {note['dtype']}" if note.get("dtype") else "")
        + (f", first {note['limit']} documents per task only" if note.get("limit") is not None else "")
        + f"; no per-document predictions, so no interval; file `{note['source']}`"
    )


def provenance_text(note: dict) -> str:
    if note.get("published"):
        return published_note(note)
    dates = sorted(note["dates"])
    when = dates[0] if len(dates) <= 1 else f"{dates[0]} to {dates[-1]}"
    parts = [
        f"polyplatypus {note.get('version') or 'unknown version'}",
        f"dtype {note.get('dtype') or 'unknown'}",
        f"batch size {note.get('batch_size') if note.get('batch_size') is not None else 'unknown'}",
        f"data {note.get('data_source') or 'unknown'}",
    ]
    if note.get("scorer"):
        parts.append(f"{note['scorer']} scorer")
    if note.get("limit") is not None:
        parts.append(f"first {note['limit']} documents per task only")
    parts += [
        f"evaluated {when or 'unknown date'}",
        f"results in `{note['source']}`",
    ]
    return ", ".join(parts)


def settings_warning(report: Report) -> str:
    if not report.differing_settings:
        return ""
    listed = "; ".join(
        f"{name.replace('_', ' ')}: {', '.join(str(v) for v in values)}"
        for name, values in report.differing_settings.items()
    )
    return (
        f"**Warning: these rows were not all evaluated with the same settings** ({listed}). "
        "Each row's footnote gives its settings; compare across footnotes with care."
    )


def stale_cells_warning(report: Report) -> str:
    """A warning naming the cells whose per-document file did not match results.json."""
    stale = report.stale_cells()
    if not stale:
        return ""
    listed = "; ".join(f"{c.label} {task_title(c.task)} {c.shots}-shot: {c.stale_cell}" for c in stale)
    return (
        f"**Warning: the per-document predictions of {len(stale)} cell(s) do not match results.json**, "
        "so these F1 values are shown without a confidence interval or noise mark "
        f"(the cell files in `cells/` were probably overwritten by a later, unfinished evaluation; "
        f"re-run the evaluation to restore them): {listed}."
    )


def damaged_cells_warning(report: Report) -> str:
    """A warning naming each cell whose per-document file is missing or unreadable."""
    damaged = report.damaged_cells()
    if not damaged:
        return ""
    listed = "; ".join(
        f"{c.label} {task_title(c.task)} {c.shots}-shot: `{c.damaged_cell}` (in {c.source})" for c in damaged
    )
    return (
        f"**Warning: the cell files of {len(damaged)} cell(s) are missing or unreadable**, so these F1 values "
        "(from results.json) are shown without a confidence interval or noise mark; re-run the evaluation "
        f"to restore them: {listed}."
    )


def report_warnings(report: Report) -> list[str]:
    """The warnings a card shows above its tables."""
    return [w for w in (settings_warning(report), stale_cells_warning(report), damaged_cells_warning(report)) if w]


def truncation_notes(report: Report, task: str) -> list[str]:
    """Per model, the shot counts at which some documents' contexts were cut, as "k-shot m/n"."""
    notes = []
    for model in report.models:
        parts = []
        for k in report.shots:
            cell = report.cell(task, model, k)
            if cell is not None and cell.truncated:
                parts.append(f"{k}-shot {cell.truncated}" + (f"/{cell.n}" if cell.n else ""))
        if parts:
            notes.append(f"{model}: " + ", ".join(parts))
    return notes


def render_markdown(report: Report) -> str:
    lines = [f"# {report.title}", ""]
    if report.intro:
        lines += [report.intro.strip(), ""]
    lines += [legend(report), ""]
    if published_legend(report):
        lines += [published_legend(report), ""]
    for warning in report_warnings(report):
        lines += [warning, ""]
    header = "| Model | " + " | ".join(f"{k}-shot" for k in report.shots) + " |"
    rule = "| --- | " + " | ".join("---" for _ in report.shots) + " |"
    for task in report.tasks:
        lines += [f"### {task_title(task)} (F1)", "", header, rule]
        for name, cells, notes in report.table_rows(task):
            marks = "".join(f"[^{n}]" for n in notes)
            lines.append(f"| {md_escape(name)}{marks} | " + " | ".join(cell_text(c) for c in cells) + " |")
        lines.append("")
        truncated = truncation_notes(report, task)
        if truncated:
            lines += [
                "Truncated contexts (documents whose prompt was cut to fit the model): " + "; ".join(truncated) + ".",
                "",
            ]
        if report.baseline is not None:
            diffs = _baseline_lines(report, task)
            if diffs:
                lines += [
                    f"Difference from the baseline {report.baseline} (F1, {report.confidence:.0%} paired-bootstrap interval"
                    + ("; none where a row is published" if _has_published(report, task) else "")
                    + "): "
                    + "; ".join(diffs)
                    + ".",
                    "",
                ]
    if report.own_metric_records:  # their own metrics as lm-eval computed them (no macro-F1, no interval)
        from polyplatypus.eval.tables import results_markdown

        lines += [
            "Tasks without a macro-F1, by their own metrics (± lm-eval's standard error):",
            "",
            results_markdown(report.own_metric_records).rstrip(),
            "",
        ]
    if report.published_notes:
        lines += [
            "Not shown from the published files (no macro-F1, or a task or shot count no evaluated model has): "
            + "; ".join(report.published_notes)
            + ".",
            "",
        ]
    lines += ["---", ""]
    lines += [
        f"Report written by polyplatypus {__version__} on {report.generated} from: "
        + ", ".join(f"`{s}`" for s in report.sources)
        + ".",
        "",
    ]
    for number, note in enumerate(report.provenance, start=1):
        lines.append(f"[^{number}]: {provenance_text(note)}.")
    return "\n".join(lines) + "\n"


def _baseline_lines(report: Report, task: str) -> list[str]:
    out = []
    for model in report.models:
        if model == report.baseline:
            continue
        parts = []
        for k in report.shots:
            cell = report.cell(task, model, k)
            if cell is None or cell.vs_baseline_estimate is None:
                continue
            if cell.vs_baseline is None:  # a published row on either side: no interval
                parts.append(f"{k}-shot {cell.vs_baseline_estimate:+.4f}")
                continue
            mark = f" {NOISE_MARK}" if cell.baseline_within_noise else ""
            parts.append(
                f"{k}-shot {cell.vs_baseline_estimate:+.4f} [{cell.vs_baseline.low:+.3f}, {cell.vs_baseline.high:+.3f}]{mark}"
            )
        if parts:
            out.append(f"{model}: " + ", ".join(parts))
    return out


def _has_published(report: Report, task: str) -> bool:
    return any(c.published for (t, m, k), c in report.cells.items() if t == task)


_TABLE_TITLE = re.compile(r"^#{2,4} (?P<title>.+) \(F1\)$")
_CELL = re.compile(
    r"^(?P<bold>\*\*)?(?P<f1>\d+\.\d+)(?:\*\*)?(?: \[(?P<low>[-\d.]+), (?P<high>[-\d.]+)\])?(?P<noise> ≈)?$"
)


def read_card_tables(markdown: str) -> dict[str, dict[str, dict[int, dict]]]:
    """Read back the F1 tables of a card written by :func:`render_markdown`.

    Returns ``{task title: {model label: {shots: {"f1", "bold", "ci", "noise"}}}}`` (a missing
    cell is absent); useful to check a card against results.json or to compare two cards.
    """
    tables: dict[str, dict[str, dict[int, dict]]] = {}
    title, shots = None, None
    for line in markdown.splitlines():
        heading = _TABLE_TITLE.match(line.strip())
        if heading:
            title, shots = heading.group("title"), None
            tables[title] = {}
            continue
        if title is None or not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if cells[0] == "Model":
            shots = [int(c.split("-")[0]) for c in cells[1:]]
            continue
        if shots is None or set(cells[0]) <= {"-", " "}:
            continue
        label = re.sub(r"(\[\^\d+\])+$", "", cells[0]).replace("\\|", "|")
        label = label.removesuffix(" (baseline)").removesuffix(f" {PUBLISHED_MARK}")
        row = {}
        for k, text in zip(shots, cells[1:]):
            match = _CELL.match(text)
            if match is None:
                continue
            row[k] = {
                "f1": float(match.group("f1")),
                "bold": bool(match.group("bold")),
                "ci": (float(match.group("low")), float(match.group("high"))) if match.group("low") else None,
                "noise": bool(match.group("noise")),
            }
        tables[title][label] = row
    return tables


# ----------------------------------------------------------------------------- results.json


def report_records(report: Report) -> list[dict]:
    records = []
    for task in report.tasks:
        for model in report.models:
            for k in report.shots:
                cell = report.cell(task, model, k)
                if cell is None:
                    continue
                record = {key: value for key, value in cell.record.items() if key not in ("golds", "preds")}
                record.update(
                    {
                        "label": model,
                        "source": cell.source,
                        "provenance": cell.provenance,
                        "ci_low": None if cell.ci is None else cell.ci.low,
                        "ci_high": None if cell.ci is None else cell.ci.high,
                        "best": cell.best,
                        "within_noise_of_best": cell.within_noise_of_best,
                    }
                )
                if cell.stale_cell:
                    record["stale_cell"] = cell.stale_cell
                if cell.damaged_cell:
                    record["damaged_cell"] = cell.damaged_cell
                if report.baseline is not None and model != report.baseline:
                    record["vs_baseline"] = (
                        None
                        if cell.vs_baseline_estimate is None
                        else {
                            "difference": cell.vs_baseline_estimate,
                            "ci_low": None if cell.vs_baseline is None else cell.vs_baseline.low,
                            "ci_high": None if cell.vs_baseline is None else cell.vs_baseline.high,
                            "within_noise": cell.baseline_within_noise,
                        }
                    )
                records.append(record)
    return records


def own_metric_lines(report: Report) -> list[str]:
    """One text per result without a macro-F1: ``model task k-shot: metric value ± stderr, ...``."""
    from polyplatypus.eval.tables import record_metrics

    def shown(value, stderr):
        return f"{value:.4g}" + (f" ± {stderr:.2g}" if stderr is not None else "")

    return [
        f"{r['model']} {task_title(r['task'])} {r['shots']}-shot: "
        + (
            ", ".join(
                f"{name} {shown(value, stderr)}"
                for name, (value, stderr) in record_metrics(r).items()
                if isinstance(value, (int, float))
            )
            or "no metric"
        )
        for r in report.own_metric_records
    ]


def report_json(report: Report) -> dict:
    return {
        "report": {
            "title": report.title,
            "baseline": report.baseline,
            "confidence": report.confidence,
            "resamples": report.resamples,
            "seed": report.seed,
            "generated": report.generated,
            "version": __version__,
            "sources": report.sources,
            "tasks": report.tasks,
            "shots": report.shots,
            "models": report.models,
            "differing_settings": report.differing_settings,
            "published_notes": report.published_notes,
            "baseline_match": report.baseline_match,
        },
        "provenance": [{"id": i, **note} for i, note in enumerate(report.provenance, start=1)],
        "results": report_records(report),
        **({"task_metrics": _own_metric_rows(report)} if report.own_metric_records else {}),
    }


def _own_metric_rows(report: Report) -> list[dict]:
    """The results without a macro-F1, each with its own metrics as (value, stderr) pairs."""
    from polyplatypus.eval.tables import record_metrics

    return [
        {
            "model": r["model"],
            "task": r["task"],
            "shots": r["shots"],
            "published": bool(r.get("published")),
            "metrics": {
                name: {"value": value, "stderr": stderr} for name, (value, stderr) in record_metrics(r).items()
            },
        }
        for r in report.own_metric_records
    ]


# ----------------------------------------------------------------------------- all outputs


def gather_rows(paths, published=()) -> tuple[list[Row], list[str]]:
    """The evaluated rows of ``paths`` and the published rows of ``published`` on the same tasks
    and shot counts, with notes on what the published files had that the card leaves out."""
    from polyplatypus.report.published import keep_evaluated_cells, load_published

    rows = load_rows(paths) if paths else []
    if not published:
        return rows, []
    extra, notes = load_published(published, evaluated_labels={r.label for r in rows})
    extra, dropped = keep_evaluated_cells(extra, rows)
    return rows + extra, notes + dropped


def refuse_overwriting_inputs(output, paths, published=()) -> None:
    """The report never replaces what it reads: its output may be neither a results folder it
    reads (eval's results.json) nor a folder holding one, nor a published folder or the folder of
    a published file."""
    from polyplatypus.eval.store import ResultsStore
    from polyplatypus.report.published import split_label
    from polyplatypus.utils.outputs import refuse_inputs

    refuse_inputs(
        output, [("results", found.parent) for path in paths for found in ResultsStore.find(path)], holding=True
    )
    published = [split_label(str(argument))[1] for argument in published]  # a file: the folder it is in
    refuse_inputs(output, [("--published", path if path.is_dir() else path.parent) for path in published])


def write_configured_report(config, *, warn=None) -> dict[str, list[Path]]:
    """:func:`write_report` with everything a :class:`polyplatypus.report.config.ReportConfig` sets
    (the ``report`` command and the recipe's report stage)."""
    return write_report(
        config.results,
        config.output_folder,
        baseline=config.baseline,
        resamples=config.resamples,
        confidence=config.confidence,
        seed=config.seed,
        title=config.title,
        intro=config.intro,
        formats=tuple(config.formats),
        published=config.published,
        hub=config.hub(),
        warn=warn,
    )


def write_report(
    paths,
    output: str | Path,
    *,
    baseline: str | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
    title: str = "KoBEST results",
    intro: str = "",
    formats=("md", "html", "png"),
    published=(),
    hub=None,
    warn=None,
) -> dict[str, list[Path]]:
    """Write card.md, card.html, plots/*.png and results.json for the given results folders
    (and ``published``: published results files or folders, ``[LABEL=]PATH``, as baseline rows).
    With ``hub`` (:class:`polyplatypus.report.hub.HubSettings`), also README.md and
    .eval_results/*.yaml for its card model (see :mod:`polyplatypus.report.hub`). ``warn``
    (optional) is called with each cell whose file is missing or unreadable."""
    from polyplatypus.report import html, plots

    unknown = set(formats) - {"md", "html", "png"}
    if unknown:
        raise ConfigError(f"unknown report format(s) {sorted(unknown)}; known: md, html, png")
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths or [])
    refuse_overwriting_inputs(output, paths, published)
    rows, notes = gather_rows(paths, published)
    report = build_report(
        rows,
        baseline=baseline,
        resamples=resamples,
        confidence=confidence,
        seed=seed,
        title=title,
        intro=intro,
        sources=[str(p) for p in paths] + [str(p) for p in published],
    )
    report.published_notes = notes
    if hub is not None:
        from polyplatypus.report.hub import card_cells, write_hub_files

        card_cells(report, hub.card_model)  # an unknown or published card model fails before anything is written
    if warn is not None:
        for cell in report.damaged_cells():
            warn(
                f"{cell.label} {task_title(cell.task)} {cell.shots}-shot: {cell.damaged_cell} (in {cell.source}); "
                "shown without an interval"
            )
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {"json": [output / "results.json"]}
    data = report_json(report)
    if hub is not None:
        written["hub"], hub_notes = write_hub_files(report, output, hub, render_markdown(report))
        data["report"].update({"card_model": hub.card_model, "hub_notes": hub_notes})
    else:  # Hub files of an earlier report with --card-model would now disagree with the card
        from polyplatypus.report.hub import remove_stale_hub_files

        for path in remove_stale_hub_files(output):
            if warn is not None:
                warn(f"removed {path}: written by an earlier report with --card-model, no longer part of this one")
    atomic_write_json(output / "results.json", data)
    images: list[Path] = []
    if "png" in formats or "html" in formats:
        images = plots.write_plots(report, output / "plots") if "png" in formats else []
        written["png"] = images
    if "md" in formats:
        atomic_write_text(output / "card.md", render_markdown(report))
        written["md"] = [output / "card.md"]
    if "html" in formats:
        atomic_write_text(output / "card.html", html.render_html(report, [p.relative_to(output) for p in images]))
        written["html"] = [output / "card.html"]
    return written
