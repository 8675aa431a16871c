"""Hub-ready evaluation results for the one model a card is about (``report --card-model``).

Two things, both made with huggingface_hub's own API:

- ``.eval_results/<task>.yaml``: one ``EvalResultEntry`` per task x shot count x metric (the Hub's
  current format). An entry has no metric or shot field, so both go into its ``notes``
  (``"5-shot macro_f1; ..."``), which :func:`read_entry_notes` reads back;
- ``README.md``: ``ModelCardData`` metadata (the legacy ``model-index`` from ``EvalResult``s, each
  metric named ``"macro_f1 (5-shot)"`` with ``args: {num_fewshot: 5}``, since the model-index
  groups results by task and dataset and keeps one ``dataset.args``; ``base_model``, ``datasets``,
  ``language: ko``, ``license``, ``library_name``, ``tags``) followed by the card.

``base_model`` and ``datasets`` come from the run's records where they are known (a merged model's
``polyplatypus.json`` names its base and adapter; the adapter's training summary names its data,
whose curation report names the sources) and from the flags otherwise; a value that is not a Hub
id (a local folder) is left out, with a note. Nothing here reaches the network.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from polyplatypus.errors import ConfigError, OutputError
from polyplatypus.eval.lm_eval_results import task_dataset
from polyplatypus.eval.tables import task_title
from polyplatypus.utils.io import atomic_copy, atomic_write_text, inside, safe_part

EVAL_RESULTS_DIR = ".eval_results"
README = "README.md"
HUB_METRICS = {"macro_f1": ("f1", {"average": "macro"}), "acc": ("accuracy", {}), "acc_norm": ("acc_norm", {})}
PROJECT_TAG = "polyplatypus"
DEFAULT_TAGS = (PROJECT_TAG, "korean", "kobest")
_NOTES = re.compile(r"^(?P<shots>\d+)-shot (?P<metric>\w+)(?:;|$)")


@dataclass
class HubSettings:
    """What ``--card-model`` and its companion flags ask for."""

    card_model: str
    base_model: str | None = None
    datasets: list[str] = field(default_factory=list)
    license: str | None = None
    library_name: str = "transformers"
    tags: list[str] = field(default_factory=list)
    model_dir: str | Path | None = None


def is_hub_id(text: str | None) -> bool:
    """``owner/name`` (or a bare ``name``) as the Hub spells ids, and not a local path."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if not text or text.startswith(("/", ".", "~")) or text.count("/") > 1 or Path(text).expanduser().exists():
        return False
    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


def run_metadata(model_path: str | None) -> dict:
    """``base_model`` and ``datasets`` as the run's records give them for a merged model folder."""
    from polyplatypus.data.curate import report_path_for
    from polyplatypus.train.merge import METADATA_FILE

    folder = Path(model_path) if model_path else None
    if folder is None or not (folder / METADATA_FILE).is_file():
        return {}
    meta = _read_json(folder / METADATA_FILE)
    found = {"base_model": meta.get("base")}
    summary = _read_json(Path(str(meta.get("adapter") or "")) / "train_summary.json")
    data = (summary.get("config") or {}).get("data")
    if data:
        sources = _read_json(report_path_for(data)).get("sources") or []
        found["datasets"] = [s["source"] if isinstance(s, dict) else s for s in sources] or [data]
    return found


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def card_metadata(settings: HubSettings, model_path: str | None) -> tuple[dict, list[str]]:
    """The metadata fields (flags win over the records) and notes on the values left out."""
    from polyplatypus.data.instructions import HUB_PREFIX

    known = run_metadata(model_path)
    notes = []
    base = settings.base_model or known.get("base_model")
    if base and not is_hub_id(base):
        notes.append(f"base_model {base!r} is not a Hub id: left out (give --base-model)")
        base = None
    datasets = []
    for name in settings.datasets or known.get("datasets") or []:
        name = name[len(HUB_PREFIX) :] if name.startswith(HUB_PREFIX) else name
        if is_hub_id(name):
            datasets.append(name)
        else:
            notes.append(f"dataset {name!r} is not a Hub id: left out (give --datasets)")
    if not settings.license:
        notes.append("license: none given (--license)")
    tags = list(dict.fromkeys([*DEFAULT_TAGS, *settings.tags]))
    return {
        "base_model": base,
        "datasets": datasets or None,
        "language": "ko",
        "license": settings.license or None,
        "library_name": settings.library_name or None,
        "tags": tags,
    }, notes


