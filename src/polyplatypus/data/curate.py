"""Curate instruction data: load and validate, remove exact and near-duplicates, remove records
that contain KoBEST documents, and write the result with a report.

A source may hold instruction records (``instruction``, ``input``, ``output``), conversation
records (``messages``, checked by :func:`polyplatypus.data.conversations.validate_messages`) or
both. A conversation is compared through the messages of the roles that carry the compared
fields (:data:`~polyplatypus.data.conversations.FIELD_ROLES`: its user turns for the default
``instruction``, ``input``) and searched for benchmark text in every message; it is written as
it came.

Steps, in this order (each record removed at most once, by the first step that removes it):

1. **Load** every source in the order given (see :mod:`polyplatypus.data.instructions`); each
   output record keeps all its fields, in their order, and gets ``origin`` (the source it came
   from) at the end. A record that already has an ``origin`` (a curated file curated again)
   keeps it, so that ``origin`` always names where the record first came from, and gets the
   source it was read from this time as ``origin_source`` (when the two differ).
2. **Exact duplicates**: equal ``instruction`` and ``input`` (a conversation: equal user
   turns, compared with conversations only) after NFKC and whitespace normalization; the first
   occurrence is kept.
3. **Decontamination** (``decontaminate=("kobest",)``): records whose instruction + input (a
   conversation: any message) contain a KoBEST document or long field
   (:mod:`polyplatypus.data.decontam`).
4. **Near-duplicates**: character n-gram Jaccard at or above ``dedup_threshold`` with an
   earlier kept record (:mod:`polyplatypus.data.dedup`). Decontamination runs first so that
   every near-duplicate removed points at a record that is in the output.

Earlier sources win: list the dataset you trust most first. The same input and settings give
byte-identical output and report on every run.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from polyplatypus.data import decontam as decontam_mod
from polyplatypus.data import dedup as dedup_mod
from polyplatypus.data.config import CurateConfig
from polyplatypus.data.conversations import (
    MESSAGES,
    contents,
    field_texts,
    is_conversation,
    joined_fields,
    record_kind,
)
from polyplatypus.data.instructions import describe_source, iter_instructions
from polyplatypus.data.normalize import dedup_form, normalize_text
from polyplatypus.data.stats import dataset_stats, format_length_table, refuse_token_lengths_of, template_name
from polyplatypus.errors import DataError
from polyplatypus.utils.hub import check_hub_needs
from polyplatypus.utils.io import atomic_write_json, atomic_write_jsonl

REPORT_VERSION = 2


def report_path_for(output: str | os.PathLike) -> Path:
    """``<output>.report.json``."""
    output = Path(output)
    return output.with_name(output.name + ".report.json")


#: What starts the exact-duplicate key of a conversation: conversations are exact duplicates of
#: conversations only (an instruction record and a conversation of the same text are caught as
#: near-duplicates, at similarity 1).
_CONVERSATION_KEY = MESSAGES + "\x1e"


def _exact_key(record: dict, fields: Sequence[str]) -> str:
    key = "\x1f".join(normalize_text(text) for text in field_texts(record, fields))
    return _CONVERSATION_KEY + key if is_conversation(record) else key


def _decontam_text(record: dict, fields: Sequence[str]) -> str:
    """An instruction record's ``fields``; every message of a conversation: in a multi-turn
    conversation any turn, an assistant's too, is context the model reads before a later turn."""
    if is_conversation(record):
        return "\n".join(text for text in contents(record[MESSAGES]) if text)
    return joined_fields(record, fields)


