"""Published results files as baseline rows of a report.

Two formats are read:

- the reference ko-lm-evaluation-harness's files (its lm-eval v0.3 fork): ``{"results": {task:
  {metric: value, metric_stderr: value}}, "versions": {...}, "config": {"model_args":
  "pretrained=...", "num_fewshot": k, ...}}``, one file per shot count. Its task names are ours
  (``kobest_copa``), and it names its macro-F1 ``macro_f1`` (a bare ``f1`` is another average);
- lm-evaluation-harness 0.4 results files (``results_<date>.json``, as its ``EvaluationTracker``
  writes them): ``results`` keyed ``metric,filter``, ``n-shot`` per task, ``configs`` with each
  task's ``metric_list``. Their tasks become ``lm_eval:<task>`` rows (lm-eval's ``kobest_*`` use
  other prompts than the reference harness) unless the file was written by ``polyplatypus eval``
  for one of our own tasks (its task config names it in ``polyplatypus_task``). Their ``f1`` is
  macro-F1 only where the task's config says ``average: macro``.

No per-document predictions exist for such rows, so they carry no bootstrap interval and take no
part in the paired tests; every value is kept in full in the report's results.json.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from polyplatypus.errors import ConfigError, DataError
from polyplatypus.eval.lm_eval_results import LM_EVAL_PREFIX, OWN_MODEL_SOURCE, OWN_TASK_KEY
from polyplatypus.eval.store import RESULTS_FILE
from polyplatypus.report.results import Row

V03_HARNESS = "ko-lm-evaluation-harness (lm-eval v0.3 fork)"
LM_EVAL_HARNESS = "lm-evaluation-harness 0.4"
# Metrics kept from a published file, besides macro-F1 (our records' names).
EXTRA_METRICS = ("acc", "acc_norm")


@dataclass
class PublishedFile:
    """One published results file read as records in our results.json layout."""

    path: Path
    harness: str
    model: str  # the row label: LABEL, else the model as the file names it
    records: list[dict]
    left_out: list[str] = field(default_factory=list)  # "task (why)" for tasks without macro-F1
    named: str | None = None  # the model as the file names it (pretrained=..., or our model_name)


def split_label(text: str) -> tuple[str | None, Path]:
    """``LABEL=PATH`` or ``PATH`` (a path that exists as given wins over the ``=`` form)."""
    label, sep, path = str(text).partition("=")
    if sep and label and path and not Path(text).exists():
        return label.strip(), Path(path.strip())
    return None, Path(text)


def published_files(path: Path) -> list[Path]:
    """The JSON files a ``--published`` argument names: the file, or every ``*.json`` under a folder."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError("published results file or folder does not exist", path=path)
    found = sorted((p for p in path.rglob("*.json") if p.is_file()), key=_natural)
    if not found:
        raise DataError("no .json results file in this folder or its subfolders", path=path)
    return found


def _natural(path: Path) -> list:
    """Sort key: 5_shot.json before 10_shot.json."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def read_published(path: str | Path, label: str | None = None) -> PublishedFile:
    """Records (one per task x shot count with a macro-F1) of one published results file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"cannot read published results: {error}", path=path) from None
    kind = detect_format(data)
    if kind is None:
        hint = (
            " (a polyplatypus results.json is given as RESULTS, not --published)"
            if path.name == RESULTS_FILE and isinstance(data, dict) and isinstance(data.get("results"), list)
            else ""
        )
        raise DataError(
            'neither a ko-lm-evaluation-harness (lm-eval v0.3) results file ({"results": {task: {metric: value}}, '
            '"config": {"num_fewshot": ...}}) nor an lm-eval 0.4 results file ({"results": {task: '
            '{"metric,filter": value}}, "n-shot": ...})' + hint,
            path=path,
        )
    read = _read_v03 if kind == "v0.3" else _read_lm_eval
    published = read(path, data, label)
    if not published.records:
        found = sorted({metric for task in data["results"].values() if isinstance(task, dict) for metric in task})
        raise DataError(
            "no task in this file has a metric that matches the card's macro-F1 (metrics found: "
            + ", ".join(found)
            + "; left out: "
            + "; ".join(published.left_out)
            + ")",
            path=path,
        )
    return published


def detect_format(data) -> str | None:
    """``"v0.3"``, ``"lm-eval-0.4"`` or None from a results file's structure."""
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict) or not data["results"]:
        return None
    tasks = [t for t in data["results"].values() if isinstance(t, dict)]
    if len(tasks) != len(data["results"]):
        return None
    keyed_by_filter = any("," in key for task in tasks for key in task)
    if keyed_by_filter and ("n-shot" in data or "configs" in data):
        return "lm-eval-0.4"
    config = data.get("config")
    if not keyed_by_filter and isinstance(config, dict) and "num_fewshot" in config:
        return "v0.3"
    return None


