"""Score one lm-eval cell (task or group, shots) with the shared-context engine, and compute its
metrics with lm-eval's own code: the task's filters and ``process_results``, its aggregation
functions, and lm-eval's group consolidation (size-weighted where the group says so).

The requests are those :func:`polyplatypus.tasks.lm_eval_tasks.build_cell` built once for the
cell (and fingerprinted); under several processes each scores a share of the documents and the
results are gathered back in order (:func:`polyplatypus.eval.distributed.score_split`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Callable

from polyplatypus.eval.distributed import (
    gather_generated,
    generation_share,
    scaled_progress,
    score_split,
)
from polyplatypus.eval.metrics import accuracy, macro_f1
from polyplatypus.tasks.lm_eval_tasks import DEFAULT_NEAR_TIES, GENERATIVE, LmEvalCell, lm_eval_target
from polyplatypus.utils.quiet import without_log_message

# What a record keeps of lm-eval's results dict (the lm-eval-format results files are written from it)
RESULT_KEYS = ("results", "groups", "group_subtasks", "versions", "n-shot", "higher_is_better", "n-samples")
# What it keeps of each task's config: its data and scoring (the prompts are in the fingerprint)
CONFIG_KEYS = (
    "task",
    "tag",
    "dataset_path",
    "dataset_name",
    "dataset_kwargs",
    "training_split",
    "validation_split",
    "test_split",
    "fewshot_split",
    "output_type",
    "num_fewshot",
    "metric_list",
    "metadata",
)
BOOTSTRAP_ITERS = 100000  # simple_evaluate's default (stderr of metrics without a closed form)
NO_FILTER = "none"
# Without an engine that reports each finished request (HFLM's generate_until), requests are
# generated this many at a time, so that a killed run loses at most one chunk.
GENERATION_CHUNK = 16
DEFAULT_MAX_GEN_TOKS = 256  # HFLM's max_gen_toks where a task does not set it


class _Documents:
    """``score_split``'s engine interface over already-encoded documents."""

    def __init__(self, scorer):
        self.scorer = scorer

    def score(self, documents, progress=None):
        return self.scorer.score_encoded(documents, progress)


def make_lm(
    model,
    tokenizer,
    *,
    batch_size=1,
    scorer: str = "shared",
    progress: Callable[[float], None] | None = None,
    model_args: dict | None = None,
    near_ties: str = DEFAULT_NEAR_TIES,
    generation_rows: int | str | None = None,
):
    """Our lm-eval engine around an already loaded model, splitting documents across processes;
    ``model_args``: HFLM's thinking-model arguments (a cell's ``model_args``); ``near_ties``: what
    generation does at a near tie (:class:`polyplatypus.eval.generation.GenerationEngine`);
    ``generation_rows``: the rows generation batches (default: ``batch_size``)."""
    from polyplatypus.eval.lm_eval_engine import SharedContextLM

    # HFLM warns, for a loaded model, that it is "assuming single-process call" and not to launch
    # via accelerate; under torchrun both read as wrong: score_split below spreads the documents
    with without_log_message(
        "lm_eval.models.huggingface", "assuming single-process call", "model kwarg is not of type `str`"
    ):
        lm = SharedContextLM(
            pretrained=model,
            tokenizer=tokenizer,
            batch_size=batch_size,
            scorer=scorer,
            near_ties=near_ties,
            **(model_args or {}),
        )
    lm.generation_rows = generation_rows
    lm.score_documents = lambda documents: score_split(_Documents(lm.make_scorer()), documents, progress=progress)
    return lm


def _gold(task, doc) -> int | None:
    """The gold choice's index as the task's process_results reads it (multiple choice only)."""
    target = task.doc_to_target(doc)
    if isinstance(target, list):
        target = target[0] if target else None
    if isinstance(target, str):
        choices = task.doc_to_choice(doc)
        return choices.index(target) if target in choices else (int(target) if target.isdigit() else None)
    return None if target is None else int(target)


