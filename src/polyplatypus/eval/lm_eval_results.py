"""Evaluation records as lm-evaluation-harness 0.4 results files, for tools that read those.

For each model and shot count, one file in lm-eval 0.4's results schema
(``lm_eval.result_schema.EvalResults``), laid out as its ``EvaluationTracker`` lays them out under
an output path: ``<root>/<k>-shot/<model>/results_<date>.json`` (``<model>`` sanitized as lm-eval
sanitizes model names; one ``<k>-shot`` folder per shot count, as a user running lm-eval with
``--output_path <root>/<k>-shot`` would get). It holds:

- ``results``: per task, ``macro_f1,none``, ``acc,none`` (and ``acc_norm,none`` where scored) with
  ``acc_stderr,none`` / ``acc_norm_stderr,none`` by lm-eval's formula for a mean, the sample
  standard deviation over documents divided by sqrt(n): sqrt(acc (1 - acc) / (n - 1)). Macro-F1
  is not a mean over documents and gets no stderr key: lm-eval 0.4.13 reports none for kobest's
  macro-F1 aggregation either (it writes "N/A", which its own schema rejects);
- ``versions``, ``n-shot``, ``configs`` (flat strings: the task, its data, and which polyplatypus
  task it is), ``config`` (``model_args`` ``pretrained=<model path>``, dtype, batch size,
  limit), ``n-samples`` and ``higher_is_better``.

That is for our own (reference) tasks. An ``lm_eval:<task or group>`` cell is written as lm-eval
computed it (the record keeps lm-eval's results dict): ``results`` with the task's own metrics and
stderrs under lm-eval's names (``acc,none``, ``f1,none``, ... and its "N/A" where it has no
stderr), an entry per subtask and subgroup, ``groups``, ``group_subtasks``, ``versions`` (the
tasks' ``metadata.version``), ``n-shot``, ``higher_is_better``, ``n-samples``, and ``configs``
with each task's data and scoring (``dataset_path``, ``dataset_name``, ``dataset_kwargs``,
splits, ``metric_list``, ``metadata``); our pooled macro-F1 stays in results.json.

Task names are lm-eval's: ``lm_eval:kobest_boolq`` is written as ``kobest_boolq``; our own tasks
keep their names (the reference harness's) and their config says so under ``polyplatypus_task``,
so ``polyplatypus report --published`` reads them back as the same tasks.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from pathlib import Path

LM_EVAL_PREFIX = "lm_eval:"
OWN_TASK_KEY = "polyplatypus_task"  # in configs[task]: the polyplatypus task this entry is
OWN_MODEL_SOURCE = "polyplatypus"  # config.model and model_source of these files
LM_EVAL_FOLDER = "lm_eval"  # under an eval output folder
# Record metrics written, in our records' names; each is "higher is better".
METRICS = ("macro_f1", "acc", "acc_norm")
MEAN_METRICS = ("acc", "acc_norm")  # means over documents: these get lm-eval's stderr
# A results file's per-task parts, in lm-eval's order ("groups" only where there is a group)
FILE_PARTS = ("results", "groups", "group_subtasks", "configs", "versions", "n-shot", "higher_is_better", "n-samples")


def sanitize_model_name(name: str) -> str:
    """A model name made a folder name the way lm-eval's EvaluationTracker makes it."""
    return re.sub(r"[\"<>:/|\\?*\[\]]+", "__", name)


def mean_stderr(value: float, n: int) -> float | None:
    """lm-eval's stderr of a mean of 0/1 scores: sample standard deviation / sqrt(n)."""
    if not isinstance(n, int) or n < 2:
        return None
    return math.sqrt(value * (1.0 - value) / (n - 1))


def lm_eval_task_name(task: str) -> str:
    return task[len(LM_EVAL_PREFIX) :] if task.startswith(LM_EVAL_PREFIX) else task


def task_dataset(task: str, record: dict | None = None) -> tuple[str, str] | None:
    """(Hub dataset id, configuration) a task's documents come from, where known: the record's
    own ``dataset_path``/``dataset_name``, else a KoBEST task's (ours, or lm-eval's ``kobest_*``)."""
    from polyplatypus.data.kobest import HUB_DATASET, SOURCES

    record = record or {}
    if record.get("dataset_path"):
        return str(record["dataset_path"]), str(record.get("dataset_name") or "default")
    source = None
    if not task.startswith(LM_EVAL_PREFIX):
        from polyplatypus.tasks.registry import get_task

        try:
            source = getattr(get_task(task), "source", None)
        except Exception:  # a task this version does not know
            source = None
    if source not in SOURCES and lm_eval_task_name(task).startswith("kobest_"):
        source = lm_eval_task_name(task).removeprefix("kobest_")  # lm-eval's kobest_* read skt/kobest_v1 too
    if source in SOURCES:
        return HUB_DATASET, SOURCES[source].hub_name
    return None


def _task_config(task: str, record: dict, dataset: tuple[str, str] | None) -> dict:
    name = lm_eval_task_name(task)
    config = {"task": name, "output_type": "multiple_choice"}
    if dataset is not None:
        config["dataset_path"], config["dataset_name"] = dataset
    if not task.startswith(LM_EVAL_PREFIX):
        config[OWN_TASK_KEY] = task  # prompts and scoring are the reference harness's, not lm-eval's
    if record.get("data_source"):
        config["data_source"] = str(record["data_source"])
    return config


