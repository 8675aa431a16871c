"""The evaluation grid: models × tasks × shot counts, resumable cell by cell.

Each finished (model, task, shots) cell is written atomically to
``OUTPUT/cells/<model>/<task>_<k>shot.json`` as soon as it completes; a re-run of the same
command skips cells whose file exists with the same settings. At the end ``results.json``
(records + configuration + versions) and ``results.md`` (model-card tables) are written.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
from pathlib import Path
from typing import Iterable, Sequence

from polyplatypus import __version__
from polyplatypus.data.kobest import describe_source, load_kobest
from polyplatypus.errors import ConfigError
from polyplatypus.eval.distributed import device_for_process, is_main_process, score_split
from polyplatypus.eval.metrics import accuracy, macro_f1, predict, predict_length_normalized
from polyplatypus.eval.models import ModelSpec, load_model, model_dtype_name
from polyplatypus.eval.requests import build_requests
from polyplatypus.eval.scorer import RequestScorer
from polyplatypus.tasks.registry import ChoiceTask, all_task_names, get_task
from polyplatypus.utils.io import atomic_write_json, atomic_write_jsonl, atomic_write_text

DEFAULT_SHOTS = (0, 5, 10, 50)
# Settings that change a cell's numbers: a stored cell is reused only when they all match.
CELL_KEY_FIELDS = ("model_path", "task", "shots", "limit", "dtype_requested", "data_source", "scorer")


def versions() -> dict:
    import torch
    import transformers

    return {
        "polyplatypus": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }


def score_cell(model, tokenizer, task: ChoiceTask, shots: int, *, kobest_dir=None, limit=None,
               batch_size: int = 1, scorer: str = "shared", progress=None) -> tuple[dict, list[dict]]:
    """Score one (task, shots) cell; returns (metrics, per-document samples)."""
    eval_docs = load_kobest(task.source, task.eval_split, kobest_dir)
    train_docs = load_kobest(task.source, task.fewshot_split, kobest_dir) if shots else []
    requests = build_requests(task, eval_docs, train_docs, shots, limit)
    engine = make_scorer(scorer, model, tokenizer, batch_size=batch_size)
    scored = score_split(engine, requests, progress=progress)
    golds, preds, preds_norm, samples = [], [], [], []
    for request, result in zip(requests, scored):
        pred = predict(result.loglikelihoods)
        golds.append(request.gold)
        preds.append(pred)
        sample = {
            "doc_index": request.doc_index,
            "position": request.position,
            "loglikelihoods": result.loglikelihoods,
            "pred": pred,
            "gold": request.gold,
            "truncated": result.truncated,
            "rescored": result.rescored,
            "continuations": list(request.continuations),
            "prompt": request.context,
        }
        if task.length_normalized:
            sample["pred_norm"] = predict_length_normalized(result.loglikelihoods, task.doc_to_choices(request.doc))
            preds_norm.append(sample["pred_norm"])
        samples.append(sample)
    metrics = {
        "macro_f1": macro_f1(golds, preds),
        "acc": accuracy(golds, preds),
        "n": len(requests),
        "truncated": sum(s["truncated"] for s in samples),
        "max_length": engine.max_length,
        "forwarded_tokens": sum(r.forwarded_tokens for r in scored),
        "minimum_tokens": sum(r.minimum_tokens for r in scored),
        "rescored": sum(r.rescored for r in scored),  # half-precision near-ties scored the reference way
        "golds": golds,
        "preds": preds,
    }
    if task.length_normalized:
        metrics["acc_norm"] = accuracy(golds, preds_norm)
    return metrics, samples


def make_scorer(kind: str, model, tokenizer, *, batch_size: int = 1):
    if kind == "reference":
        return RequestScorer(model, tokenizer, batch_size=batch_size)
    if kind == "shared":
        from polyplatypus.eval.shared_context import SharedContextScorer

        return SharedContextScorer(model, tokenizer, batch_size=batch_size)
    raise ConfigError(f"unknown scorer {kind!r}; choose 'shared' (fast) or 'reference' (one row per request)")


def _parse_shots(shots: Iterable[int] | str) -> list[int]:
    if isinstance(shots, str):
        shots = [s for s in shots.split(",") if s.strip()]
    try:
        values = [int(s) for s in shots]
    except ValueError:
        raise ConfigError(f"shots must be integers, got {shots!r}") from None
    if any(v < 0 for v in values):
        raise ConfigError(f"shots must be >= 0, got {values}")
    return values


def _parse_tasks(tasks) -> list[ChoiceTask]:
    if tasks is None:
        tasks = all_task_names()
    if isinstance(tasks, str):
        tasks = [t for t in tasks.split(",") if t.strip()]
    return [get_task(t) for t in tasks]


def _cell_path(output: Path, spec: ModelSpec, task: ChoiceTask, shots: int) -> Path:
    return output / "cells" / spec.slug / f"{task.name}_{shots}shot.json"


def _load_cell(path: Path, key: dict) -> dict | None:
    if not path.is_file():
        return None
    try:
        cell = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None  # an unreadable cell is recomputed
    return cell if all(cell.get(k) == v for k, v in key.items()) else None


def evaluate(
    models: Sequence[str | ModelSpec],
    tasks: Sequence[str] | str | None = None,
    shots: Sequence[int] | str = DEFAULT_SHOTS,
    *,
    output: str | Path | None = None,
    kobest_dir: str | Path | None = None,
    limit: int | None = None,
    dtype: str = "auto",
    device: str = "auto",
    device_map: str | None = None,
    batch_size: int | str = 1,
    scorer: str = "shared",
    log_samples: bool = False,
    progress: bool = True,
) -> list[dict]:
    """Evaluate each model on each task at each shot count; returns one record per cell.

    ``models`` are paths/hub ids, optionally ``label=path``. With ``output``, cells are saved as
    they finish and reused on a re-run, and results.json / results.md are written.
    """
    specs = [m if isinstance(m, ModelSpec) else ModelSpec.parse(m) for m in models]
    if not specs:
        raise ConfigError("no model given")
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"two models share a label: {labels}; name them with label=path")
    task_list = _parse_tasks(tasks)
    shot_list = _parse_shots(shots)
    if limit is not None and int(limit) < 1:
        raise ConfigError(f"limit must be a positive number of documents, got {limit}")
    data_source = describe_source(kobest_dir)
    # Fail on data problems before loading any model.
    for task in task_list:
        load_kobest(task.source, task.eval_split, kobest_dir)
        if any(shot_list):
            train = load_kobest(task.source, task.fewshot_split, kobest_dir)
            if max(shot_list) > len(train):
                raise ConfigError(
                    f"{task.name}: {max(shot_list)} shots asked but its {task.fewshot_split} split has {len(train)} documents"
                )
    out_dir = Path(output) if output is not None else None
    records: list[dict] = []
    for spec in specs:
        keys = {
            (task.name, k): {
                "model_path": spec.path, "task": task.name, "shots": k, "limit": limit,
                "dtype_requested": dtype, "data_source": data_source, "scorer": scorer,
            }
            for task in task_list for k in shot_list
        }
        done = {}
        if out_dir is not None:
            for task in task_list:
                for k in shot_list:
                    cell = _load_cell(_cell_path(out_dir, spec, task, k), keys[(task.name, k)])
                    if cell is not None:
                        done[(task.name, k)] = cell
        model = tokenizer = None
        resolved_batch = None
        for task in task_list:
            for k in shot_list:
                if (task.name, k) in done:
                    records.append(_public(done[(task.name, k)]))
                    continue
                if model is None:
                    model, tokenizer = load_model(spec.path, dtype=dtype, device=device_for_process(device),
                                                  device_map=device_map)
                    resolved_batch = resolve_batch_size(batch_size, model)
                cell = _run_cell(spec, model, tokenizer, task, k, keys[(task.name, k)], kobest_dir=kobest_dir,
                                 limit=limit, batch_size=resolved_batch, scorer=scorer, progress=progress,
                                 out_dir=out_dir, log_samples=log_samples, data_source=data_source)
                records.append(_public(cell))
        del model
    if out_dir is not None and is_main_process():
        write_results(out_dir, records, config={
            "models": [{"label": s.label, "path": s.path} for s in specs],
            "tasks": [t.name for t in task_list], "shots": shot_list, "limit": limit, "dtype": dtype,
            "device": device, "device_map": device_map, "batch_size": batch_size, "scorer": scorer,
            "data_source": data_source,
        })
    return records


def resolve_batch_size(batch_size, model) -> int:
    if batch_size == "auto":
        from polyplatypus.eval.batching import auto_batch_size

        return auto_batch_size(model)
    try:
        value = int(batch_size)
    except (TypeError, ValueError):
        raise ConfigError(f"batch size must be a positive integer or 'auto', got {batch_size!r}") from None
    if value < 1:
        raise ConfigError(f"batch size must be a positive integer or 'auto', got {batch_size!r}")
    return value


def _run_cell(spec, model, tokenizer, task, shots, key, *, kobest_dir, limit, batch_size, scorer, progress,
              out_dir, log_samples, data_source) -> dict:
    from tqdm.auto import tqdm

    n_docs = len(load_kobest(task.source, task.eval_split, kobest_dir))
    total = min(n_docs, limit) if limit else n_docs
    with tqdm(total=total, desc=f"{spec.label} | {task.name} | {shots}-shot", unit="doc",
              disable=not progress or not is_main_process(), bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]") as bar:
        metrics, samples = score_cell(model, tokenizer, task, shots, kobest_dir=kobest_dir, limit=limit,
                                      batch_size=batch_size, scorer=scorer, progress=bar.update)
    cell = {
        "model": spec.label,
        **key,
        **metrics,
        "dtype": model_dtype_name(model),
        "batch_size": batch_size,
        "version": __version__,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if out_dir is not None and is_main_process():
        atomic_write_json(_cell_path(out_dir, spec, task, shots), cell)
        if log_samples:
            atomic_write_jsonl(out_dir / "samples" / spec.slug / f"{task.name}_{shots}shot.jsonl", samples)
    return cell


def _public(cell: dict) -> dict:
    """A cell as a results.json record (per-document arrays stay in the cell file)."""
    return {k: v for k, v in cell.items() if k not in ("golds", "preds")}


def write_results(out_dir: Path, records: list[dict], config: dict) -> None:
    from polyplatypus.report.tables import results_markdown

    atomic_write_json(out_dir / "results.json", {
        "results": records,
        "config": config,
        "versions": versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    })
    atomic_write_text(out_dir / "results.md", results_markdown(records))