def _shortened(text: str, most: int = 100) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def curate(
    sources: Sequence[str | os.PathLike] | None = None,
    output: str | os.PathLike | None = None,
    *,
    config: CurateConfig | None = None,
    log: Callable[[str], None] | None = None,
    **options,
) -> dict:
    """Curate ``sources`` into ``output`` (.jsonl or .json) and write ``<output>.report.json``.

    The settings are :class:`~polyplatypus.data.config.CurateConfig`'s fields, given as ``config``
    and/or keyword ``options`` (``dedup_threshold=0.9``, ``decontam_threshold=0.6``; the same
    names and checks as the flags and the recipe's ``data`` section). ``dedup_threshold=None``
    turns near-duplicate removal off (exact duplicates are always removed). ``decontaminate`` is
    ``("kobest",)`` or empty; KoBEST comes from ``kobest_dir``, else ``$POLYPLATYPUS_KOBEST_DIR``,
    else the hub. ``tokenizer`` (a name, path or tokenizer) adds token-length statistics of the
    training examples built with ``prompt_template`` (see :mod:`polyplatypus.data.stats`). Returns
    the report (also written as JSON).
    """
    if sources is not None:
        options["sources"] = [os.fspath(s) for s in sources]
    if output is not None:
        options["output"] = output
    config = CurateConfig.build(config, caller="curate()", **options)
    _refuse_overwriting_inputs(config)
    template = _template(config)  # an unknown template fails before any work
    tokenizer = _tokenizer(config, template)  # ... and a chat template that cannot be used
    say = log or (lambda message: None)
    timer = _Timer()

    named_tasks = [name for name in config.decontaminate if name != "kobest"]  # unknown names fail before any work
    task_sources = decontam_mod.document_sources(named_tasks, config.data_dirs) if named_tasks else []
    check_hub_needs(curate_hub_needs(config, task_sources), command="data curate")  # offline: at once
    run = _load(config, say)
    _refuse_token_lengths_of_conversations(run)
    run.task_sources = task_sources
    timer.lap("load")
    _remove_exact_duplicates(run, say)
    timer.lap("exact_dedup")
    if config.decontaminate:
        _decontaminate(run, say, timer)  # laps "benchmark_index" and "decontaminate"
    if config.dedup_threshold is not None:
        _remove_near_duplicates(run, say)
        timer.lap("near_dedup")
    curated = _write(run)
    timer.lap("write")
    report = _report(run, curated, template)
    report["stats"] = _dataset_stats(curated, tokenizer, template, say, timer)
    report_path = Path(config.report_path) if config.report_path is not None else report_path_for(config.output)
    atomic_write_json(report_path, report)
    report["report_path"] = str(report_path)  # not in the file (it would name itself)
    report["timings"] = timer.timings  # not in the file: the file is the same on every run
    return report


def _refuse_overwriting_inputs(config: CurateConfig) -> None:
    """Curation never replaces what it reads: the output and the report are neither a source nor
    the prompt template, nor each other (checked before any work)."""
    from polyplatypus.utils.outputs import refuse_inputs

    inputs = [("--data", source) for source in config.sources]
    if str(config.prompt_template).lower().endswith(".json"):
        inputs.append(("--prompt-template", config.prompt_template))
    report = Path(config.report_path) if config.report_path is not None else report_path_for(config.output)
    refuse_inputs(config.output, inputs)
    refuse_inputs(report, inputs + [("--output", config.output)], option="--report")


def curate_hub_needs(config: CurateConfig, task_sources) -> list:
    """The hub ids curation loads: hub sources, and the benchmarks decontaminated against where
    their data comes from the hub (KoBEST without a folder, lm-eval tasks with hub datasets)."""
    from polyplatypus.data.instructions import instruction_needs
    from polyplatypus.data.kobest import HUB_DATASET, resolve_kobest_dir
    from polyplatypus.data.task_data import ReferenceTaskDocuments, reference_task_needs
    from polyplatypus.tasks.lm_eval_tasks import LmEvalDocuments, hub_needs  # lm_eval itself only when used
    from polyplatypus.utils.hub import HubNeed

    needs = instruction_needs(config.sources)
    if "kobest" in config.decontaminate and resolve_kobest_dir(config.kobest_dir) is None:
        needs.append(
            HubNeed(
                HUB_DATASET,
                "dataset",
                "KoBEST data (decontamination)",
                "--kobest-dir DIR or $POLYPLATYPUS_KOBEST_DIR (the folder with the TSV files)",
            )
        )
    for source in task_sources:
        if isinstance(source, ReferenceTaskDocuments):
            needs += reference_task_needs([source.task], config.data_dirs)
        elif isinstance(source, LmEvalDocuments):
            needs += hub_needs([source.name], source.include_path)
    return needs


