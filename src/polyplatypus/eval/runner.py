"""The evaluation grid: models × tasks × shot counts, resumable cell by cell.

:func:`evaluate` reads as three steps: :func:`plan` (settings, data and output checks, before any
model loads), :func:`run` (each model's unfinished cells, reusing the finished ones) and
:func:`write` (results.json and results.md). What lies on disk, and when a stored cell is reused,
is :mod:`polyplatypus.eval.store`'s business.
"""

from __future__ import annotations

import datetime as _dt
import platform
import sys
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from polyplatypus.data.kobest import SOURCES as KOBEST_SOURCES
from polyplatypus.data.kobest import describe_source, documents_sha256
from polyplatypus.data.task_data import describe_task_source, load_documents, task_fingerprint
from polyplatypus.errors import ConfigError
from polyplatypus.eval.config import EvalConfig
from polyplatypus.eval.distributed import (
    device_for_process,
    distributed_state,
    is_main_process,
    process_index,
    score_split,
    union_across_processes,
)
from polyplatypus.eval.hub_needs import eval_hub_needs
from polyplatypus.eval.metrics import accuracy, macro_f1, predict, predict_length_normalized
from polyplatypus.eval.models import ModelSpec
from polyplatypus.eval.requests import build_requests
from polyplatypus.eval.scorer import RequestScorer
from polyplatypus.eval.store import OUTPUT_ENTRIES, ResultsStore, folder_settings, public_record
from polyplatypus.models.integrity import check_model_folder
from polyplatypus.models.loading import load_model, load_tokenizer, model_dtype_name, resolve_source
from polyplatypus.tasks.lm_eval_tasks import DEFAULT_NEAR_TIES, file_stem, is_lm_eval_name
from polyplatypus.tasks.registry import ChoiceTask, get_task
from polyplatypus.utils import outputs
from polyplatypus.utils.hub import check_hub_needs
from polyplatypus.utils.quiet import without_log_message
from polyplatypus.version import __version__


def versions() -> dict:
    import torch
    import transformers

    return {
        "polyplatypus": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }


def score_cell(
    model,
    tokenizer,
    task: ChoiceTask,
    shots: int,
    *,
    kobest_dir=None,
    data_dirs=None,
    limit=None,
    batch_size: int = 1,
    scorer: str = "shared",
    progress=None,
) -> tuple[dict, list[dict]]:
    """Score one (task, shots) cell; returns (metrics, per-document samples). ``data_dirs`` maps
    a data source to its folder (``kobest_dir`` alone: KoBEST's)."""
    dirs = data_dirs if data_dirs is not None else {"kobest": kobest_dir}
    eval_docs = load_documents(task, task.eval_split, dirs)
    train_docs = load_documents(task, task.fewshot_split, dirs) if shots else []
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
    tasks: list[ChoiceTask | str]  # a reference task, or an lm_eval:<name>
    shots: list[int]
    settings: dict  # the folder-wide part of every cell's key (store.folder_settings)
    store: ResultsStore | None  # None: nothing is written (the Python API without output)
    # (lm_eval:<name>, shots, model label or None) -> its built LmEvalCell; per model only under a
    # chat template (the model's tokenizer formats the requests)
    lm_eval: dict = field(default_factory=dict)
    task_fingerprints: dict[str, str] = field(default_factory=dict)  # reference task -> definition and data
    sources: dict[str, str] = field(default_factory=dict)  # reference task -> its data source's description
    other_sources: dict[str, str] = field(default_factory=dict)  # non-KoBEST data source -> description (mixing check)
    # what made each stored cell: model label -> fingerprint, (task, shots) -> KoBEST documents' SHA-256
    fingerprints: dict[str, str | None] = field(default_factory=dict)
    documents: dict[tuple[str, int], str | None] = field(default_factory=dict)

    def cells(self):
        return [(task, k) for task in self.tasks for k in self.shots]

    def key(self, spec: ModelSpec, task: ChoiceTask | str, shots: int) -> dict:
        """A cell's reuse key. Results kept on disk also say what made them: the model's content
        and, for a reference task, its documents; an lm-eval cell always holds the fingerprint of
        its built requests (task file, data and few-shot draws) and its own data source."""
        identity = {}
        if self.store is not None:
            identity["model_fingerprint"] = self.fingerprints.get(spec.label)
            if not isinstance(task, str):
                identity["data_sha256"] = self.documents.get((task.name, shots))
        if isinstance(task, str):  # its requests, and the datasets its task configs name
            built = self.lm_eval_cell(spec, task, shots)
            identity.update(
                fingerprint=built.fingerprint, fingerprint_parts=built.fingerprint_parts, data_source=built.data_source
            )
            if built.options:  # generation kwargs, chat template, system instruction, predict-only
                identity["request_options"] = built.options
            if built.generative:  # what model.generate also reads
                from polyplatypus.eval.lm_eval_cells import generation_config_sha256

                identity["generation_config_sha256"] = generation_config_sha256(spec.path)
        else:  # the task's own data source, and its definition and data files
            identity.update(data_source=self.sources[task.name], task_fingerprint=self.task_fingerprints[task.name])
        return ResultsStore.key(spec, task_name(task), shots, self.settings, identity)

    def lm_eval_cell(self, spec: ModelSpec, task: str, shots: int):
        """The built lm-eval cell of (task, shots) for this model."""
        return self.lm_eval.get((task, shots, spec.label)) or self.lm_eval[(task, shots, None)]

    @staticmethod
    def stem(task: ChoiceTask | str) -> str:
        """The task part of a cell's file names."""
        return file_stem(task) if isinstance(task, str) else task.name