def document_count(cell: LmEvalCell) -> int:
    return sum(len({inst.doc_id for inst in instances}) for instances in cell.instances.values())


def generative_requests(cell: LmEvalCell) -> list:
    """The cell's generation requests in order, each repeated ``repeats`` times (as lm-eval's
    evaluator clones them): their numbers are what resume records name."""
    return [inst for inst in cell.all_instances() if inst.request_type == GENERATIVE for _ in range(inst.repeats)]


def _lm_eval_keys(task, doc, doc_id, requests, filter_key) -> dict:
    """A logged sample's keys as lm-eval's evaluator writes them (its hashes included)."""
    import json

    from lm_eval.utils import handle_non_serializable, hash_string

    target = task.doc_to_target(doc)
    return {
        "doc_id": doc_id,
        "arguments": [list(inst.args) for inst in requests],
        "resps": [list(inst.resps) for inst in requests],
        "filtered_resps": [inst.filtered_resps[filter_key] for inst in requests],
        "filter": filter_key,
        "target": target,
        "doc_hash": hash_string(
            json.dumps(requests[0].doc, indent=2, default=handle_non_serializable, ensure_ascii=False)
        ),
        "prompt_hash": hash_string(requests[0].arguments[0]),
        "target_hash": hash_string(str(target)),
    }


def _choice_sample(task, doc, requests, lm, places) -> dict:
    """Our keys of a multiple-choice (loglikelihood) document."""
    scored = [lm.last_scored.scored[document] for document, _ in places]
    lls = [inst.resps[0][0] for inst in requests]
    multiple_choice = task.get_config("output_type") == "multiple_choice"
    return {
        "loglikelihoods": lls,
        "is_greedy": [inst.resps[0][1] for inst in requests],
        "pred": max(range(len(lls)), key=lambda i: (lls[i], -i)) if multiple_choice else None,
        "gold": _gold(task, doc) if multiple_choice else None,
        "truncated": any(s.truncated for s in scored),
        "rescored": any(s.rescored for s in scored),
        "prompt": requests[0].args[0],
        "context": requests[0].args[0],
        "continuations": [inst.args[1] for inst in requests],
    }


def _generated_sample(requests, generated: dict[int, list[dict]], lm) -> dict:
    """Our keys of a generated document: the prompt, and per response the raw generation (before
    stop strings cut it), why it stopped and its token count (None where the engine does not say);
    ``truncated``: the prompt was cut from the left to ``max_length - max_gen_toks`` (HFLM's rule)."""
    records = [record for inst in requests for record in generated[id(inst)]]
    first = records[0]
    prompt, kwargs = requests[0].args[0], requests[0].args[1]
    room = lm.max_length - max_gen_toks(kwargs, lm.max_gen_toks)
    sample = {
        "prompt": prompt,
        **engine_fields(first),
        "truncated": len(lm.tok_encode(prompt)) > room,
        "rescored": False,
        "pred": None,
        "gold": None,
    }
    if len(records) > 1:
        sample["generations"] = [r.get("generation") for r in records]
    return sample