def _template(config: CurateConfig):
    """The prompt template the token lengths are measured with, or ``chat`` (None without a
    tokenizer)."""
    if config.tokenizer is None:
        return None
    from polyplatypus.data.templates import CHAT, get_template

    return CHAT if config.prompt_template == CHAT else get_template(config.prompt_template)


def _tokenizer(config: CurateConfig, template):
    """``config.tokenizer``; with ``chat``, loaded and its chat template checked (before any work)."""
    from polyplatypus.data.templates import CHAT

    if template != CHAT:
        return config.tokenizer  # loaded when the lengths are measured
    from polyplatypus.data.chat import MEASURE_WITHOUT_TEMPLATE, use_chat_template
    from polyplatypus.models.loading import load_tokenizer

    tokenizer = load_tokenizer(config.tokenizer)
    source = getattr(tokenizer, "name_or_path", None) or str(config.tokenizer)
    use_chat_template(tokenizer, source=source, missing=MEASURE_WITHOUT_TEMPLATE)
    return tokenizer


def _dataset_stats(curated: list[dict], tokenizer, template, say, timer: _Timer) -> dict:
    """Counts and lengths of the output; token lengths too when a tokenizer is given (timed)."""
    if tokenizer is None:
        return dataset_stats(curated)
    say("computing token lengths")
    stats = dataset_stats(curated, tokenizer=tokenizer, template=template)
    timer.lap("token_stats")
    return stats


class _Timer:
    """Seconds spent in each named step, in order."""

    def __init__(self):
        self.timings: dict[str, float] = {}
        self._clock = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - self._clock, 3)
        self._clock = now


@dataclass
class _Run:
    """The records of one curation and what each step removed (indices into ``records``)."""

    config: CurateConfig
    records: list[dict]
    where: list[tuple[int, int]]  # (source position, 1-based record number)
    names: list[str]  # each source as the report names it
    per_source: list[dict]  # the report's per-source counts
    removed_by: dict[int, str] = field(default_factory=dict)  # record -> the step that removed it
    exact: list = field(default_factory=list)
    contamination: list = field(default_factory=list)
    near: list = field(default_factory=list)
    decontam_stats: dict = field(default_factory=dict)
    dedup_stats: dict = field(default_factory=dict)
    task_sources: list = field(default_factory=list)  # the named tasks decontaminated against

    @property
    def alive(self) -> list[int]:
        """The records no step has removed, in input order."""
        return [i for i in range(len(self.records)) if i not in self.removed_by]

    def ref(self, index: int) -> dict:
        """Where a record came from, as the report names it."""
        position, number = self.where[index]
        record = self.records[index]
        out = {"source": self.names[position], "record": number}
        if "id" in record:
            out["id"] = record["id"]
        if is_conversation(record):
            out["user"] = _shortened(contents(record[MESSAGES], ("user",))[0])
        else:
            out["instruction"] = _shortened(record["instruction"])
        return out


def _load(config: CurateConfig, say: Callable[[str], None]) -> _Run:
    """Step 1: every source's valid records, in order, each with its ``origin``."""
    origin_field = config.origin_field
    run = _Run(config, [], [], [describe_source(s) for s in config.sources], [])
    for position, source in enumerate(config.sources):
        name, skipped, count = run.names[position], Counter(), 0
        for number, record in iter_instructions(
            source,
            skip_invalid=config.skip_invalid,
            skipped=skipped,
            with_numbers=True,
            conversations=True,
            messages_as_given=True,  # written as they came: every key of each message kept
        ):
            if origin_field:
                if origin_field not in record:
                    record[origin_field] = name
                elif record[origin_field] != name:
                    record[f"{origin_field}_source"] = name
            run.records.append(record)
            run.where.append((position, number))
            count += 1
        # records_in counts every record read, the skipped invalid ones included
        run.per_source.append(
            {
                "source": name,
                "records_in": count + sum(skipped.values()),
                "skipped_invalid": dict(sorted(skipped.items())),
                "exact_duplicates": 0,
                "contaminated": 0,
                "near_duplicates": 0,
                "records_out": 0,
            }
        )
        # the same count as "curated N records into M": every record read, invalid ones included
        say(
            f"read {count + sum(skipped.values())} records from {name}"
            + (f" ({sum(skipped.values())} invalid, skipped)" if skipped else "")
        )
    if not run.records:
        raise DataError("no valid records in any source")
    return run