def task_name(task: ChoiceTask | str) -> str:
    return task if isinstance(task, str) else task.name


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
        options["models"] = [m.text if isinstance(m, ModelSpec) else m for m in options["models"]]
    grid = plan(EvalConfig.build(config, caller="evaluate()", **options))
    if grid.store is None:
        return run(grid)
    with grid.store.holding(grid.specs, grid.settings, main_process=is_main_process(), data_sources=grid.other_sources):
        records = run(grid)
        if is_main_process():
            write(grid, records)
    return records


def plan(config: EvalConfig) -> Plan:
    """Check everything that can be checked before a model loads: labels, the task files, the
    data of every task and shot count (read for the tasks' fingerprints), and the output folder."""
    specs = [ModelSpec.parse(m) for m in config.models]
    check_labels(specs)
    tasks = [name if is_lm_eval_name(name) else get_task(name) for name in config.tasks]
    shots = list(config.shots)
    reference = [task for task in tasks if not isinstance(task, str)]
    if isinstance(config.limit, float) and reference:
        raise ConfigError(
            f"limit: a fraction ({config.limit}) applies to lm_eval: tasks only; "
            f"{reference[0].name} takes a number of documents"
        )
    _refuse_lm_eval_options(config, reference)
    check_hub_needs(eval_hub_needs(config, specs, tasks), command="eval")  # offline: what to give instead, at once
    task_fingerprints = {task.name: _checked_fingerprint(task, shots, config.data_dirs) for task in reference}
    sources = {task.name: describe_task_source(task, config.data_dirs) for task in reference}
    lm_eval = _build_lm_eval_cells(config, [task for task in tasks if isinstance(task, str)], shots, specs)
    tasks = [
        next(cell.name for (asked, *_), cell in lm_eval.items() if asked == task) if isinstance(task, str) else task
        for task in tasks
    ]
    lm_eval = {(cell.name, k, label): cell for (_, k, label), cell in lm_eval.items()}
    store = None
    if config.output is not None:
        store = ResultsStore(outputs.check_folder(config.output, command="eval", own=OUTPUT_ENTRIES))
    for spec in specs:
        resolve_source(spec.path, tokenizer=True)  # a missing or damaged model is named before any model loads
        if spec.adapter is not None:
            check_model_folder(Path(spec.adapter).expanduser())
    _check_generation_room(lm_eval, specs)
    grid = Plan(
        config=config,
        specs=specs,
        tasks=tasks,
        shots=shots,
        settings=cell_settings(config),
        store=store,
        lm_eval=lm_eval,
        task_fingerprints=task_fingerprints,
        sources=sources,
        other_sources=_other_sources(reference, config),
    )
    if store is not None:  # only stored cells need to say what made them
        grid.fingerprints = {spec.label: spec.fingerprint() for spec in specs}
        grid.documents = {
            (task.name, k): _documents_sha256(task, k, config.kobest_dir)
            for task in tasks
            if not isinstance(task, str)
            for k in shots
        }
    return grid


