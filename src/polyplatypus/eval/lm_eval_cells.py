"""Score one lm-eval cell (task or group, shots) with the shared-context engine, and compute its
metrics with lm-eval's own code: the task's filters and ``process_results``, its aggregation
functions, and lm-eval's group consolidation (size-weighted where the group says so).

The requests are those :func:`polyplatypus.tasks.lm_eval_tasks.build_cell` built once for the
cell (and fingerprinted); under several processes each scores a share of the documents and the
results are gathered back in order (:func:`polyplatypus.eval.distributed.score_split`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable

from polyplatypus.eval.distributed import score_split
from polyplatypus.eval.metrics import accuracy, macro_f1
from polyplatypus.tasks.lm_eval_tasks import LmEvalCell, lm_eval_target
from polyplatypus.utils.quiet import without_log_message

# What a record keeps of lm-eval's results dict (the lm-eval-format results files are written from it)
RESULT_KEYS = ("results", "groups", "group_subtasks", "versions", "n-shot", "higher_is_better", "n-samples")
# What it keeps of each task's config: its data and scoring (the prompts are in the fingerprint)
CONFIG_KEYS = ("task", "tag", "dataset_path", "dataset_name", "dataset_kwargs", "training_split", "validation_split",
               "test_split", "fewshot_split", "output_type", "num_fewshot", "metric_list", "metadata")
BOOTSTRAP_ITERS = 100000  # simple_evaluate's default (stderr of metrics without a closed form)
NO_FILTER = "none"


class _Documents:
    """``score_split``'s engine interface over already-encoded documents."""

    def __init__(self, scorer):
        self.scorer = scorer

    def score(self, documents, progress=None):
        return self.scorer.score_encoded(documents, progress)


def make_lm(model, tokenizer, *, batch_size=1, scorer: str = "shared",
            progress: Callable[[float], None] | None = None):
    """Our lm-eval engine around an already loaded model, splitting documents across processes."""
    from polyplatypus.eval.lm_eval_engine import SharedContextLM

    # HFLM warns, for a loaded model, that it is "assuming single-process call" and not to launch
    # via accelerate; under torchrun both read as wrong: score_split below spreads the documents
    with without_log_message("lm_eval.models.huggingface", "assuming single-process call",
                             "model kwarg is not of type `str`"):
        lm = SharedContextLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, scorer=scorer)
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


def _task_samples(task_name, task, cell: LmEvalCell, lm, offset: int, raw: dict) -> list[dict]:
    """Runs the task's filters and process_results (as lm_eval.evaluator.evaluate); returns samples."""
    instances = cell.instances[task_name]
    task._instances = instances
    task.apply_filters()
    by_doc = defaultdict(list)
    for number, inst in enumerate(instances):
        by_doc[inst.doc_id].append((inst.idx, offset + number, inst))
    samples = []
    multiple_choice = task.get_config("output_type") == "multiple_choice"
    for filter_key in instances[0].filtered_resps:
        for doc_id, doc in task.doc_iterator(rank=0, limit=cell.limits[task_name], world_size=1):
            requests = sorted(by_doc[doc_id], key=lambda item: item[0])
            metrics = task.process_results(doc, [inst.filtered_resps[filter_key] for _, _, inst in requests])
            for metric, value in metrics.items():
                raw[(metric, filter_key)].append(value)
            if filter_key != NO_FILTER and len(instances[0].filtered_resps) > 1:
                continue
            places = [lm.last_scored.places[number] for _, number, _ in requests]
            scored = [lm.last_scored.scored[document] for document, _ in places]
            lls = [inst.resps[0][0] for _, _, inst in requests]
            samples.append({
                "task": task_name,
                "doc_index": doc_id,
                "loglikelihoods": lls,
                "is_greedy": [inst.resps[0][1] for _, _, inst in requests],
                "pred": max(range(len(lls)), key=lambda i: (lls[i], -i)) if multiple_choice else None,
                "gold": _gold(task, doc) if multiple_choice else None,
                "truncated": any(s.truncated for s in scored),
                "rescored": any(s.rescored for s in scored),
                "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float, bool))},
                "context": requests[0][2].args[0],
                "continuations": [inst.args[1] for _, _, inst in requests],
            })
    return samples


def score_lm_eval_cell(model, tokenizer, cell: LmEvalCell, *, batch_size=1, scorer: str = "shared", progress=None,
                       bootstrap_iters: int = BOOTSTRAP_ITERS) -> tuple[dict, list[dict], dict]:
    """Score a built cell; returns (record metrics, per-document samples, lm-eval's results dict)."""
    from lm_eval.evaluator_utils import _process_results

    lm = make_lm(model, tokenizer, batch_size=batch_size, scorer=scorer, progress=progress)
    instances = cell.all_instances()
    for inst in instances:
        inst.resps = []
    for inst, answer in zip(instances, lm.loglikelihood(instances, disable_tqdm=True)):
        inst.resps.append(answer)
    accumulated, samples, offset = {}, [], 0
    for task_name, task in cell.tasks.items():
        raw = defaultdict(list)
        samples += _task_samples(task_name, task, cell, lm, offset, raw)
        offset += len(cell.instances[task_name])
        accumulated[task_name] = {"task": task, "raw_metrics": raw, "logged_samples": []}
    results = _process_results(accumulated, cell.groups, bootstrap_iters)._to_eval_results()
    return record_metrics(cell, results, samples, lm), samples, results


def _config_summary(config: dict) -> dict:
    """A task config's :data:`CONFIG_KEYS`, as JSON (a callable as lm-eval dumps it: its source)."""
    import json

    return json.loads(json.dumps({k: config[k] for k in CONFIG_KEYS if k in config}, default=str))


def record_metrics(cell: LmEvalCell, results: dict, samples: list[dict], lm) -> dict:
    """The cell's record: lm-eval's metrics for the named task or group (filter 'none'), and our
    pooled macro-F1/accuracy over its documents (the report's tables and intervals use those)."""
    target = lm_eval_target(cell.name)
    named = results["results"].get(target, {})
    metrics = {key.split(",")[0]: value for key, value in named.items()
               if key.endswith("," + NO_FILTER) and "_stderr" not in key and isinstance(value, (int, float))}
    golds = [s["gold"] for s in samples]
    preds = [s["pred"] for s in samples]
    scored = lm.last_scored.scored if lm.last_scored else []
    pooled = {}
    if samples and all(g is not None for g in golds):
        pooled = {"macro_f1": macro_f1(golds, preds), "acc_pooled": accuracy(golds, preds),
                  "golds": golds, "preds": preds}
    return {
        **{k: v for k, v in pooled.items() if k not in ("golds", "preds")},
        "metrics": metrics,
        "n": len(samples),
        "truncated": sum(s["truncated"] for s in samples),
        "max_length": lm.max_length,
        "forwarded_tokens": sum(s.forwarded_tokens for s in scored),
        "minimum_tokens": sum(s.minimum_tokens for s in scored),
        "rescored": sum(s["rescored"] for s in samples),
        "num_fewshot": cell.num_fewshot,
        "shots_fixed_by_task": cell.fixed_shots,
        "task_versions": {k: str(v) for k, v in cell.versions.items()},
        "lm_eval": {**{key: results[key] for key in RESULT_KEYS if key in results},
                    "configs": {name: _config_summary(config) for name, config in results.get("configs", {}).items()}},
        **({"golds": golds, "preds": preds} if pooled else {}),
    }