def _refuse_token_lengths_of_conversations(run: _Run) -> None:
    """With a tokenizer, no conversation (checked after loading, before any other work or output)."""
    if run.config.tokenizer is None:
        return
    for record, (position, number) in zip(run.records, run.where):
        refuse_token_lengths_of(record, template=run.config.prompt_template, path=run.names[position], number=number)


def _remove_exact_duplicates(run: _Run, say: Callable[[str], None]) -> None:
    """Step 2: equal normalized ``dedup_fields``; the first occurrence stays."""
    keys = [_exact_key(r, run.config.dedup_fields) for r in run.records]
    run.exact = dedup_mod.exact_duplicates(keys)
    for dup in run.exact:
        run.removed_by[dup.removed] = "exact_duplicates"
    say(f"exact duplicates: {len(run.exact)} removed")


def _decontaminate(run: _Run, say: Callable[[str], None], timer: _Timer) -> None:
    """Step 3: records containing a benchmark document or long field (KoBEST's, or the
    evaluation and few-shot documents of the tasks named)."""
    config, decontam = run.config, run.config.decontam
    texts = []
    if "kobest" in config.decontaminate:
        texts += decontam_mod.kobest_texts(config.kobest_dir, splits=config.kobest_splits, tasks=config.kobest_tasks)
    texts += decontam_mod.task_texts(run.task_sources)
    index = decontam.index(texts)
    timer.lap("benchmark_index")
    alive = run.alive
    found = index.search([_decontam_text(run.records[i], decontam.fields) for i in alive], stats=run.decontam_stats)
    for item in found:
        item.record = alive[item.record]
        run.removed_by[item.record] = "contaminated"
    run.contamination = found
    say(
        f"decontamination against {', '.join(config.decontaminate)} ({index.size} benchmark texts): {len(found)} removed"
    )
    timer.lap("decontaminate")


def _remove_near_duplicates(run: _Run, say: Callable[[str], None]) -> None:
    """Step 4: records whose n-gram Jaccard with an earlier kept record reaches the threshold."""
    config, alive = run.config, run.alive
    forms = [dedup_form(joined_fields(run.records[i], config.dedup_fields)) for i in alive]
    found = dedup_mod.near_duplicates(
        forms,
        threshold=config.dedup_threshold,
        ngram=config.dedup_ngram,
        num_perm=config.num_perm,
        seed=config.seed,
        stats=run.dedup_stats,
    )
    run.near = [dedup_mod.Duplicate(alive[d.removed], alive[d.kept], d.similarity) for d in found]
    for dup in run.near:
        run.removed_by[dup.removed] = "near_duplicates"
    say(f"near duplicates (Jaccard >= {config.dedup_threshold}): {len(run.near)} removed")


def _write(run: _Run) -> list[dict]:
    """Step 5: the kept records to the output (.json: one array; else JSON lines)."""
    curated = [run.records[i] for i in run.alive]
    output = Path(run.config.output)
    if output.suffix.lower() == ".json":
        atomic_write_json(output, curated)
    else:
        atomic_write_jsonl(output, curated)
    return curated