def check_labels(specs: Sequence[ModelSpec]) -> None:
    """One label, one folder: labels become file names (``run:1`` and ``run_1`` both ``run_1``),
    so two labels that would share a folder (letter case aside) are refused, naming both."""
    from polyplatypus.eval.lm_eval_results import sanitize_model_name

    seen: dict[str, str] = {}  # folder name, letter case aside -> the label it is for
    for spec in specs:
        folders = {f"cells/{spec.slug}", f"lm_eval/<k>-shot/{sanitize_model_name(spec.label)}"}
        for folder in folders:
            other = seen.get(folder.casefold())
            if other is not None:
                what = "the same label" if other == spec.label else f"labels {other!r} and {spec.label!r}"
                raise ConfigError(
                    f"two models have {what}: their results would share one folder ({folder}); "
                    "name each model with its own label=path"
                )
        seen.update({folder.casefold(): spec.label for folder in folders})


def _refuse_lm_eval_options(config: EvalConfig, reference: list) -> None:
    """lm-eval's request options shape lm_eval: tasks only: our reference tasks are scored with the
    reference harness's plain prompts and metrics, which a chat template would change."""
    given = [
        flag
        for flag, value in (
            ("--apply-chat-template", config.apply_chat_template),
            ("--fewshot-as-multiturn", config.fewshot_as_multiturn),
            ("--system-instruction", config.system_instruction is not None),
            ("--gen-kwargs", config.gen_kwargs is not None),
            ("--think-end-token", config.think_end_token is not None),
            ("--enable-thinking", config.enable_thinking is not None),
            ("--chat-template-args", config.chat_template_args is not None),
            ("--predict-only", config.predict_only),
            ("--near-ties", config.near_ties != DEFAULT_NEAR_TIES),
        )
        if value
    ]
    if given and reference:
        raise ConfigError(
            f"{', '.join(given)} apply to lm_eval: tasks only; {reference[0].name} is scored as the "
            "reference harness scores it (plain prompts, its own metrics): evaluate it in a separate run"
        )


def _documents_sha256(task: ChoiceTask, shots: int, kobest_dir) -> str | None:
    if task.source not in KOBEST_SOURCES:
        return None  # data this module does not read
    return documents_sha256(task.source, [task.eval_split] + ([task.fewshot_split] if shots else []), kobest_dir)


def _build_lm_eval_cells(config: EvalConfig, names: list[str], shots: list[int], specs: list[ModelSpec]) -> dict:
    """Every lm-eval cell's requests, built once by lm-eval's machinery before any model loads
    (every process builds the same ones: lm-eval's draws are seeded); under a chat template once
    per model, with its tokenizer's template (keyed by its label, else by None)."""
    if not names:
        return {}
    from polyplatypus.tasks.lm_eval_tasks import build_cell, chat_template_of, resolve_name

    seen: dict[str, str] = {}
    for name in names:  # the same task under two spellings is refused before any is built, as --shots 0,0
        canonical = resolve_name(name, config.include_path)
        if seen.setdefault(canonical, name) != name:
            raise ConfigError(f"tasks repeat: {seen[canonical]!r} and {name!r} are both {canonical}")
    templates = {None: None}
    if config.apply_chat_template:
        templates = {
            spec.label: chat_template_of(
                load_tokenizer(spec.path), f"model {spec.label} ({spec.path})", config.template_args
            )
            for spec in specs
        }
    cells = {
        (name, k, label): build_cell(
            name,
            k,
            limit=config.limit,
            include_path=config.include_path,
            options=config.request_options(template),
            progress=config.progress,
        )
        for label, template in templates.items()
        for name in names
        for k in shots
    }
    _check_same_on_every_rank(cells)
    return cells


def _check_generation_room(cells: dict, specs: list[ModelSpec]) -> None:
    """A generative task whose max_gen_toks leaves no room for a context in a model's window is
    refused before any model loads (where the window is known from the model's config.json)."""
    from polyplatypus.eval.lm_eval_cells import check_generation_room, configured_max_length

    for spec in specs:
        window = configured_max_length(spec.path)
        if window is not None:
            for (name, k, label), cell in cells.items():
                if label in (None, spec.label):
                    check_generation_room(cell, window, f"model {spec.label} ({spec.path})")


