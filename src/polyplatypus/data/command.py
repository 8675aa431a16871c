"""``polyplatypus data curate`` and ``polyplatypus data stats``."""

from __future__ import annotations

import argparse
import sys

from polyplatypus.data import decontam, dedup
from polyplatypus.data.stats import DEFAULT_TEMPLATE


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def register(subparsers) -> None:
    """Add ``data`` with ``curate`` and ``stats`` to the top-level parser."""
    data = subparsers.add_parser("data", help="curate and inspect instruction data",
                                 description="Curate instruction data (KOpen-Platypus format) and inspect it.")
    actions = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    curate = actions.add_parser(
        "curate", help="merge sources, remove duplicates and KoBEST contamination",
        description="Merge instruction sources; remove invalid records, exact duplicates, KoBEST-contaminated "
        "records and near-duplicates (first occurrence kept); write the result and <output>.report.json.",
    )
    curate.add_argument("--data", action="append", required=True, metavar="SOURCE",
                        help="hub dataset id (train split) or .json/.jsonl/.parquet file; repeat for several, "
                        "earlier sources win ties")
    curate.add_argument("--output", required=True, metavar="PATH", help="curated .jsonl (or .json)")
    curate.add_argument("--dedup-threshold", type=_fraction, default=dedup.DEFAULT_THRESHOLD, metavar="J",
                        help="remove a record whose character n-gram Jaccard with an earlier kept record is >= J "
                        "(default %(default)s)")
    curate.add_argument("--no-near-dedup", action="store_true",
                        help="keep near-duplicates (exact duplicates are still removed)")
    curate.add_argument("--dedup-ngram", type=_positive, default=dedup.DEFAULT_NGRAM, metavar="N",
                        help="character n-gram size for near-duplicates (default %(default)s)")
    curate.add_argument("--num-perm", type=_positive, default=dedup.DEFAULT_NUM_PERM, metavar="K",
                        help="MinHash permutations (default %(default)s)")
    curate.add_argument("--dedup-fields", type=_csv, default=["instruction", "input"], metavar="FIELDS",
                        help="fields compared for duplicates (default instruction,input)")
    curate.add_argument("--decontaminate", choices=("kobest", "none"), default="none",
                        help="remove records containing benchmark documents (default none)")
    curate.add_argument("--kobest-dir", default=None, metavar="DIR",
                        help="KoBEST v1.0 TSVs (default $POLYPLATYPUS_KOBEST_DIR, else the hub)")
    curate.add_argument("--kobest-splits", type=_csv, default=list(decontam.DEFAULT_SPLITS), metavar="SPLITS",
                        help="splits to decontaminate against (default test,validation; dev = validation)")
    curate.add_argument("--kobest-tasks", type=_csv, default=None, metavar="TASKS",
                        help="tasks (default all: boolq,copa,hellaswag,sentineg,wic)")
    curate.add_argument("--decontam-threshold", type=_fraction, default=decontam.DEFAULT_THRESHOLD, metavar="C",
                        help="remove a record containing >= C of a benchmark text's n-grams (default %(default)s)")
    curate.add_argument("--decontam-ngram", type=_positive, default=decontam.DEFAULT_NGRAM, metavar="N",
                        help="character n-gram size for decontamination (default %(default)s)")
    curate.add_argument("--decontam-min-ngrams", type=_positive, default=decontam.DEFAULT_MIN_NGRAMS, metavar="M",
                        help="a match must share >= M n-grams; shorter benchmark texts are skipped "
                        "(default %(default)s)")
    curate.add_argument("--decontam-field-min-ngrams", type=_positive, default=decontam.DEFAULT_FIELD_MIN_NGRAMS,
                        metavar="M", help="check a single field of a document on its own only when it has >= M "
                        "n-grams (default %(default)s)")
    curate.add_argument("--decontam-edit-rate", type=_rate, default=decontam.DEFAULT_EDIT_RATE, metavar="R",
                        help="a short single-field document (a SentiNeg review) is found within floor(R x its "
                        "letters) character edits (default %(default)s)")
    curate.add_argument("--decontam-min-letters", type=_positive, default=decontam.DEFAULT_MIN_LETTERS,
                        metavar="L", help="... when it has at least L letters (default %(default)s)")
    curate.add_argument("--decontam-field-edit-rate", type=_rate, default=decontam.DEFAULT_FIELD_EDIT_RATE,
                        metavar="R", help="the main field of a document on its own (a COPA premise, a BoolQ "
                        "question, a WiC sentence) within floor(R x its letters) edits (default %(default)s)")
    curate.add_argument("--decontam-field-min-letters", type=_positive,
                        default=decontam.DEFAULT_FIELD_MIN_LETTERS, metavar="L",
                        help="... when it has at least L letters (default %(default)s)")
    curate.add_argument("--decontam-segment-min-letters", type=_positive,
                        default=decontam.DEFAULT_SEGMENT_MIN_LETTERS, metavar="L",
                        help="a shorter single-field document of at least L letters counts when a whole "
                        "segment of the record (between line breaks, punctuation, quotes) is exactly it "
                        "(default %(default)s)")
    curate.add_argument("--skip-invalid", action="store_true",
                        help="skip invalid records (counted by reason) instead of stopping at the first")
    curate.add_argument("--tokenizer", default=None, metavar="NAME",
                        help="add token-length statistics of the training examples with this tokenizer "
                        "(hub id or path)")
    curate.add_argument("--prompt-template", default=DEFAULT_TEMPLATE, metavar="NAME",
                        help="prompt template the token lengths are measured with, as training builds the "
                        "examples (alpaca, korean or a .json file; default %(default)s)")
    curate.add_argument("--report", default=None, metavar="PATH", help="report path (default <output>.report.json)")
    curate.add_argument("--seed", type=int, default=dedup.DEFAULT_SEED, help="MinHash seed (default %(default)s)")
    curate.add_argument("--quiet", action="store_true", help="print only errors")
    curate.set_defaults(func=run_curate)

    stats = actions.add_parser("stats", help="counts and length statistics of instruction files",
                               description="Counts by origin and data_source, character lengths and (with "
                               "--tokenizer) token lengths, to choose the training cutoff.")
    stats.add_argument("sources", nargs="+", metavar="SOURCE", help=".json/.jsonl/.parquet file or hub dataset id")
    stats.add_argument("--tokenizer", default=None, metavar="NAME", help="tokenizer (hub id or path)")
    stats.add_argument("--prompt-template", default=DEFAULT_TEMPLATE, metavar="NAME",
                       help="measure token lengths of the training examples built with this prompt template, "
                       "prompt + output + EOS as training sees them (alpaca, korean or a .json file; "
                       "default %(default)s)")
    stats.add_argument("--cutoffs", type=lambda t: [_positive(x) for x in _csv(t)], default=[256, 512, 1024, 2048],
                       metavar="N,N", help="report the share of records longer than each (default 256,512,1024,2048)")
    stats.add_argument("--skip-invalid", action="store_true", help="skip invalid records instead of stopping")
    stats.add_argument("--json", default=None, metavar="PATH", help="also write the statistics as JSON")
    stats.set_defaults(func=run_stats)