def _report(run: _Run, curated: list[dict], template) -> dict:
    """Step 6: the report (without ``stats``, which the caller adds): settings, counts and every
    removed record with the record it duplicates or the benchmark text it contains."""
    totals = {
        "records_in": sum(s["records_in"] for s in run.per_source),
        "skipped_invalid": sum(sum(s["skipped_invalid"].values()) for s in run.per_source),
        "exact_duplicates": len(run.exact),
        "contaminated": len(run.contamination),
        "near_duplicates": len(run.near),
        "records_out": len(curated),
    }
    ref = run.ref
    return {
        "version": REPORT_VERSION,
        "output": str(Path(run.config.output)),
        "settings": _settings_block(run, template),
        "totals": totals,
        "sources": _count_per_source(run),
        "data_sources": _data_source_counts(run),
        "kinds": _kind_counts(run),
        "exact_duplicates": [{"removed": ref(d.removed), "kept": ref(d.kept)} for d in run.exact],
        "contaminated": [
            {
                "removed": ref(c.record),
                **c.describe(),
                "benchmark_texts_matched": c.matches,
                "benchmark": c.text.reference(),
            }
            for c in run.contamination
        ],
        "near_duplicates": [
            {"removed": ref(d.removed), "kept": ref(d.kept), "similarity": round(d.similarity, 4)} for d in run.near
        ],
        "stats": None,
    }


def _count_per_source(run: _Run) -> list[dict]:
    """Each source's counts, with what the steps removed and what is kept filled in."""
    for index, reason in run.removed_by.items():
        run.per_source[run.where[index][0]][reason] += 1
    for index in run.alive:
        run.per_source[run.where[index][0]]["records_out"] += 1
    return run.per_source


def _data_source_counts(run: _Run) -> dict[str, dict[str, int]]:
    """Records in and out per ``data_source`` value (KOpen-Platypus's categories), by name."""
    categories: dict[str, dict[str, int]] = {}
    for index, record in enumerate(run.records):
        if "data_source" in record:
            entry = categories.setdefault(str(record["data_source"]), {"records_in": 0, "records_out": 0})
            entry["records_in"] += 1
            entry["records_out"] += index not in run.removed_by
    return dict(sorted(categories.items()))


def _kind_counts(run: _Run) -> dict[str, dict[str, int]]:
    """Valid records read, removed by each step and kept, per kind (instruction, messages)."""
    kinds: dict[str, dict[str, int]] = {}
    for index, record in enumerate(run.records):
        entry = kinds.setdefault(
            record_kind(record),
            {"records": 0, "exact_duplicates": 0, "contaminated": 0, "near_duplicates": 0, "records_out": 0},
        )
        entry["records"] += 1
        entry[run.removed_by.get(index, "records_out")] += 1
    return dict(sorted(kinds.items()))


def _settings_block(run: _Run, template) -> dict:
    """The settings in the report: the settings object's fields, grouped by step, with the
    sources as described and what the steps measured (LSH bands, benchmark texts indexed)."""
    config = run.config
    return {
        "sources": run.names,
        "dedup_fields": list(config.dedup_fields),
        "near_dedup": None
        if config.dedup_threshold is None
        else {
            "method": "minhash-lsh+exact-jaccard",
            "threshold": config.dedup_threshold,
            "ngram": config.dedup_ngram,
            "normal_form": "NFKC, casefold, whitespace removed",
            "seed": config.seed,
            **{k: v for k, v in run.dedup_stats.items() if k in dedup_mod.LSH_STATS},
        },
        "decontamination": None
        if not config.decontaminate
        else {
            "benchmarks": list(config.decontaminate),
            "kobest_source": _kobest_source(config.kobest_dir),
            **({"task_sources": {s.name: _task_source(s) for s in run.task_sources}} if run.task_sources else {}),
            "splits": [decontam_mod.normalize_split(s) for s in config.kobest_splits],
            "tasks": list(config.kobest_tasks or decontam_mod.KOBEST_TEXT_FIELDS),
            "fields": list(config.decontam.fields),
            "measures": ["containment", "occurrence", "segment"],
            **config.decontam.model_dump(exclude={"fields"}),
            "edit_max_letters": decontam_mod.EDIT_MAX_LETTERS,
            "normal_form": "NFKC, casefold, letters and digits only",
            **{k: run.decontam_stats.get(k) for k in decontam_mod.INDEX_STATS},
        },
        "skip_invalid": config.skip_invalid,
        "origin_field": config.origin_field,
        "prompt_template": None if template is None else template_name(template),
    }