def _check_same_on_every_rank(cells: dict) -> None:
    """Under several processes each builds the cells itself; their fingerprints must agree, or
    the ranks would score different prompts."""
    state = distributed_state()
    if state is None:
        return
    from accelerate.utils import gather_object

    mine = {f"{name} {k}-shot {label or ''}".strip(): cell.fingerprint for (name, k, label), cell in cells.items()}
    for other in gather_object([mine]):
        if other != mine:
            differing = next(key for key in mine if other.get(key) != mine[key])
            raise ConfigError(
                f"{differing}: the processes built different requests (fingerprints "
                f"{mine[differing][:12]} and {str(other.get(differing))[:12]}); a task's documents "
                "or few-shot draws depend on the process"
            )


def _other_sources(tasks: Sequence[ChoiceTask], config: EvalConfig) -> dict[str, str]:
    """The description of each data source other than KoBEST that ``tasks`` read."""
    return {
        task.data.source: describe_task_source(task, config.data_dirs) for task in tasks if task.data.source != "kobest"
    }


def _checked_fingerprint(task: ChoiceTask, shots: Sequence[int], data_dirs) -> str:
    """The task's fingerprint (which reads its evaluation and few-shot files), after checking
    that the few-shot split holds enough documents for the largest shot count."""
    if any(shots):
        fewshot = load_documents(task, task.fewshot_split, data_dirs)
        if max(shots) > len(fewshot):
            raise ConfigError(
                f"{task.name}: {max(shots)} shots asked but its {task.fewshot_split} split has {len(fewshot)} documents"
            )
    return task_fingerprint(task, data_dirs)


def cell_settings(config: EvalConfig) -> dict:
    """The folder-wide part of a cell's key under these settings."""
    return folder_settings(
        limit=config.limit, dtype=config.dtype, data_source=describe_source(config.kobest_dir), scorer=config.scorer
    )


def run(grid: Plan) -> list[dict]:
    """Every cell of the grid, model by model: a finished cell is read back, the others scored
    (the model is loaded only when one is left)."""
    records: list[dict] = []
    for spec in grid.specs:
        model = tokenizer = batch_size = None
        reused = []
        if grid.store is not None and is_main_process():
            _say_what_is_recomputed(grid, spec)
        for task, k in grid.cells():
            key, stem = grid.key(spec, task, k), grid.stem(task)
            cell = None
            if grid.store is not None:
                cell = grid.store.reusable_cell(spec, stem, k, key, with_samples=grid.config.samples_logged)
                if cell is None and not isinstance(task, str):
                    _say_if_redefined(grid.store, spec, task.name, k, key)
                elif cell is not None:
                    reused.append(f"{task_name(task)} {k}-shot")
            if cell is None:
                if model is None:
                    model, tokenizer = load_model(
                        spec.path,
                        dtype=grid.config.dtype,
                        device=device_for_process(grid.config.device),
                        device_map=grid.config.device_map,
                        adapter=spec.adapter,
                        progress=grid.config.progress,
                    )
                    batch_size = resolve_batch_size(grid.config.batch_size, model)
                if isinstance(task, str):
                    cell = _run_lm_eval_cell(
                        grid, spec, model, tokenizer, grid.lm_eval_cell(spec, task, k), key, batch_size
                    )
                else:
                    cell = _run_cell(grid, spec, model, tokenizer, task, k, key, batch_size)
            records.append(public_record(cell))
        _say_reused(spec, reused)
        del model
    return records


def _say_reused(spec: ModelSpec, reused: list[str], shown: int = 8) -> None:
    """Name the finished cells read back instead of scored, so that a re-run's speed is no mystery."""
    if reused and is_main_process():
        more = f", and {len(reused) - shown} more" if len(reused) > shown else ""
        print(
            f"polyplatypus eval: reused {len(reused)} finished cell(s) of model {spec.label} "
            f"(same model, data and settings): {', '.join(reused[:shown])}{more}",
            file=sys.stderr,
            flush=True,
        )


