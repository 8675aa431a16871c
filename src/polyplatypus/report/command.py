"""``polyplatypus report``: a model card, HTML page and plots from results folders."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    """Add ``report`` to the top-level parser."""
    from polyplatypus.report.bootstrap import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES

    parser = subparsers.add_parser(
        "report", help="write a model card (Markdown), HTML page and PNG plots from results folders",
        description="From one or more results folders (polyplatypus eval --output, or run directories), write "
        "card.md (one F1 table per task: rows models, columns shot counts, best per column in bold, 95% "
        "bootstrap intervals, a mark where a difference is within noise, truncation counts, provenance "
        "footnotes), card.html, plots/*.png and results.json.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("results", nargs="+", help="results folders (with results.json), run directories, or folders of them")
    parser.add_argument("--baseline", default=None, help="model to compare against: a label or a model path / hub id")
    parser.add_argument("--output", default=None, help="report folder (default: <first results folder>/report)")
    parser.add_argument("--title", default="KoBEST results", help="card title")
    parser.add_argument("--intro", default="", help="a paragraph placed under the title")
    parser.add_argument("--format", dest="formats", default="md,html,png", help="comma-separated: md, html, png")
    parser.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES, help="bootstrap resamples")
    parser.add_argument("--confidence", type=float, default=DEFAULT_CONFIDENCE, help="confidence level of the intervals")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from polyplatypus.errors import ConfigError
    from polyplatypus.report.card import write_report
    from polyplatypus.eval.store import ResultsStore

    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    if args.output is not None:
        output = Path(args.output)
    else:
        first = Path(args.results[0])
        output = (first.parent if first.is_file() else first) / "report"
    if not formats:
        raise ConfigError("--format names no format")
    for path in args.results:
        ResultsStore.find(path)  # fail early, naming the folder
    written = write_report(args.results, output, baseline=args.baseline, resamples=args.resamples,
                           confidence=args.confidence, seed=args.seed, title=args.title, intro=args.intro,
                           formats=formats)
    for kind, paths in written.items():
        for path in paths:
            print(f"wrote {path}")
    return 0