def _task_source(source) -> str:
    """Where a named task's documents came from (a reference task's folder or hub; an lm-eval task's
    own description where it gives one)."""
    describe = getattr(source, "describe", None)
    return describe() if callable(describe) else source.benchmark


def _kobest_source(kobest_dir) -> str:
    from polyplatypus.data.kobest import describe_source as describe_kobest

    return describe_kobest(kobest_dir)


def format_summary(report: dict, *, examples: int = 3) -> str:
    """The report as a few readable lines for the terminal."""
    totals = report["totals"]
    lines = [f"curated {totals['records_in']} records into {totals['records_out']} -> {report['output']}"]
    header = f"  {'source':<40} {'in':>8} {'invalid':>8} {'exact':>7} {'contam':>7} {'near':>7} {'out':>8}"
    lines.append(header)
    for s in report["sources"]:
        name = s["source"] if len(s["source"]) <= 40 else "…" + s["source"][-39:]
        lines.append(
            f"  {name:<40} {s['records_in']:>8} {sum(s['skipped_invalid'].values()):>8} "
            f"{s['exact_duplicates']:>7} {s['contaminated']:>7} {s['near_duplicates']:>7} "
            f"{s['records_out']:>8}"
        )
    skipped = Counter()
    for s in report["sources"]:
        skipped.update(s["skipped_invalid"])
    kinds = report.get("kinds", {})
    if MESSAGES in kinds:  # instruction records only: nothing to tell apart
        lines.append(
            "  by kind: "
            + ", ".join(f"{kind} {k['records']} valid -> {k['records_out']} out" for kind, k in kinds.items())
        )
    if skipped:
        lines.append("  skipped invalid records: " + ", ".join(f"{k}: {v}" for k, v in sorted(skipped.items())))
    settings = report["settings"]
    if settings["decontamination"]:
        d = settings["decontamination"]
        against = f"KoBEST {'+'.join(d['splits'])} from {d['kobest_source']}" if "kobest" in d["benchmarks"] else ""
        named = ", ".join(
            f"{name} (evaluation and few-shot documents, from {where})"
            for name, where in d.get("task_sources", {}).items()
        )
        lines.append(
            f"decontamination: {' and '.join(part for part in (against, named) if part)}, "
            f"containment >= {d['threshold']} on {d['ngram']}-grams, or a short text within "
            f"{d['edit_rate']:.0%} ({d['field_edit_rate']:.0%} for a field) edits; "
            f"{totals['contaminated']} removed"
        )
        for item in report["contaminated"][:examples]:
            b = item["benchmark"]
            how = (
                f"containment {item['similarity']:.2f}"
                if item["measure"] == "containment"
                else f"{item['edits']} edits in {item['letters']} letters"
                if item["measure"] == "occurrence"
                else "whole segment"
            )
            lines.append(
                f"  {item['removed']['source']}#{item['removed']['record']} contains "
                f"{b['task']}/{b['split']}#{b['doc_index']} {b['field']} ({how}): {b['text'][:60]!r}"
            )
    else:
        lines.append("decontamination: off (use --decontaminate kobest)")
    if settings["near_dedup"]:
        n = settings["near_dedup"]
        lines.append(
            f"near duplicates: Jaccard >= {n['threshold']} on {n['ngram']}-grams "
            f"({n['lsh_bands']} bands x {n['lsh_rows']} rows, miss probability at threshold "
            f"{n['miss_probability_at_threshold']:.1e}); {totals['near_duplicates']} removed"
        )
        for item in report["near_duplicates"][:examples]:
            lines.append(
                f"  {item['removed']['source']}#{item['removed']['record']} ~ "
                f"{item['kept']['source']}#{item['kept']['record']} ({item['similarity']:.2f}): "
                f"{item['removed'].get('instruction', item['removed'].get('user', ''))[:60]!r}"
            )
    else:
        lines.append("near duplicates: off")
    lines.extend(format_length_table(report.get("stats") or {}))
    if "report_path" in report:
        lines.append(f"report: {report['report_path']}")
    return "\n".join(lines)


def stderr_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
