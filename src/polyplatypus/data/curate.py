"""Curate instruction data: load and validate, remove exact and near-duplicates, remove records
that contain KoBEST documents, and write the result with a report.

Steps, in this order (each record removed at most once, by the first step that removes it):

1. **Load** every source in the order given (see :mod:`polyplatypus.data.instructions`); each
   output record keeps all its fields, in their order, and gets ``origin`` (the source it came
   from) at the end. A record that already has an ``origin`` (a curated file curated again)
   keeps it, so that ``origin`` always names where the record first came from, and gets the
   source it was read from this time as ``origin_source`` (when the two differ).
2. **Exact duplicates**: equal ``instruction`` and ``input`` after NFKC and whitespace
   normalization; the first occurrence is kept.
3. **Decontamination** (``decontaminate=("kobest",)``): records whose instruction + input
   contain a KoBEST document or long field (:mod:`polyplatypus.data.decontam`).
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
from pathlib import Path

from polyplatypus.data import decontam as decontam_mod
from polyplatypus.data import dedup as dedup_mod
from polyplatypus.data.config import CurateConfig
from polyplatypus.data.instructions import describe_source, iter_instructions
from polyplatypus.data.normalize import dedup_form, normalize_text
from polyplatypus.data.stats import dataset_stats, format_length_table
from polyplatypus.errors import DataError
from polyplatypus.utils.io import atomic_write_json, atomic_write_jsonl

REPORT_VERSION = 2


def report_path_for(output: str | os.PathLike) -> Path:
    """``<output>.report.json``."""
    output = Path(output)
    return output.with_name(output.name + ".report.json")


def _joined(record: dict, fields: Sequence[str]) -> str:
    return "\n".join(record[f] for f in fields if record[f])


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
    sources, output = config.sources, Path(config.output)
    benchmarks = tuple(config.decontaminate)
    dedup_threshold, dedup_ngram, dedup_fields = config.dedup_threshold, config.dedup_ngram, config.dedup_fields
    decontam = config.decontam
    kobest_dir, skip_invalid, origin_field = config.kobest_dir, config.skip_invalid, config.origin_field
    tokenizer = config.tokenizer
    template = None
    if tokenizer is not None:
        from polyplatypus.train.templates import get_template

        template = get_template(config.prompt_template)
    say = log or (lambda message: None)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str):
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    # 1. load
    records: list[dict] = []
    where: list[tuple[int, int]] = []  # (source position, 1-based record number)
    names = [describe_source(s) for s in sources]
    per_source = []
    for position, source in enumerate(sources):
        skipped = Counter()
        count = 0
        for number, record in iter_instructions(source, skip_invalid=skip_invalid, skipped=skipped,
                                                 with_numbers=True):
            if origin_field:
                if origin_field not in record:
                    record[origin_field] = names[position]
                elif record[origin_field] != names[position]:
                    record[f"{origin_field}_source"] = names[position]
            records.append(record)
            where.append((position, number))
            count += 1
        # records_in counts every record read, the skipped invalid ones included
        per_source.append({"source": names[position], "records_in": count + sum(skipped.values()),
                           "skipped_invalid": dict(sorted(skipped.items())), "exact_duplicates": 0,
                           "contaminated": 0, "near_duplicates": 0, "records_out": 0})
        say(f"loaded {count} records from {names[position]}"
            + (f" (skipped {sum(skipped.values())} invalid)" if skipped else ""))
    if not records:
        raise DataError("no valid records in any source")
    lap("load")

    def ref(index: int) -> dict:
        position, number = where[index]
        record = records[index]
        out = {"source": names[position], "record": number}
        if "id" in record:
            out["id"] = record["id"]
        text = record["instruction"]
        out["instruction"] = text if len(text) <= 100 else text[:99] + "…"
        return out

    removed_by: dict[int, str] = {}

    # 2. exact duplicates
    keys = ["\x1f".join(normalize_text(r[f]) for f in dedup_fields) for r in records]
    exact = dedup_mod.exact_duplicates(keys)
    del keys
    for dup in exact:
        removed_by[dup.removed] = "exact_duplicates"
    alive = [i for i in range(len(records)) if i not in removed_by]
    say(f"exact duplicates: {len(exact)} removed")
    lap("exact_dedup")

    # 3. decontamination
    contamination: list = []
    decontam_stats: dict = {}
    named_tasks = [b for b in benchmarks if b != "kobest"]
    task_sources = decontam_mod.document_sources(named_tasks, config.data_dirs) if named_tasks else []
    if benchmarks:
        texts = []
        if "kobest" in benchmarks:
            texts += decontam_mod.kobest_texts(kobest_dir, splits=config.kobest_splits, tasks=config.kobest_tasks)
        texts += decontam_mod.task_texts(task_sources)
        index = decontam.index(texts)
        lap("benchmark_index")
        found = index.search([_joined(records[i], decontam.fields) for i in alive], stats=decontam_stats)
        for item in found:
            item.record = alive[item.record]
            removed_by[item.record] = "contaminated"
        contamination = found
        alive = [i for i in alive if i not in removed_by]
        say(f"decontamination against {', '.join(benchmarks)} ({index.size} benchmark texts): {len(found)} removed")
        lap("decontaminate")

    # 4. near duplicates
    near: list = []
    dedup_stats: dict = {}
    if dedup_threshold is not None:
        forms = [dedup_form(_joined(records[i], dedup_fields)) for i in alive]
        found = dedup_mod.near_duplicates(forms, threshold=dedup_threshold, ngram=dedup_ngram,
                                          num_perm=config.num_perm, seed=config.seed, stats=dedup_stats)
        del forms
        near = [dedup_mod.Duplicate(alive[d.removed], alive[d.kept], d.similarity) for d in found]
        for dup in near:
            removed_by[dup.removed] = "near_duplicates"
        alive = [i for i in alive if i not in removed_by]
        say(f"near duplicates (Jaccard >= {dedup_threshold}): {len(near)} removed")
        lap("near_dedup")

    # counts
    for index, reason in removed_by.items():
        per_source[where[index][0]][reason] += 1
    for index in alive:
        per_source[where[index][0]]["records_out"] += 1
    categories: dict[str, dict[str, int]] = {}
    kept = set(alive)
    for index, record in enumerate(records):
        if "data_source" in record:
            entry = categories.setdefault(str(record["data_source"]), {"records_in": 0, "records_out": 0})
            entry["records_in"] += 1
            entry["records_out"] += index in kept
    curated = [records[i] for i in alive]

    # output
    if output.suffix.lower() == ".json":
        atomic_write_json(output, curated)
    else:
        atomic_write_jsonl(output, curated)
    lap("write")

    totals = {
        "records_in": sum(s["records_in"] for s in per_source),
        "skipped_invalid": sum(sum(s["skipped_invalid"].values()) for s in per_source),
        "exact_duplicates": len(exact),
        "contaminated": len(contamination),
        "near_duplicates": len(near),
        "records_out": len(curated),
    }
    report = {
        "version": REPORT_VERSION,
        "output": str(output),
        "settings": {
            "sources": names,
            "dedup_fields": list(dedup_fields),
            "near_dedup": None if dedup_threshold is None else {
                "method": "minhash-lsh+exact-jaccard", "threshold": dedup_threshold, "ngram": dedup_ngram,
                "normal_form": "NFKC, casefold, whitespace removed", "seed": config.seed,
                **{k: v for k, v in dedup_stats.items() if k in ("num_perm", "lsh_bands", "lsh_rows",
                                                                  "miss_probability_at_threshold",
                                                                  "candidate_threshold")},
            },
            "decontamination": None if not benchmarks else {
                "benchmarks": list(benchmarks),
                "kobest_source": _kobest_source(kobest_dir),
                **({"task_sources": {s.name: _task_source(s) for s in task_sources}} if task_sources else {}),
                "splits": [decontam_mod.normalize_split(s) for s in config.kobest_splits],
                "tasks": list(config.kobest_tasks or decontam_mod.KOBEST_TEXT_FIELDS),
                "fields": list(decontam.fields), "measures": ["containment", "occurrence", "segment"],
                "threshold": decontam.threshold, "ngram": decontam.ngram, "min_ngrams": decontam.min_ngrams,
                "field_min_ngrams": decontam.field_min_ngrams, "edit_rate": decontam.edit_rate,
                "min_letters": decontam.min_letters, "field_edit_rate": decontam.field_edit_rate,
                "field_min_letters": decontam.field_min_letters,
                "segment_min_letters": decontam.segment_min_letters,
                "edit_max_letters": decontam_mod.DEFAULT_EDIT_MAX_LETTERS,
                "normal_form": "NFKC, casefold, letters and digits only",
                **{k: decontam_stats.get(k) for k in ("benchmark_texts_indexed", "benchmark_documents_too_short",
                                                      "containment_texts", "occurrence_texts", "segment_texts")},
            },
            "skip_invalid": skip_invalid,
            "origin_field": origin_field,
            "prompt_template": None if template is None else template.name,
        },
        "totals": totals,
        "sources": per_source,
        "data_sources": dict(sorted(categories.items())),
        "exact_duplicates": [{"removed": ref(d.removed), "kept": ref(d.kept)} for d in exact],
        "contaminated": [
            {"removed": ref(c.record), **c.describe(), "benchmark_texts_matched": c.matches,
             "benchmark": c.text.reference()}
            for c in contamination
        ],
        "near_duplicates": [
            {"removed": ref(d.removed), "kept": ref(d.kept), "similarity": round(d.similarity, 4)} for d in near
        ],
        "stats": None,
    }
    if tokenizer is not None:
        say("computing token lengths")
        report["stats"] = dataset_stats(curated, tokenizer=tokenizer, template=template)
        lap("token_stats")
    else:
        report["stats"] = dataset_stats(curated)
    report_path = Path(config.report_path) if config.report_path is not None else report_path_for(output)
    atomic_write_json(report_path, report)
    report["report_path"] = str(report_path)  # not in the file (it would name itself)
    report["timings"] = timings  # not in the file: the file is the same on every run
    return report


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
        lines.append(f"  {name:<40} {s['records_in']:>8} {sum(s['skipped_invalid'].values()):>8} "
                     f"{s['exact_duplicates']:>7} {s['contaminated']:>7} {s['near_duplicates']:>7} "
                     f"{s['records_out']:>8}")
    skipped = Counter()
    for s in report["sources"]:
        skipped.update(s["skipped_invalid"])
    if skipped:
        lines.append("  skipped invalid records: " + ", ".join(f"{k}: {v}" for k, v in sorted(skipped.items())))
    settings = report["settings"]
    if settings["decontamination"]:
        d = settings["decontamination"]
        against = (f"KoBEST {'+'.join(d['splits'])} from {d['kobest_source']}" if "kobest" in d["benchmarks"] else "")
        named = ", ".join(f"{name} (evaluation and few-shot documents, from {where})"
                          for name, where in d.get("task_sources", {}).items())
        lines.append(f"decontamination: {' and '.join(part for part in (against, named) if part)}, "
                     f"containment >= {d['threshold']} on {d['ngram']}-grams, or a short text within "
                     f"{d['edit_rate']:.0%} ({d['field_edit_rate']:.0%} for a field) edits; "
                     f"{totals['contaminated']} removed")
        for item in report["contaminated"][:examples]:
            b = item["benchmark"]
            how = (f"containment {item['similarity']:.2f}" if item["measure"] == "containment"
                   else f"{item['edits']} edits in {item['letters']} letters" if item["measure"] == "occurrence"
                   else "whole segment")
            lines.append(f"  {item['removed']['source']}#{item['removed']['record']} contains "
                         f"{b['task']}/{b['split']}#{b['doc_index']} {b['field']} ({how}): {b['text'][:60]!r}")
    else:
        lines.append("decontamination: off (use --decontaminate kobest)")
    if settings["near_dedup"]:
        n = settings["near_dedup"]
        lines.append(f"near duplicates: Jaccard >= {n['threshold']} on {n['ngram']}-grams "
                     f"({n['lsh_bands']} bands x {n['lsh_rows']} rows, miss probability at threshold "
                     f"{n['miss_probability_at_threshold']:.1e}); {totals['near_duplicates']} removed")
        for item in report["near_duplicates"][:examples]:
            lines.append(f"  {item['removed']['source']}#{item['removed']['record']} ~ "
                         f"{item['kept']['source']}#{item['kept']['record']} ({item['similarity']:.2f}): "
                         f"{item['removed']['instruction'][:60]!r}")
    else:
        lines.append("near duplicates: off")
    lines.extend(format_length_table(report.get("stats") or {}))
    if "report_path" in report:
        lines.append(f"report: {report['report_path']}")
    return "\n".join(lines)


def stderr_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