def _say_what_is_recomputed(grid: Plan, spec: ModelSpec) -> None:
    """Name the stored cells that are scored again because what made them changed."""
    from polyplatypus.tasks.lm_eval_tasks import changed_parts

    reasons = [grid.store.why_recomputed(spec, grid.stem(task), k, grid.key(spec, task, k)) for task, k in grid.cells()]
    messages = {
        "model": f"model {spec.label} changed since these results ({spec.path}): recomputing {{n}} cell(s)",
        "data": f"the KoBEST data changed since these results of model {spec.label}: recomputing {{n}} cell(s)",
        "no identity": f"{{n}} cell(s) of model {spec.label} were written before results recorded the model and "
        "data that made them: recomputing them once",
    }
    for reason, message in messages.items():
        if reasons.count(reason):
            print(f"polyplatypus eval: {message.format(n=reasons.count(reason))}", file=sys.stderr, flush=True)
    for (task, k), reason in zip(grid.cells(), reasons):
        if reason == "requests":  # an lm-eval cell: name what changed
            stored = grid.store.read_cell(grid.store.cell_path(spec, grid.stem(task), k)) or {}
            built, key = grid.lm_eval_cell(spec, task, k), grid.key(spec, task, k)
            changed = changed_parts(
                stored.get("fingerprint_parts"), built.fingerprint_parts, stored.get("request_options"), built.options
            )
            if stored.get("generation_config_sha256") != key.get("generation_config_sha256"):  # not in the fingerprint
                config = f"generation_config.json ({Path(str(spec.path)).expanduser() / 'generation_config.json'})"
                changed = config if changed == "its fingerprint" else f"{config}, {changed}"
            print(
                f"polyplatypus eval: {task} {k}-shot of model {spec.label}: {changed} changed since it was "
                "stored: recomputing it",
                file=sys.stderr,
                flush=True,
            )


def _say_if_redefined(store: ResultsStore, spec: ModelSpec, task: str, shots: int, key: dict) -> None:
    """Tell the user when a stored cell is recomputed because its task changed: another task
    definition or other data files made it, so it is not reused."""
    redefined, theirs = store.redefined(spec, task, shots, key)
    if redefined and theirs and is_main_process():  # a cell with no fingerprint is named with the others
        made = f"fingerprint {theirs}"
        print(
            f"eval: recomputing {spec.label} {task} {shots}-shot: the stored cell was made with {made}; "
            f"the task's definition or data files now give {key['task_fingerprint']}",
            file=sys.stderr,
        )


def write(grid: Plan, records: list[dict]) -> None:
    """results.json (records, the run's settings from EvalConfig, versions) and results.md."""
    from polyplatypus.eval.tables import results_markdown

    extra = {"data_sources": grid.other_sources} if grid.other_sources else {}
    grid.store.write_results(
        records,
        config=grid.config.recorded(data_source=grid.settings["data_source"], **extra),
        versions=versions(),
        tables=results_markdown(records),
    )


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


def _run_cell(
    grid: Plan, spec: ModelSpec, model, tokenizer, task: ChoiceTask, shots: int, key: dict, batch_size: int
) -> dict:
    from tqdm.auto import tqdm

    config = grid.config
    n_docs = len(load_documents(task, task.eval_split, config.data_dirs))
    total = min(n_docs, config.limit) if config.limit else n_docs
    with tqdm(
        total=total,
        desc=f"{spec.label} | {task.name} | {shots}-shot",
        unit="doc",
        disable=not config.progress or not is_main_process(),
        bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]",
    ) as bar:
        metrics, samples = score_cell(
            model,
            tokenizer,
            task,
            shots,
            data_dirs=config.data_dirs,
            limit=config.limit,
            batch_size=batch_size,
            scorer=config.scorer,
            progress=bar.update,
        )
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
        cell = grid.store.write_cell(spec, task.name, shots, cell, samples if config.samples_logged else None)
    return cell