def card_cells(report, card_model: str) -> list:
    """The card model's cells; an unknown or published label is an error."""
    if card_model not in report.models:
        raise ConfigError(
            f"--card-model {card_model!r} is not a model of this report; known: "
            + ", ".join(m for m in report.models if not report.is_published(m))
        )
    if report.is_published(card_model):
        raise ConfigError(
            f"--card-model {card_model!r} is a published baseline; baselines are never listed as the "
            "card model's results"
        )
    return [
        report.cells[(t, card_model, k)]
        for t in report.tasks
        for k in report.shots
        if (t, card_model, k) in report.cells
    ]


def entry_notes(shots: int, metric: str, task: str) -> str:
    prompts = "lm-evaluation-harness prompts" if task.startswith("lm_eval:") else "ko-lm-evaluation-harness prompts"
    return f"{shots}-shot {metric}; {task} ({prompts}), scored by polyplatypus"


def read_entry_notes(notes: str | None) -> tuple[int, str] | None:
    """(shots, metric) from an entry's notes as :func:`entry_notes` writes them."""
    match = _NOTES.match(notes or "")
    return (int(match.group("shots")), match.group("metric")) if match else None


def _split_name(task: str, record: dict) -> str:
    """The split the cell's documents come from: the task's evaluation split."""
    if task.startswith("lm_eval:"):
        for config in ((record.get("lm_eval") or {}).get("configs") or {}).values():
            split = config.get("test_split") or config.get("validation_split")
            if split:
                return str(split)
        return "test"
    from polyplatypus.tasks.registry import get_task

    try:
        return str(getattr(get_task(task), "eval_split", None) or "test")
    except Exception:  # a task this version does not know
        return "test"


def evaluated_split(task: str, record: dict) -> tuple[str, dict, str | None]:
    """(split as the Hub files name it, dataset args, a note) for the documents a cell scored: a
    ``--limit`` run is ``test[:50]`` with its count in the args and the note, never ``test``."""
    split, limit, n = _split_name(task, record), record.get("limit"), record.get("n")
    if limit is None or not isinstance(n, int) or (limit >= 1 and n < limit):  # the whole split
        return split, {}, None
    order = "in the split's order" if task.startswith("lm_eval:") else "after the reference harness's shuffle"
    note = (
        f"{n} documents of the {split} split only (--limit {limit}: the first {n} {order}); "
        "not a score on the whole split"
    )
    return f"{split}[:{n}]", {"limit": limit, "documents": n}, note


def hub_results(cells) -> tuple[dict[str, list], list, list[str]]:
    """EvalResultEntry lists per task, EvalResult list, and notes on tasks without a Hub dataset
    and on limited runs."""
    from huggingface_hub import EvalResult, EvalResultEntry

    entries: dict[str, list] = {}
    legacy, notes = [], []
    for cell in cells:
        dataset = task_dataset(cell.task, cell.record)
        if dataset is None:
            note = f"{cell.task}: no Hub dataset known, left out of the Hub files"
            if note not in notes:
                notes.append(note)
            continue
        dataset_id, config = dataset
        split, dataset_args, limited = evaluated_split(cell.task, cell.record)
        if limited and f"{cell.task}: {limited}" not in notes:
            notes.append(f"{cell.task}: {limited}")
        for metric, (hub_type, args) in HUB_METRICS.items():
            value = cell.record.get(metric)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            entries.setdefault(cell.task, []).append(
                EvalResultEntry(
                    dataset_id=dataset_id,
                    task_id=config,
                    value=float(value),
                    date=cell.record.get("date"),
                    notes=entry_notes(cell.shots, metric, cell.task) + (f"; {limited}" if limited else ""),
                )
            )
            legacy.append(
                EvalResult(
                    task_type="text-generation",
                    dataset_type=dataset_id,
                    dataset_name=f"KoBEST {task_title(cell.task)}" if dataset_id == "skt/kobest_v1" else dataset_id,
                    dataset_config=config,
                    dataset_split=split,
                    dataset_args=dataset_args or None,
                    metric_type=hub_type,
                    metric_value=float(value),
                    metric_name=f"{metric} ({cell.shots}-shot)",
                    metric_args={"num_fewshot": cell.shots, **args},
                )
            )
    return entries, legacy, notes