def model_from_args(model_args) -> str | None:
    """``pretrained`` of lm-eval model args (``"pretrained=org/name,dtype=..."`` or a dict)."""
    if isinstance(model_args, dict):
        value = model_args.get("pretrained")
        return str(value) if value else None
    if isinstance(model_args, str):
        for part in model_args.split(","):
            key, sep, value = part.partition("=")
            if sep and key.strip() == "pretrained" and value.strip():
                return value.strip()
    return None


def _number(value, path: Path, where: str) -> float:
    """A score or its standard error: a number in [0, 1]. Percent-scale files (75.3 for 0.753)
    are refused, not guessed: a card would show 75.3 as by far the best score."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise DataError(f"{where}: expected a number, got {value!r}", path=path)
    if not 0.0 <= value <= 1.0:
        scale = " (a percentage? published scores are fractions: write 0.753, not 75.3)" if 1 < value <= 100 else ""
        raise DataError(f"{where}: {value!r} is outside [0, 1]{scale}", path=path)
    return float(value)


def _shot_count(value, path: Path, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DataError(f"{where}: expected a shot count (an integer >= 0), got {value!r}", path=path)
    return value


def _base_record(path: Path, label: str, model: str | None, harness: str, config: dict) -> dict:
    return {
        "model": label,
        "model_path": model,
        "published": True,
        "published_file": str(path),
        "harness": harness,
        "batch_size": config.get("batch_size"),
        "limit": config.get("limit"),
        "dtype": config.get("model_dtype"),
    }


def _read_v03(path: Path, data: dict, label: str | None) -> PublishedFile:
    config = data.get("config") or {}
    shots = _shot_count(config.get("num_fewshot"), path, "config.num_fewshot")
    model = model_from_args(config.get("model_args"))
    label = label or model
    if not label:
        raise DataError("config.model_args names no pretrained= model; give --published LABEL=PATH", path=path)
    harness = f"{V03_HARNESS} {config.get('model') or ''}".strip()
    versions = data.get("versions") or {}
    records, left_out = [], []
    for task, metrics in data["results"].items():
        if "macro_f1" not in metrics:
            why = "its f1 is not a macro average" if "f1" in metrics else "no macro_f1"
            left_out.append(f"{task} ({why})")
            continue
        record = {
            **_base_record(path, label, model, harness, config),
            "task": task,
            "shots": shots,
            "task_version": versions.get(task),
        }
        for metric in ("macro_f1",) + EXTRA_METRICS:
            if metric in metrics:
                record[metric] = _number(metrics[metric], path, f"results.{task}.{metric}")
                if f"{metric}_stderr" in metrics:
                    record[f"{metric}_stderr"] = _number(
                        metrics[f"{metric}_stderr"], path, f"results.{task}.{metric}_stderr"
                    )
        records.append(record)
    return PublishedFile(path=path, harness=harness, model=label, records=records, left_out=left_out, named=model)


def _macro_f1_key(task: str, metrics: dict, task_config: dict, path: Path) -> tuple[str | None, str]:
    """The ``metric,filter`` key holding the task's macro-F1 (None: it has none) and why not."""
    if "macro_f1,none" in metrics:
        return "macro_f1,none", ""
    if "f1,none" not in metrics:
        return None, "no f1"
    for entry in task_config.get("metric_list") or []:
        if isinstance(entry, dict) and entry.get("metric") == "f1":
            if entry.get("average") == "macro" or "macro" in str(entry.get("aggregation", "")):
                return "f1,none", ""
            break
    raise DataError(
        f"task {task}: its f1 cannot be matched to macro-F1: its config (configs.{task}.metric_list) does not say "
        "average: macro",
        path=path,
    )


