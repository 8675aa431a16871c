"""The evaluation grid: models × tasks × shot counts, resumable cell by cell.

Each finished (model, task, shots) cell is written atomically to
``OUTPUT/cells/<model>/<task>_<k>shot.json`` as soon as it completes, after its samples file
(``--log-samples``): the cell file is the marker of a finished cell. A re-run of the same command
skips cells whose file exists with the same settings and, when samples are asked for, whose
samples file is there with the checksum the cell recorded. A folder holding cells made with other
settings (limit, dtype, data, scorer, another path under a model's label) is refused, so its
results.json, cells and samples always agree. At the end ``results.json`` (records +
configuration + versions) and ``results.md`` (model-card tables) are written.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

from polyplatypus import __version__
from polyplatypus.data.kobest import describe_source, load_kobest
from polyplatypus.errors import ConfigError, OutputError
from polyplatypus.eval.config import EvalConfig
from polyplatypus.eval.distributed import device_for_process, is_main_process, score_split
from polyplatypus.eval.metrics import accuracy, macro_f1, predict, predict_length_normalized
from polyplatypus.eval.models import ModelSpec
from polyplatypus.eval.requests import build_requests
from polyplatypus.eval.scorer import RequestScorer
from polyplatypus.models.loading import load_model, model_dtype_name
from polyplatypus.tasks.registry import ChoiceTask, get_task
from polyplatypus.utils import outputs
from polyplatypus.utils.io import atomic_write_json, atomic_write_jsonl, atomic_write_text, sha256_file

# Settings that change a cell's numbers: a stored cell is reused only when they all match.
CELL_KEY_FIELDS = ("model_path", "task", "shots", "limit", "dtype_requested", "data_source", "scorer")
# What an evaluation folder holds: an existing folder with none of these is not one.
OUTPUT_ENTRIES = ("results.json", "results.md", "cells", "samples", "lm_eval")


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


def _cell_path(output: Path, spec: ModelSpec, task: ChoiceTask, shots: int) -> Path:
    return output / "cells" / spec.slug / f"{task.name}_{shots}shot.json"


def _samples_path(output: Path, spec: ModelSpec, task: ChoiceTask, shots: int) -> Path:
    return output / "samples" / spec.slug / f"{task.name}_{shots}shot.jsonl"


def _read_cell(path: Path) -> dict | None:
    try:
        cell = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # an unreadable cell is recomputed
    return cell if isinstance(cell, dict) else None


def _load_cell(path: Path, key: dict, samples: Path | None = None) -> dict | None:
    """The stored cell if it is finished with these settings; with ``samples`` (samples asked
    for), only if that file is there with the checksum the cell recorded when it was written."""
    cell = _read_cell(path) if path.is_file() else None
    if cell is None or not all(cell.get(k) == v for k, v in key.items()):
        return None
    if samples is not None and not (samples.is_file() and cell.get("samples_sha256") == sha256_file(samples)):
        return None
    return cell


def folder_settings(*, limit, dtype: str, data_source: str, scorer: str) -> dict:
    """The cell-key settings that hold for a whole output folder (model_path holds per model label)."""
    return {"limit": limit, "dtype_requested": dtype, "data_source": data_source, "scorer": scorer}


def cells_made_otherwise(output: Path, specs: Sequence[ModelSpec], settings: dict) -> list[tuple[Path, str, object, object]]:
    """Cells in ``output`` whose folder-wide settings (:func:`folder_settings`) differ from this
    run's, or that hold another model path under one of ``specs``' labels, as (cell file, setting,
    its value, this run's value)."""
    paths = {spec.slug: spec.path for spec in specs}
    found = []
    for path in sorted((Path(output) / "cells").glob("*/*.json")):
        cell = _read_cell(path)
        if cell is None:
            continue
        wanted = {**settings, **({"model_path": paths[path.parent.name]} if path.parent.name in paths else {})}
        for field, ours in wanted.items():
            if field in cell and cell[field] != ours:
                found.append((path, field, cell[field], ours))
                break
    return found


def _refuse_mixing(output: Path, specs: Sequence[ModelSpec], settings: dict) -> None:
    differing = cells_made_otherwise(output, specs, settings)
    if differing:
        path, field, theirs, ours = differing[0]
        raise OutputError(
            f"{output} holds results made with {field} {theirs!r} ({path.relative_to(output)}"
            + (f" and {len(differing) - 1} more cells" if len(differing) > 1 else "")
            + f"); this run has {field} {ours!r}. One folder never mixes settings: choose another --output, "
            f"or delete {output} to start over"
        )


def discard_cells_made_otherwise(output: str | Path, models: Sequence[str | ModelSpec], *, kobest_dir=None,
                                 limit: int | None = None, dtype: str = "auto", scorer: str = "shared") -> list[Path]:
    """Delete the cells (and their samples) that :func:`evaluate` with these settings would refuse
    to mix with: for a caller that owns ``output`` and recomputes it (the recipe's eval stage)."""
    output = Path(output)
    specs = [m if isinstance(m, ModelSpec) else ModelSpec.parse(m) for m in models]
    settings = folder_settings(limit=limit, dtype=dtype, data_source=describe_source(kobest_dir), scorer=scorer)
    removed = []
    for path, *_ in cells_made_otherwise(output, specs, settings):
        path.unlink(missing_ok=True)
        (output / "samples" / path.parent.name / f"{path.stem}.jsonl").unlink(missing_ok=True)
        removed.append(path)
    return removed


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
    config = EvalConfig.build(config, caller="evaluate()", **options)
    specs = [ModelSpec.parse(m) for m in config.models]
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"two models share a label: {labels}; name them with label=path")
    task_list = [get_task(name) for name in config.tasks]
    shot_list = list(config.shots)
    kobest_dir, limit, dtype, scorer = config.kobest_dir, config.limit, config.dtype, config.scorer
    device, device_map, batch_size, progress = config.device, config.device_map, config.batch_size, config.progress
    log_samples, output = config.log_samples, config.output
    data_source = describe_source(kobest_dir)
    out_dir = None if output is None else outputs.check_folder(output, command="eval", own=OUTPUT_ENTRIES)
    # Fail on data problems before loading any model.
    for task in task_list:
        load_kobest(task.source, task.eval_split, kobest_dir)
        if any(shot_list):
            train = load_kobest(task.source, task.fewshot_split, kobest_dir)
            if max(shot_list) > len(train):
                raise ConfigError(
                    f"{task.name}: {max(shot_list)} shots asked but its {task.fewshot_split} split has {len(train)} documents"
                )
    settings = folder_settings(limit=limit, dtype=dtype, data_source=data_source, scorer=scorer)
    with _holding(out_dir, specs, settings):
        records: list[dict] = []
        for spec in specs:
            keys = {
                (task.name, k): {
                    "model_path": spec.path, "task": task.name, "shots": k, **settings,
                }
                for task in task_list for k in shot_list
            }
            done = {}
            if out_dir is not None:
                for task in task_list:
                    for k in shot_list:
                        cell = _load_cell(_cell_path(out_dir, spec, task, k), keys[(task.name, k)],
                                          _samples_path(out_dir, spec, task, k) if log_samples else None)
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