def written_by_us(path: Path) -> bool:
    """Whether a Hub file is one ``report`` wrote: a README.md tagged ``polyplatypus``, or an
    ``.eval_results`` file whose every entry has the notes :func:`entry_notes` writes. A file a
    user wrote or edited into another form is never ours."""
    import yaml
    from huggingface_hub import ModelCard

    try:
        if path.name == README:
            return PROJECT_TAG in (ModelCard.load(path).data.tags or [])
        entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    except Exception:
        return False
    return (
        isinstance(entries, list)
        and bool(entries)
        and all(
            isinstance(e, dict)
            and read_entry_notes(str(e.get("notes") or "")) is not None
            and "scored by polyplatypus" in str(e.get("notes"))
            for e in entries
        )
    )


def remove_stale_hub_files(folder: Path, keep=()) -> list[Path]:
    """Remove from ``folder`` the Hub files an earlier ``report`` wrote that this one did not
    (``keep``): a task no longer reported, or all of them when no card model is named now."""
    keep = {Path(p) for p in keep}
    candidates = [folder / README, *sorted((folder / EVAL_RESULTS_DIR).glob("*.yaml"))]
    removed = [path for path in candidates if path not in keep and path.is_file() and written_by_us(path)]
    for path in removed:
        path.unlink()
    return removed


def write_hub_files(report, output: Path, settings: HubSettings, card_markdown: str) -> tuple[list[Path], list[str]]:
    """Write ``.eval_results/*.yaml`` and ``README.md`` into ``output`` (and copy them into
    ``settings.model_dir``), removing the ones an earlier report wrote there that are now out of
    date; returns the files written and notes on what was left out or removed."""
    import yaml
    from huggingface_hub import ModelCard, ModelCardData, eval_result_entries_to_yaml

    cells = card_cells(report, settings.card_model)
    if settings.model_dir is not None:  # before anything is written: --output may be the model folder itself
        check_model_dir(Path(settings.model_dir))
    entries, legacy, notes = hub_results(cells)
    model_paths = {c.record.get("model_path") for c in cells}
    metadata, more = card_metadata(settings, next(iter(model_paths)) if len(model_paths) == 1 else None)
    notes += more
    written = []
    for task, task_entries in entries.items():
        path = inside(output, EVAL_RESULTS_DIR, safe_part(task.replace(":", "-")) + ".yaml")
        atomic_write_text(
            path, yaml.safe_dump(eval_result_entries_to_yaml(task_entries), sort_keys=False, allow_unicode=True)
        )
        written.append(path)
    data = ModelCardData(
        model_name=settings.card_model,
        eval_results=legacy or None,
        **{k: v for k, v in metadata.items() if v is not None},
    )
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n{card_markdown}")
    atomic_write_text(output / README, str(card))
    written.append(output / README)
    removed = remove_stale_hub_files(output, written)
    if settings.model_dir is not None:
        copied = copy_to_model_dir(output, Path(settings.model_dir), [p for p in written if p.suffix == ".yaml"])
        removed += remove_stale_hub_files(Path(settings.model_dir), copied)
        written += copied
    notes += [f"removed {path}: written by an earlier report, no longer part of this one" for path in removed]
    return written, notes


def check_model_dir(model_dir: Path) -> None:
    """A model folder the Hub files can go into: a README.md not written by us is kept."""
    from huggingface_hub import ModelCard

    if not model_dir.is_dir():
        raise OutputError(f"--model-dir {model_dir}: not a folder (give the model folder to upload)")
    readme = model_dir / README
    if readme.is_file():
        try:
            ours = PROJECT_TAG in (ModelCard.load(readme).data.tags or [])
        except Exception:
            ours = False
        if not ours:
            raise OutputError(
                f"{readme} exists and was not written by polyplatypus report; move it away, or "
                "merge the report's README.md into it by hand"
            )


def copy_to_model_dir(output: Path, model_dir: Path, result_files: list[Path]) -> list[Path]:
    """README.md and .eval_results/ into a model folder (checked by :func:`check_model_dir`)."""
    if model_dir.resolve() == output.resolve():
        return []  # --output is the model folder: written there already
    readme = model_dir / README
    copied = [readme]
    # A hub-cache snapshot's files are links into its blob store: replace them, never write through.
    atomic_copy(output / README, readme)
    for path in result_files:
        target = inside(model_dir, EVAL_RESULTS_DIR, path.name)
        atomic_copy(path, target)
        copied.append(target)
    return copied