def _read_lm_eval(path: Path, data: dict, label: str | None) -> PublishedFile:
    config = data.get("config") or {}
    model = model_from_args(config.get("model_args")) or data.get("model_name")
    own = config.get("model") == OWN_MODEL_SOURCE  # written by polyplatypus eval: its row label is model_name
    label = label or (data.get("model_name") if own else None) or model
    if not label:
        raise DataError("config.model_args names no pretrained= model; give --published LABEL=PATH", path=path)
    version = data.get("lm_eval_version")
    if own:
        harness = f"{OWN_MODEL_SOURCE} {data.get('polyplatypus_version') or ''}".strip()
    else:
        harness = f"lm-evaluation-harness {version}" if isinstance(version, str) and version else LM_EVAL_HARNESS
    groups = {name for name, subtasks in (data.get("group_subtasks") or {}).items() if subtasks}
    n_shot, n_samples, configs = data.get("n-shot") or {}, data.get("n-samples") or {}, data.get("configs") or {}
    records, left_out = [], []
    for task, metrics in data["results"].items():
        if task in groups:
            continue  # a group's aggregate: its subtasks are rows of their own
        task_config = configs.get(task) if isinstance(configs.get(task), dict) else {}
        key, why = _macro_f1_key(task, metrics, task_config, path)
        generative = task_config.get("output_type") == "generate_until"
        if key is None and not generative:
            left_out.append(f"{LM_EVAL_PREFIX}{task} ({why})")
            continue
        if task not in n_shot:
            raise DataError(f"task {task} has no shot count (n-shot.{task})", path=path)
        ours = task_config.get(OWN_TASK_KEY)
        record = {
            **_base_record(path, label, model, harness, config),
            "task": ours if isinstance(ours, str) and ours else f"{LM_EVAL_PREFIX}{task}",
            "shots": _shot_count(n_shot[task], path, f"n-shot.{task}"),
            "task_version": (data.get("versions") or {}).get(task),
        }
        if key is None:  # a generative task: shown by its own metrics (exact_match ...) with their stderrs
            records.append({**record, "macro_f1": None, "lm_eval": {"results": {task: dict(metrics)}}})
            continue
        record["macro_f1"] = _number(metrics[key], path, f"results.{task}.{key}")
        stderr_key = key.replace(",", "_stderr,", 1)
        stderr = metrics.get(stderr_key)
        if isinstance(stderr, (int, float)) and not isinstance(stderr, bool) and math.isfinite(stderr):
            record["macro_f1_stderr"] = _number(stderr, path, f"results.{task}.{stderr_key}")
        for metric in EXTRA_METRICS:
            if f"{metric},none" in metrics:
                record[metric] = _number(metrics[f"{metric},none"], path, f"results.{task}.{metric},none")
        samples = n_samples.get(task)
        if isinstance(samples, dict) and isinstance(samples.get("effective"), int):
            record["n"] = samples["effective"]
        records.append(record)
    return PublishedFile(
        path=path,
        harness=harness,
        model=label,
        records=records,
        left_out=left_out,
        named=(data.get("model_name") if own else None) or model,
    )


def load_published(arguments, evaluated_labels=()) -> tuple[list[Row], list[str]]:
    """Rows of every file the ``--published`` arguments name, and notes on what was left out.

    A model named by two folders (the reference harness publishes some models under several
    folders) gets the folder name added; a label that an evaluated model already has is an error.
    """
    files: list[PublishedFile] = []
    seen: set[Path] = set()
    for argument in arguments:
        label, path = split_label(argument)
        read = []
        for file in published_files(path):
            if file.resolve() not in seen:
                seen.add(file.resolve())
                read.append(read_published(file, label))
        if label is not None and len({f.named for f in read}) > 1:
            raise ConfigError(
                f"--published {argument}: {path} holds several models' results; one LABEL cannot name "
                "them all (give each model's folder its own LABEL=PATH)"
            )
        files += read
    clashing = _clashing_models(files)
    rows: list[Row] = []
    left_out: dict[str, list[str]] = {}
    taken: dict[tuple, Path] = {}
    for published in files:
        shown = published.model
        if shown in clashing:  # one model published under several folders: tell them apart
            shown = f"{published.model} ({published.path.parent.name})"
        if shown in evaluated_labels:
            raise DataError(
                f"the published model {shown!r} has the label of an evaluated model; "
                "give it another with --published LABEL=PATH",
                path=published.path,
            )
        for record in published.records:
            record["model"] = shown
            key = (shown, record["task"], record["shots"])
            if key in taken:
                raise DataError(
                    f"a second result for {shown} {record['task']} {record['shots']}-shot "
                    f"(the first is in {taken[key]})",
                    path=published.path,
                )
            taken[key] = published.path
            rows.append(Row(label=shown, record=record, source=published.path))
        for entry in published.left_out:
            if entry not in left_out.setdefault(shown, []):
                left_out[shown].append(entry)
    return rows, [f"{label}: {', '.join(entries)}" for label, entries in left_out.items()]


def _clashing_models(files: list[PublishedFile]) -> set[str]:
    """Labels with results for the same task and shot count in files of different folders."""
    owner: dict[tuple, Path] = {}
    clashing = set()
    for published in files:
        for record in published.records:
            key = (published.model, record["task"], record["shots"])
            folder = owner.setdefault(key, published.path.parent.resolve())
            if folder != published.path.parent.resolve():
                clashing.add(published.model)
    return clashing


def keep_evaluated_cells(rows: list[Row], evaluated: list[Row]) -> tuple[list[Row], list[str]]:
    """The published rows on tasks and shot counts that the evaluated rows have (all of them
    when nothing was evaluated), and a note per model on what was left out."""
    if not evaluated:
        return rows, []
    tasks = {r.task for r in evaluated}
    shots = {r.shots for r in evaluated}
    kept, dropped = [], {}
    for row in rows:
        if row.task in tasks and row.shots in shots:
            kept.append(row)
        else:
            dropped.setdefault(row.label, {}).setdefault(row.task, []).append(row.shots)
    return kept, [
        f"{label}: "
        + ", ".join(f"{task} ({', '.join(str(k) for k in sorted(ks))}-shot)" for task, ks in by_task.items())
        for label, by_task in dropped.items()
    ]