def _run_lm_eval_cell(grid: Plan, spec: ModelSpec, model, tokenizer, built, key: dict, batch_size) -> dict:
    from tqdm.auto import tqdm

    from polyplatypus.eval.lm_eval_cells import Generations, document_count, score_lm_eval_cell

    config = grid.config
    keeping = grid.store is not None and built.generative  # each process keeps what it generates
    # --batch-size auto: generation takes the engine's own auto rows (the key/value budget), also on a
    # CPU, where scoring resolves auto to one row (batching gains generation there, not scoring)
    generation_rows = "auto" if config.batch_size == "auto" and built.generative else None
    stem = file_stem(built.name)
    # read before any process writes its own partial file
    other = keeping and grid.store.partials_of_other_settings(spec, stem, built.shots, key)
    kept = union_across_processes(grid.store.kept_generations(spec, stem, built.shots, key)) if keeping else {}
    _say_if_resumed(spec, built, kept, other)
    rank = process_index()  # process 0 compacts every process's kept generations into its own file
    own = kept if rank == 0 or not keeping else grid.store.kept_generations(spec, stem, built.shots, key, rank)
    keeping_file = (
        grid.store.keeping_generations(spec, stem, built.shots, key, own, rank) if keeping else nullcontext(None)
    )
    with (
        tqdm(
            total=document_count(built),
            desc=f"{spec.label} | {built.name} | {built.shots}-shot",
            unit="doc",
            disable=not config.progress or not is_main_process(),
            bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]",
        ) as bar,
        keeping_file as keep,
        without_log_message("lm_eval.models.huggingface", "Left truncation applied"),  # counted below instead
    ):
        metrics, samples, _ = score_lm_eval_cell(
            model,
            tokenizer,
            built,
            batch_size=batch_size,
            scorer=config.scorer,
            progress=bar.update,
            generations=Generations(kept=kept, keep=keep),
            generation_rows=generation_rows,
        )
    cell = {
        "model": spec.label,
        **key,
        **metrics,
        "dtype": model_dtype_name(model),
        "batch_size": generation_rows or batch_size,
        "version": __version__,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if grid.store is not None and is_main_process():
        cell = grid.store.write_cell(
            spec, file_stem(built.name), built.shots, cell, samples if config.samples_logged else None
        )
    _say_if_mostly_redecided(spec, built.name, built.shots, metrics.get("generation_work"))
    _say_if_truncated(spec, built, metrics)
    return cell


def _say_if_truncated(spec: ModelSpec, built, metrics: dict) -> None:
    """One line for the prompts cut from the left to leave max_gen_toks in the window (lm-eval's hf
    warns once per document, which buried the progress bar)."""
    if built.generative and metrics.get("truncated") and is_main_process():
        print(
            f"eval: {spec.label} {built.name} {built.shots}-shot: {metrics['truncated']} of {metrics['n']} "
            f"prompts were cut from the left to fit the {metrics['max_length']}-token window less max_gen_toks, "
            "as lm-eval's hf cuts them ('truncated' in the record and the sample lines)",
            file=sys.stderr,
        )


def _say_if_resumed(spec: ModelSpec, built, kept: dict, other_settings: bool) -> None:
    """Say that a generative cell goes on from the generations an interrupted run kept, or that
    those of a run with other settings are not used (an interrupted run of the same settings that
    kept none: nothing to say)."""
    from polyplatypus.eval.lm_eval_cells import generative_requests

    if not is_main_process() or not (kept or other_settings):
        return
    cell = f"polyplatypus eval: {built.name} {built.shots}-shot of model {spec.label}"
    print(
        f"{cell}: resuming an interrupted run: {len(kept)} of {len(generative_requests(built))} generation(s) "
        "kept, generating the rest"
        if kept
        else f"{cell}: the generations an interrupted run kept were made with other settings: generating all again",
        file=sys.stderr,
        flush=True,
    )


def _say_if_mostly_redecided(spec: ModelSpec, name: str, shots: int, work: dict | None) -> None:
    """Point at --near-ties keep when re-deciding near ties by the batch-1 path took most of the
    work (half precision: most documents have one), where batching gained little."""
    from polyplatypus.eval.generation import mostly_redecided, redecided_summary

    if is_main_process() and mostly_redecided(work):
        print(
            f"eval: {spec.label} {name} {shots}-shot: {redecided_summary(work)} (hf's at batch size 1, so that "
            "the text equals hf's there); --near-ties keep takes the batch's own token at a near tie instead "
            "(much faster; docs/tasks.md)",
            file=sys.stderr,
        )


def discard_cells_made_otherwise(config: EvalConfig) -> list:
    """Delete the cells (and their samples) in ``config.output`` that :func:`evaluate` with this
    config would refuse to mix with: for a caller that owns the folder (the recipe's eval stage)."""
    specs = [ModelSpec.parse(m) for m in config.models]
    tasks = [get_task(name) for name in config.tasks if not is_lm_eval_name(name)]
    return ResultsStore(config.output).discard_made_otherwise(
        specs, cell_settings(config), _other_sources(tasks, config)
    )