@contextmanager
def _holding(out_dir: Path | None, specs: Sequence[ModelSpec], settings: dict):
    """Hold the output folder (one evaluation at a time), refuse cells made with other settings,
    and clear the temporary files an interrupted run left."""
    if out_dir is None:
        yield
        return
    with outputs.hold(out_dir, "eval"):
        _refuse_mixing(out_dir, specs, settings)
        if is_main_process():  # only in what eval writes (report/ may be another command's)
            outputs.remove_temporaries(out_dir)
            for part in ("cells", "samples", "lm_eval"):
                outputs.remove_temporaries(out_dir / part, recursive=True)
        yield


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
        "n_documents": n_docs,  # the split's size, before --limit (lm-eval's n-samples "original")
        "dtype": model_dtype_name(model),
        "batch_size": batch_size,
        "version": __version__,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if out_dir is not None and is_main_process():
        # The cell file marks a finished cell, so it is written last: a run stopped before it
        # leaves the cell unfinished, and a re-run computes it again.
        samples_path = _samples_path(out_dir, spec, task, shots)
        if log_samples:
            atomic_write_jsonl(samples_path, samples)
            cell["samples_sha256"] = sha256_file(samples_path)
        else:
            samples_path.unlink(missing_ok=True)  # an earlier run's samples would not match this cell
        atomic_write_json(_cell_path(out_dir, spec, task, shots), cell)
    return cell


def _public(cell: dict) -> dict:
    """A cell as a results.json record (per-document arrays stay in the cell file)."""
    return {k: v for k, v in cell.items() if k not in ("golds", "preds", "samples_sha256")}


def write_results(out_dir: Path, records: list[dict], config: dict) -> None:
    from polyplatypus.eval.lm_eval_results import LM_EVAL_FOLDER, task_dataset, write_lm_eval_results
    from polyplatypus.report.tables import results_markdown

    package_versions = versions()
    atomic_write_json(out_dir / "results.json", {
        "results": records,
        "config": config,
        "versions": package_versions,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    })
    atomic_write_text(out_dir / "results.md", results_markdown(records))
    # the same results in lm-eval 0.4's schema and layout, for tools that read those
    write_lm_eval_results(out_dir / LM_EVAL_FOLDER, records, config, versions=package_versions, datasets=task_dataset)