def _task_samples(
    task_name, task, cell: LmEvalCell, lm, ll_offset: int, generated: dict[int, list[dict]], raw: dict
) -> list[dict]:
    """Runs the task's filters and process_results (as lm_eval.evaluator.evaluate); returns samples:
    one per document (and per filter for a generative task, as lm-eval logs them)."""
    instances = cell.instances[task_name]
    task._instances = instances
    task.apply_filters()
    by_doc, ll_numbers = defaultdict(list), {}
    for inst in instances:
        if inst.request_type != GENERATIVE:
            ll_numbers[id(inst)] = ll_offset + len(ll_numbers)
        by_doc[inst.doc_id].append(inst)
    samples = []
    filters = list(instances[0].filtered_resps)
    for filter_key in filters:
        for doc_id, doc in task.doc_iterator(rank=0, limit=cell.limits[task_name], world_size=1):
            requests = sorted(by_doc[doc_id], key=lambda inst: inst.idx)
            metrics = task.process_results(doc, [inst.filtered_resps[filter_key] for inst in requests])
            for metric, value in metrics.items():
                raw[(metric, filter_key)].append(value)
            generative = requests[0].request_type == GENERATIVE
            if not generative and filter_key != NO_FILTER and len(filters) > 1:
                continue
            ours = (
                _generated_sample(requests, generated, lm)
                if generative
                else _choice_sample(
                    task, doc, requests, lm, [lm.last_scored.places[ll_numbers[id(inst)]] for inst in requests]
                )
            )
            samples.append(
                {
                    "task": task_name,
                    "doc_index": doc_id,
                    **ours,
                    "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float, bool))},
                    **_lm_eval_keys(task, doc, doc_id, requests, filter_key),
                }
            )
    return samples


@dataclass
class Generations:
    """A cell's finished generations kept across runs: ``kept`` (request number -> record) from
    an interrupted run, and ``keep(number, record)`` called as each one finishes (the runner
    appends it to the cell's partial file, :meth:`polyplatypus.eval.store.ResultsStore.partial`)."""

    kept: dict[int, dict] = field(default_factory=dict)
    keep: Callable[[int, dict], None] | None = None
    per_process: list[int] = field(default_factory=list)  # how many each process generated (filled by generate)
    work: dict[str, int] | None = None  # the engine's counters for what this run generated (filled by generate)


def _engine_reports_each(lm) -> bool:
    """Whether the engine calls ``lm.on_generated`` as each request finishes (ours does; HFLM's
    own generate_until, inherited until then, does not: it is then run in chunks)."""
    from lm_eval.models.huggingface import HFLM

    return type(lm).generate_until is not HFLM.generate_until


def engine_fields(found) -> dict:
    """What the engine says of one generation (a record dict, or an object with these attributes;
    None: nothing): its raw ``generation``, ``stop_reason`` and ``n_tokens`` (None where it does not
    say), and ``near_ties_kept`` where it kept near ties (``near_ties="keep"``). Sample lines and
    prompt-file response lines carry them as they are."""
    get = found.get if isinstance(found, dict) else (lambda k: getattr(found, k, None))
    fields = {k: None if found is None else get(k) for k in ("generation", "stop_reason", "n_tokens")}
    kept = None if found is None else get("near_ties_kept")
    return fields | ({"near_ties_kept": kept} if kept is not None else {})


def _record(lm, position: int, text: str, extra: tuple) -> dict:
    """What is known of one finished generation: the engine's record (passed to ``on_generated``
    as a third argument, or in ``lm.last_generated`` after the call) or the text alone."""
    last = getattr(lm, "last_generated", None) or []
    found = extra[0] if extra else (last[position] if position < len(last) else None)
    return {"text": text, **engine_fields(found)}


def _share(lm, requests: list, todo: list[int]) -> list[int]:
    """The request numbers of ``todo`` this process generates (all of them in one process):
    contiguous runs of the engine's token order, balanced by expected work
    (:func:`polyplatypus.eval.distributed.generation_share`)."""
    encode = getattr(lm, "generation_context", None) or (lambda request: lm.tok_encode(request.args[0]))
    share = generation_share(
        len(todo),
        context=lambda i: encode(requests[todo[i]]),
        work=lambda i: max_gen_toks(requests[todo[i]].args[1], lm.max_gen_toks),
    )
    return [todo[i] for i in share]