def run_curate(args: argparse.Namespace) -> int:
    """Check the output paths and hold the output file, then curate."""
    from polyplatypus.data.curate import report_path_for
    from polyplatypus.utils import outputs

    output = outputs.check_file(args.output)
    report = outputs.check_file(args.report, option="--report") if args.report else report_path_for(output)
    outputs.check_file(report, option="--report" if args.report else "--output (its report)")
    with outputs.hold(output, "data curate", beside=True):
        for path in (output, report):
            outputs.remove_temporaries(path.parent, names=[path.name])
        return _curate(args)


def _curate(args: argparse.Namespace) -> int:
    from polyplatypus.data.curate import curate, format_summary, stderr_log

    report = curate(
        args.data,
        args.output,
        dedup_threshold=None if args.no_near_dedup else args.dedup_threshold,
        dedup_ngram=args.dedup_ngram,
        num_perm=args.num_perm,
        dedup_fields=args.dedup_fields,
        decontaminate=() if args.decontaminate == "none" else (args.decontaminate,),
        kobest_dir=args.kobest_dir,
        kobest_splits=args.kobest_splits,
        kobest_tasks=args.kobest_tasks,
        decontam_threshold=args.decontam_threshold,
        decontam_ngram=args.decontam_ngram,
        decontam_min_ngrams=args.decontam_min_ngrams,
        decontam_field_min_ngrams=args.decontam_field_min_ngrams,
        decontam_edit_rate=args.decontam_edit_rate,
        decontam_min_letters=args.decontam_min_letters,
        decontam_field_edit_rate=args.decontam_field_edit_rate,
        decontam_field_min_letters=args.decontam_field_min_letters,
        decontam_segment_min_letters=args.decontam_segment_min_letters,
        skip_invalid=args.skip_invalid,
        tokenizer=args.tokenizer,
        prompt_template=args.prompt_template,
        report_path=args.report,
        seed=args.seed,
        log=None if args.quiet else stderr_log,
    )
    if not args.quiet:
        print(format_summary(report))
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from collections import Counter

    from polyplatypus.data.instructions import describe_source, load_instructions
    from polyplatypus.data.stats import dataset_stats, format_length_table
    from polyplatypus.utils.io import atomic_write_json

    records, skipped = [], {}
    for source in args.sources:
        counts = Counter()
        records.extend(load_instructions(source, skip_invalid=args.skip_invalid, skipped=counts))
        if counts:
            skipped[describe_source(source)] = dict(sorted(counts.items()))
    template = None
    if args.tokenizer is not None:
        from polyplatypus.train.templates import get_template

        template = get_template(args.prompt_template)  # a clear error before the tokenizer loads
    stats = dataset_stats(records, tokenizer=args.tokenizer, cutoffs=args.cutoffs, template=template)
    if skipped:
        stats["skipped_invalid"] = skipped
    lines = [f"{stats['records']} records in {', '.join(map(str, args.sources))}"]
    for key in ("by_origin", "by_data_source"):
        if key in stats:
            lines.append(f"{key[3:]}: " + ", ".join(f"{k} {v}" for k, v in stats[key].items()))
    for part in ("prompt", "output"):
        s = stats["characters"][part]
        if s.get("count"):
            lines.append(f"characters {part:<7} mean {s['mean']} p50 {s['p50']} p95 {s['p95']} max {s['max']}")
    lines.extend(format_length_table(stats))
    for source, counts in skipped.items():
        lines.append(f"skipped in {source}: " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
    print("\n".join(lines))
    if args.json:
        atomic_write_json(args.json, stats)
    sys.stdout.flush()
    return 0