def _task_results(name: str, record: dict) -> dict:
    n = record.get("n")
    entry = {"name": name, "alias": name, "sample_len": int(n) if isinstance(n, int) else 0}
    for metric in METRICS:
        value = record.get(metric)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            entry[f"{metric},none"] = float(value)
            stderr = mean_stderr(float(value), n) if metric in MEAN_METRICS else None
            if stderr is not None:
                entry[f"{metric}_stderr,none"] = stderr
    return entry


def _own_entries(record: dict, shots: int, datasets) -> dict[str, dict]:
    """A record of ours (or an lm-eval record without lm-eval's results) as the file's entries."""
    name = lm_eval_task_name(record["task"])
    entry = _task_results(name, record)
    n = record.get("n") if isinstance(record.get("n"), int) else 0
    return {
        "results": {name: entry},
        "group_subtasks": {name: []},
        "configs": {name: _task_config(record["task"], record, datasets(record["task"]) if datasets else None)},
        "versions": {name: record.get("task_version")},
        "n-shot": {name: shots},
        "higher_is_better": {name: {m: True for m in METRICS if f"{m},none" in entry}},
        "n-samples": {name: {"original": int(record.get("n_documents") or n), "effective": n}},
    }


def _lm_eval_entries(own: dict) -> dict[str, dict]:
    """An lm-eval cell's entries as lm-eval computed them (its task's and every subtask's and
    subgroup's metrics, versions, shots and sample counts), with each task's data and scoring config."""
    return {part: dict(own.get(part) or {}) for part in FILE_PARTS}


def lm_eval_results(
    records: list[dict],
    config: dict | None = None,
    *,
    versions: dict | None = None,
    when: _dt.datetime | None = None,
    datasets=None,
) -> dict[tuple[str, int], dict]:
    """lm-eval 0.4 results objects, one per (model label, shot count), from results.json records.

    ``config`` is results.json's configuration (device, batch size asked for), ``versions`` its
    package versions; ``datasets(task) -> (dataset_path, dataset_name) | None`` names a task's data.
    """
    config, versions = config or {}, versions or {}
    when = when or _dt.datetime.now(_dt.timezone.utc)
    grouped: dict[tuple[str, int], list[dict]] = {}
    for record in records:
        grouped.setdefault((record["model"], int(record["shots"])), []).append(record)
    files = {}
    for (label, shots), cells in grouped.items():
        first = cells[0]
        parts = {part: {} for part in FILE_PARTS}
        for record in cells:
            own = record.get("lm_eval") if record["task"].startswith(LM_EVAL_PREFIX) else None
            entries = _lm_eval_entries(own) if isinstance(own, dict) else _own_entries(record, shots, datasets)
            for part, values in entries.items():
                parts[part].update(values)
        batch_size = first.get("batch_size", config.get("batch_size"))
        files[(label, shots)] = {
            **{part: values for part, values in parts.items() if values or part != "groups"},
            "config": {
                "model": OWN_MODEL_SOURCE,
                "model_args": f"pretrained={first.get('model_path') or label}"
                + (f",peft={first['adapter_path']}" if first.get("adapter_path") else ""),
                "model_dtype": str(first.get("dtype")) if first.get("dtype") else None,
                "batch_size": None if batch_size is None else str(batch_size),
                "device": config.get("device"),
                "limit": first.get("limit"),
            },
            "date": when.timestamp(),
            "model_source": OWN_MODEL_SOURCE,
            "model_name": label,
            "model_name_sanitized": sanitize_model_name(label),
            "transformers_version": versions.get("transformers"),
            "polyplatypus_version": first.get("version") or versions.get("polyplatypus"),
        }
        files[(label, shots)] = {k: v for k, v in files[(label, shots)].items() if v is not None}
    return files


def results_path(root: Path, label: str, shots: int, when: _dt.datetime) -> Path:
    """``<root>/<k>-shot/<model>/results_<date>.json``, the date as EvaluationTracker writes it."""
    date_id = when.replace(tzinfo=None).isoformat().replace(":", "-")
    from polyplatypus.utils.io import inside

    folder = sanitize_model_name(label)
    folder = "_" + folder[1:] if folder.startswith(".") else folder  # never "..": inside checks the rest
    return inside(Path(root), f"{shots}-shot", folder, f"results_{date_id}.json")


def write_lm_eval_results(
    root: str | Path, records: list[dict], config: dict | None = None, *, versions: dict | None = None, datasets=None
) -> list[Path]:
    """Write :func:`lm_eval_results` under ``root``; an earlier results file of the same model and
    shot count is removed once the new one is written (results.json holds only the latest too)."""
    from polyplatypus.utils.io import atomic_write_json

    when = _dt.datetime.now(_dt.timezone.utc)
    written = []
    for (label, shots), data in lm_eval_results(
        records, config, versions=versions, when=when, datasets=datasets
    ).items():
        path = results_path(Path(root), label, shots, when)
        atomic_write_json(path, data)
        for old in path.parent.glob("results_*.json"):
            if old != path:
                old.unlink(missing_ok=True)
        written.append(path)
    return written