def generate(lm, requests: list, generations: Generations | None = None, progress=None) -> list[dict]:
    """Every request's generation record, in order: those ``generations`` kept are not generated
    again; the others are kept as each finishes. ``progress(n)`` counts finished requests. Under
    several processes each generates its share and all get every record back;
    ``generations.per_process`` says how many each generated, ``generations.work`` what the
    engine forwarded for them (:class:`polyplatypus.eval.generation.GenerationCounters`, summed
    over the processes; None for an engine without counters)."""
    generations = generations or Generations()
    records: dict[int, dict] = dict(generations.kept)
    todo = [number for number in range(len(requests)) if number not in records]
    mine = _share(lm, requests, todo)
    if progress is not None and records:
        progress(len(records))
    if progress is not None and mine and len(mine) < len(todo):  # the main process's bar stands for every share
        progress = scaled_progress(progress, len(todo) / len(mine))

    def finished(position: int, numbers: list[int], text: str, *extra) -> None:
        record = _record(lm, position, text, extra)
        records[numbers[position]] = record
        if generations.keep is not None:
            generations.keep(numbers[position], record)
        if progress is not None:
            progress(1)

    work = _generate_each(lm, requests, mine, records, finished)
    gathered, generations.per_process, generations.work = gather_generated(
        {number: records[number] for number in mine}, work
    )
    records.update(gathered)
    return [records[number] for number in range(len(requests))]


def _generate_each(lm, requests: list, todo: list[int], records: dict[int, dict], finished) -> dict | None:
    """Generate the requests numbered ``todo``, calling ``finished`` as each ends (or, for an engine
    that reports only whole calls, after each chunk of :data:`GENERATION_CHUNK`). Returns the
    engine's counters (``lm.generation_counters``, set anew by each call) summed over its calls,
    None for an engine without them."""
    size = max(1, len(todo)) if _engine_reports_each(lm) else max(GENERATION_CHUNK, int(lm.batch_size or 1))
    work: dict | None = None
    for start in range(0, len(todo), size):
        numbers = todo[start : start + size]
        lm.generation_counters = None
        if _engine_reports_each(lm):
            lm.last_generated = None  # filled by the engine at the end of this call, never a previous call's
            lm.on_generated = lambda position, text, *extra, numbers=numbers: finished(position, numbers, text, *extra)
            try:
                texts = lm.generate_until([requests[n] for n in numbers], disable_tqdm=True)
            finally:
                lm.on_generated = None
            for position, text in enumerate(texts):
                if numbers[position] not in records:  # not reported (a wrapped engine): kept now
                    finished(position, numbers, text)
                elif records[numbers[position]].get("generation") is None:  # the engine's full record, now complete
                    records[numbers[position]] = _record(lm, position, text, ())
        else:
            texts = lm.generate_until([requests[n] for n in numbers], disable_tqdm=True)
            for position, text in enumerate(texts):
                finished(position, numbers, text)
        counters = getattr(lm, "generation_counters", None)
        if counters is not None:
            work = {k: (work or {}).get(k, 0) + v for k, v in asdict(counters).items()}
    return work


