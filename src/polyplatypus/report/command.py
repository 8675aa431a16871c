"""``polyplatypus report``: a model card, HTML page and plots from results folders.

The arguments are made from :class:`~polyplatypus.report.config.ReportConfig`'s fields."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers) -> None:
    """Add ``report`` to the top-level parser."""
    from polyplatypus.report.config import ReportConfig
    from polyplatypus.settings import add_flags

    parser = subparsers.add_parser(
        "report",
        help="write a model card (Markdown), HTML page and PNG plots from results folders",
        description="From one or more results folders (polyplatypus eval --output, or run directories), write "
        "card.md (one F1 table per task: rows models, columns shot counts, best per column in bold, 95% "
        "bootstrap intervals, a mark where a difference is within noise, truncation counts, provenance "
        "footnotes), card.html, plots/*.png and results.json.",
    )
    add_flags(parser, ReportConfig)
    parser.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from polyplatypus.errors import ConfigError
    from polyplatypus.eval.store import ResultsStore
    from polyplatypus.report.card import write_configured_report
    from polyplatypus.report.config import FORMATS, ReportConfig

    config = ReportConfig.from_args(args)
    for path in config.results:
        if str(path) in FORMATS and not Path(path).exists():  # `--format md html`: the old spaced list
            raise ConfigError(
                f"{path}: not a results folder; --format takes one comma-separated list: "
                f"write --format {','.join(str(f) for f in config.formats)},{path}"
            )
        ResultsStore.find(path)  # fail early, naming the folder
    written = write_configured_report(
        config,
        warn=lambda message: print(f"polyplatypus report: warning: {message}", file=sys.stderr),
    )
    for kind, paths in written.items():
        for path in paths:
            print(f"wrote {path}")
    import json

    results = config.output_folder / "results.json"
    summary = json.loads(results.read_text(encoding="utf-8"))["report"] if results.is_file() else {}
    if summary.get("baseline_match"):
        print(f"note: {summary['baseline_match']}")
    hub = config.hub()
    if hub is not None:
        for note in summary.get("hub_notes", []):
            print(f"note: {note}")
        if hub.model_dir is not None:
            print(f"upload with: hf upload <user>/<model> {hub.model_dir} .")
    return 0
