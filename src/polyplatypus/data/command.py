"""``polyplatypus data curate`` and ``polyplatypus data stats``."""

from __future__ import annotations

import argparse
import sys

from polyplatypus.data.config import CurateConfig
from polyplatypus.data.stats import DEFAULT_CUTOFFS, DEFAULT_TEMPLATE
from polyplatypus.settings import add_config_option, add_flags


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
    data = subparsers.add_parser(
        "data",
        help="curate and inspect instruction data",
        description="Curate instruction data (KOpen-Platypus format) and inspect it.",
    )
    actions = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    curate = actions.add_parser(
        "curate",
        help="merge sources, remove duplicates and KoBEST contamination",
        description="Merge instruction sources; remove invalid records, exact duplicates, KoBEST-contaminated "
        "records and near-duplicates (first occurrence kept); write the result and <output>.report.json. "
        "Every flag is also a key of --config FILE and of a recipe's data section.",
    )
    add_config_option(curate)
    add_flags(curate, CurateConfig)
    curate.add_argument("--quiet", action="store_true", help="print only errors")
    curate.set_defaults(func=run_curate)

    stats = actions.add_parser(
        "stats",
        help="counts and length statistics of instruction files",
        description="Counts by origin and data_source, character lengths and (with "
        "--tokenizer) token lengths, to choose the training cutoff.",
    )
    stats.add_argument("sources", nargs="+", metavar="SOURCE", help=".json/.jsonl/.parquet file or hub dataset id")
    stats.add_argument("--tokenizer", default=None, metavar="NAME", help="tokenizer (hub id or path)")
    stats.add_argument(
        "--prompt-template",
        default=DEFAULT_TEMPLATE,
        metavar="NAME",
        help="measure token lengths of the training examples built with this prompt template, "
        "prompt + output + EOS as training sees them (alpaca, korean or a .json file; chat: the "
        "tokenizer's chat template, conversations too; default %(default)s)",
    )
    stats.add_argument(
        "--cutoffs",
        type=lambda t: [_positive(x) for x in _csv(t)],
        default=list(DEFAULT_CUTOFFS),
        metavar="N,N",
        help="report the share of records longer than each (default 256,512,1024,2048)",
    )
    stats.add_argument("--skip-invalid", action="store_true", help="skip invalid records instead of stopping")
    stats.add_argument("--json", default=None, metavar="PATH", help="also write the statistics as JSON")
    stats.set_defaults(func=run_stats)


def run_curate(args: argparse.Namespace) -> int:
    """Check the settings and the output paths, hold the output file, then curate."""
    from polyplatypus.data.curate import curate, format_summary, report_path_for, stderr_log
    from polyplatypus.utils import outputs

    config = CurateConfig.from_args(args)
    output = outputs.check_file(config.output)
    report = (
        outputs.check_file(config.report_path, option="--report") if config.report_path else report_path_for(output)
    )
    outputs.check_file(report, option="--report" if config.report_path else "--output (its report)")
    with outputs.hold(output, "data curate", beside=True):
        for path in (output, report):
            outputs.remove_temporaries(path.parent, names=[path.name])
        summary = curate(config=config, log=None if args.quiet else stderr_log)
    if not args.quiet:
        print(format_summary(summary))
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from collections import Counter

    from polyplatypus.data.instructions import describe_source, iter_instructions
    from polyplatypus.data.stats import dataset_stats, format_length_table, refuse_token_lengths_of
    from polyplatypus.utils.io import atomic_write_json

    records, skipped = [], {}
    for source in args.sources:
        counts = Counter()
        for number, record in iter_instructions(
            source, skip_invalid=args.skip_invalid, skipped=counts, with_numbers=True, conversations=True
        ):
            if args.tokenizer is not None:
                refuse_token_lengths_of(
                    record, template=args.prompt_template, path=describe_source(source), number=number
                )
            records.append(record)
        if counts:
            skipped[describe_source(source)] = dict(sorted(counts.items()))
    template = None
    if args.tokenizer is not None:
        from polyplatypus.data.templates import CHAT, get_template

        # a clear error before the tokenizer loads
        template = CHAT if args.prompt_template == CHAT else get_template(args.prompt_template)
    stats = dataset_stats(records, tokenizer=args.tokenizer, cutoffs=args.cutoffs, template=template)
    if skipped:
        stats["skipped_invalid"] = skipped
    lines = [f"{stats['records']} records in {', '.join(map(str, args.sources))}"]
    if "messages" in stats["by_kind"]:
        lines.append("kind: " + ", ".join(f"{k} {v}" for k, v in stats["by_kind"].items()))
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