def score_lm_eval_cell(
    model,
    tokenizer,
    cell: LmEvalCell,
    *,
    batch_size=1,
    scorer: str = "shared",
    progress=None,
    bootstrap_iters: int = BOOTSTRAP_ITERS,
    generations: Generations | None = None,
    generation_rows: int | str | None = None,
) -> tuple[dict, list[dict], dict]:
    """Score a built cell; returns (record metrics, per-document samples, lm-eval's results dict).
    Loglikelihood requests go to the shared-context engine, generation requests to
    ``SharedContextLM.generate_until`` (resumed from ``generations``)."""
    from lm_eval.evaluator_utils import _process_results

    lm = make_lm(
        model,
        tokenizer,
        batch_size=batch_size,
        scorer=scorer,
        progress=progress,
        model_args=cell.model_args,
        near_ties=cell.options.get("near_ties") or DEFAULT_NEAR_TIES,
        generation_rows=generation_rows,
    )
    instances = cell.all_instances()
    for inst in instances:
        inst.resps = []
    scored = [inst for inst in instances if inst.request_type != GENERATIVE]
    if scored:
        for inst, answer in zip(scored, lm.loglikelihood(scored, disable_tqdm=True)):
            inst.resps.append(answer)
    requests = generative_requests(cell)
    generations = generations or Generations()
    per_request = 1 / max(1, len(requests) / max(1, len({(i.task_name, i.doc_id) for i in requests})))
    generated = generate(
        lm, requests, generations, progress=(lambda n: progress(n * per_request)) if progress is not None else None
    )
    records_of = defaultdict(list)  # a request's generations (several where it repeats)
    for inst, record in zip(requests, generated):
        inst.resps.append(record["text"])
        records_of[id(inst)].append(record)
    accumulated, samples, offset = {}, [], 0
    for task_name, task in cell.tasks.items():
        raw = defaultdict(list)
        samples += _task_samples(task_name, task, cell, lm, offset, records_of, raw)
        offset += sum(inst.request_type != GENERATIVE for inst in cell.instances[task_name])
        accumulated[task_name] = {"task": task, "raw_metrics": raw, "logged_samples": []}
    results = _process_results(accumulated, cell.groups, bootstrap_iters)._to_eval_results()
    record = record_metrics(cell, results, samples, lm)
    if requests and len(generations.per_process) > 1:  # how the documents were shared out this run
        record["generated_per_process"] = generations.per_process
    if requests and generations.work:  # what the engine forwarded for the documents this run generated
        record["generation_work"] = generations.work
    return record, samples, results


def _config_summary(config: dict) -> dict:
    """A task config's :data:`CONFIG_KEYS`, as JSON (a callable as lm-eval dumps it: its source)."""
    import json

    return json.loads(json.dumps({k: config[k] for k in CONFIG_KEYS if k in config}, default=str))


def task_metrics(results: dict, target: str) -> tuple[dict, dict]:
    """The named task's or group's metrics and their stderrs as lm-eval computed them: a metric of
    the filter 'none' by its bare name (``acc``), another filter's as lm-eval names it
    (``exact_match,flexible-extract``); "N/A" stderrs left out."""
    metrics, stderrs = {}, {}
    for key, value in results["results"].get(target, {}).items():
        if "," not in key or not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        metric, filter_key = key.split(",", 1)
        stderr = metric.endswith("_stderr")
        name = metric.removesuffix("_stderr") if stderr else metric
        name = name if filter_key == NO_FILTER else f"{name},{filter_key}"
        (stderrs if stderr else metrics)[name] = float(value)
    return metrics, stderrs


def record_metrics(cell: LmEvalCell, results: dict, samples: list[dict], lm) -> dict:
    """The cell's record: lm-eval's metrics (and stderrs) for the named task or group, and, for
    multiple-choice documents, our pooled macro-F1/accuracy over them (the report's intervals use
    those). A generative cell has no macro-F1 (``macro_f1`` None): its tables show its own metrics."""
    metrics, stderrs = task_metrics(results, lm_eval_target(cell.name))
    choices = [s for s in samples if s.get("loglikelihoods") is not None]
    golds = [s["gold"] for s in choices]
    preds = [s["pred"] for s in choices]
    scored = lm.last_scored.scored if lm.last_scored else []
    pooled = {"macro_f1": None}
    if choices and len(choices) == len(samples) and all(g is not None for g in golds):
        pooled = {
            "macro_f1": macro_f1(golds, preds),
            "acc_pooled": accuracy(golds, preds),
            "golds": golds,
            "preds": preds,
        }
    generated = list({(s["task"], s["doc_index"]): s for s in samples if "generation" in s}.values())
    return {
        **{k: v for k, v in pooled.items() if k not in ("golds", "preds")},
        "metrics": metrics,
        "metrics_stderr": stderrs,
        "n": len({(s["task"], s["doc_index"]) for s in samples}),
        "truncated": sum(s["truncated"] for s in {(s["task"], s["doc_index"]): s for s in samples}.values()),
        "max_length": lm.max_length,
        "forwarded_tokens": sum(s.forwarded_tokens for s in scored),
        "minimum_tokens": sum(s.minimum_tokens for s in scored),
        "rescored": sum(s["rescored"] for s in choices),
        **(
            {
                "generated": len(generated),
                "generated_tokens": sum(s["n_tokens"] or 0 for s in generated),
                "stop_reasons": dict(sorted(Counter(str(s["stop_reason"]) for s in generated).items())),
            }
            if generated
            else {}
        ),
        "num_fewshot": cell.num_fewshot,
        "shots_fixed_by_task": cell.fixed_shots,
        "request_options": cell.options,
        **({"model_args": cell.model_args} if cell.model_args else {}),
        "task_versions": {k: str(v) for k, v in cell.versions.items()},
        "lm_eval": {
            **{key: results[key] for key in RESULT_KEYS if key in results},
            "configs": {name: _config_summary(config) for name, config in results.get("configs", {}).items()},
        },
        **({"golds": golds, "preds": preds} if "golds" in pooled else {}),
    }


