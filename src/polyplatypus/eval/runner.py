"""The evaluation grid: models × tasks × shot counts, resumable cell by cell.

:func:`evaluate` reads as three steps: :func:`plan` (settings, data and output checks, before any
model loads), :func:`run` (each model's unfinished cells, reusing the finished ones) and
:func:`write` (results.json and results.md). What lies on disk, and when a stored cell is reused,
is :mod:`polyplatypus.eval.store`'s business.
"""

from __future__ import annotations

import datetime as _dt
import platform
from dataclasses import dataclass
from typing import Sequence

from polyplatypus import __version__
from polyplatypus.data.kobest import describe_source, load_kobest
from polyplatypus.errors import ConfigError
from polyplatypus.eval.config import EvalConfig
from polyplatypus.eval.distributed import device_for_process, is_main_process, score_split
from polyplatypus.eval.metrics import accuracy, macro_f1, predict, predict_length_normalized
from polyplatypus.eval.models import ModelSpec
from polyplatypus.eval.requests import build_requests
from polyplatypus.eval.scorer import RequestScorer
from polyplatypus.eval.store import OUTPUT_ENTRIES, ResultsStore, folder_settings, public_record
from polyplatypus.models.loading import load_model, model_dtype_name
from polyplatypus.tasks.registry import ChoiceTask, get_task
from polyplatypus.utils import outputs


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


@dataclass
class Plan:
    """What an evaluation will do, settled before any model loads."""

    config: EvalConfig
    specs: list[ModelSpec]
    tasks: list[ChoiceTask]
    shots: list[int]
    settings: dict  # the folder-wide part of every cell's key (store.folder_settings)
    store: ResultsStore | None  # None: nothing is written (the Python API without output)

    def cells(self):
        return [(task, k) for task in self.tasks for k in self.shots]


def evaluate(
    models: Sequence[str | ModelSpec] | str | None = None,
    tasks: Sequence[str] | str | None = None,
    shots: Sequence[int] | str | None = None,
    *,
    config: EvalConfig | None = None,
    **options,
) -> list[dict]:
    """Evaluate each model on each task at each shot count; returns one record per cell.

    ``models`` are paths/hub ids, optionally ``label=path``. The settings are
    :class:`~polyplatypus.eval.config.EvalConfig`'s fields, given as ``config`` and/or keyword
    ``options`` (``limit=20``, ``dtype="float16"``; the same names and checks as the flags and
    the recipe's ``eval`` section); ``tasks`` defaults to every registered task. With ``output``,
    cells are saved as they finish and reused on a re-run, and results.json / results.md are
    written.
    """
    for name, value in (("models", models), ("tasks", tasks), ("shots", shots)):
        if value is not None:
            options[name] = value
    if isinstance(options.get("models"), (list, tuple)):
        options["models"] = [f"{m.label}={m.path}" if isinstance(m, ModelSpec) else m for m in options["models"]]
    grid = plan(EvalConfig.build(config, caller="evaluate()", **options))
    if grid.store is None:
        return run(grid)
    with grid.store.holding(grid.specs, grid.settings, main_process=is_main_process()):
        records = run(grid)
        if is_main_process():
            write(grid, records)
    return records


def plan(config: EvalConfig) -> Plan:
    """Check everything that can be checked before a model loads: labels, the data of every
    task and shot count, and the output folder."""
    specs = [ModelSpec.parse(m) for m in config.models]
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"two models share a label: {labels}; name them with label=path")
    tasks = [get_task(name) for name in config.tasks]
    shots = list(config.shots)
    for task in tasks:
        load_kobest(task.source, task.eval_split, config.kobest_dir)
        if any(shots):
            train = load_kobest(task.source, task.fewshot_split, config.kobest_dir)
            if max(shots) > len(train):
                raise ConfigError(
                    f"{task.name}: {max(shots)} shots asked but its {task.fewshot_split} split has {len(train)} documents"
                )
    store = None
    if config.output is not None:
        store = ResultsStore(outputs.check_folder(config.output, command="eval", own=OUTPUT_ENTRIES))
    return Plan(config=config, specs=specs, tasks=tasks, shots=shots, settings=cell_settings(config), store=store)


def cell_settings(config: EvalConfig) -> dict:
    """The folder-wide part of a cell's key under these settings."""
    return folder_settings(limit=config.limit, dtype=config.dtype, data_source=describe_source(config.kobest_dir),
                           scorer=config.scorer)


def run(grid: Plan) -> list[dict]:
    """Every cell of the grid, model by model: a finished cell is read back, the others scored
    (the model is loaded only when one is left)."""
    records: list[dict] = []
    for spec in grid.specs:
        model = tokenizer = batch_size = None
        for task, k in grid.cells():
            key = ResultsStore.key(spec, task.name, k, grid.settings)
            cell = None
            if grid.store is not None:
                cell = grid.store.reusable_cell(spec, task.name, k, key, with_samples=grid.config.log_samples)
            if cell is None:
                if model is None:
                    model, tokenizer = load_model(spec.path, dtype=grid.config.dtype,
                                                  device=device_for_process(grid.config.device),
                                                  device_map=grid.config.device_map)
                    batch_size = resolve_batch_size(grid.config.batch_size, model)
                cell = _run_cell(grid, spec, model, tokenizer, task, k, key, batch_size)
            records.append(public_record(cell))
        del model
    return records


def write(grid: Plan, records: list[dict]) -> None:
    """results.json (records, the run's settings from EvalConfig, versions) and results.md."""
    from polyplatypus.report.tables import results_markdown

    grid.store.write_results(records, config=grid.config.recorded(data_source=grid.settings["data_source"]),
                             versions=versions(), tables=results_markdown(records))


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


def _run_cell(grid: Plan, spec: ModelSpec, model, tokenizer, task: ChoiceTask, shots: int, key: dict,
              batch_size: int) -> dict:
    from tqdm.auto import tqdm

    config = grid.config
    n_docs = len(load_kobest(task.source, task.eval_split, config.kobest_dir))
    total = min(n_docs, config.limit) if config.limit else n_docs
    with tqdm(total=total, desc=f"{spec.label} | {task.name} | {shots}-shot", unit="doc",
              disable=not config.progress or not is_main_process(),
              bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]") as bar:
        metrics, samples = score_cell(model, tokenizer, task, shots, kobest_dir=config.kobest_dir, limit=config.limit,
                                      batch_size=batch_size, scorer=config.scorer, progress=bar.update)
    cell = {
        "model": spec.label,
        **key,
        **metrics,
        "n_documents": n_docs,  # the split's size, before --limit (lm-eval's n-samples "original")
        "dtype": model_dtype_name(model),
        "batch_size": batch_size,
        "version": __version__,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if grid.store is not None and is_main_process():
        cell = grid.store.write_cell(spec, task.name, shots, cell, samples if config.log_samples else None)
    return cell


def discard_cells_made_otherwise(config: EvalConfig) -> list:
    """Delete the cells (and their samples) in ``config.output`` that :func:`evaluate` with this
    config would refuse to mix with: for a caller that owns the folder (the recipe's eval stage)."""
    specs = [ModelSpec.parse(m) for m in config.models]
    return ResultsStore(config.output).discard_made_otherwise(specs, cell_settings(config))