# --- checks before a model loads ----------------------------------------------------------------

# HFLM's max-length lookup: these config attributes in order, else the tokenizer's model_max_length
# (unless it is transformers' "no limit" value), else 2048.
_WINDOW_ATTRIBUTES = ("n_positions", "max_position_embeddings", "n_ctx")
_NO_LIMIT = 1000000000000000019884624838656
HFLM_DEFAULT_MAX_LENGTH = 2048


def configured_max_length(model_path) -> int | None:
    """The window HFLM will use for a local model folder, from its config.json (None: not a local
    folder, or unreadable; the check then happens when the model is loaded)."""
    import json
    from pathlib import Path

    folder = Path(str(model_path)).expanduser()
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    config = {**config, **(config.get("text_config") or {})}
    for name in _WINDOW_ATTRIBUTES:
        if isinstance(config.get(name), int):
            return int(config[name])
    try:
        tokenizer = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        limit = tokenizer.get("model_max_length")
    except (OSError, ValueError):
        limit = None
    return int(limit) if isinstance(limit, int) and limit != _NO_LIMIT else HFLM_DEFAULT_MAX_LENGTH


def max_gen_toks(kwargs: dict, default: int = DEFAULT_MAX_GEN_TOKS) -> int:
    """A request's max_gen_toks as HFLM reads it (lm-eval's normalize_gen_kwargs: its aliases too)."""
    from lm_eval.models.utils import normalize_gen_kwargs

    return int(normalize_gen_kwargs(dict(kwargs), default)["max_gen_toks"])


def check_generation_room(cell: LmEvalCell, max_length: int, model: str) -> None:
    """Refuse a generative request whose ``max_gen_toks`` leaves no room for its context in
    ``max_length`` (HFLM keeps ``max_length - max_gen_toks`` context tokens)."""
    from polyplatypus.errors import ConfigError

    for task_name, instances in cell.instances.items():
        for inst in instances:
            if inst.request_type != GENERATIVE:
                continue
            wanted = max_gen_toks(inst.args[1])
            if wanted >= max_length:
                raise ConfigError(
                    f"{cell.name}: task {task_name} asks max_gen_toks {wanted}, which leaves no room for the "
                    f"prompt in the {max_length}-token window of {model}; lower it with --gen-kwargs "
                    f"max_gen_toks=N (N < {max_length})"
                )
            break  # a task's requests share their generation kwargs


def generation_config_sha256(model_path) -> str | None:
    """SHA-256 of a local model's generation_config.json (None: none there, or a hub id, whose
    commit the model fingerprint names)."""
    from pathlib import Path

    from polyplatypus.utils.io import sha256_file

    path = Path(str(model_path)).expanduser() / "generation_config.json"
    return sha256_file(path) if path.is_file() else None
