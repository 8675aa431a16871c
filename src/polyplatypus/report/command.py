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
    parser.add_argument("results", nargs="*", help="results folders (with results.json), run directories, or folders of them")
    parser.add_argument("--baseline", default=None, help="model to compare against: a label or a model path / hub id")
    parser.add_argument("--output", default=None, help="report folder (default: <first results folder>/report)")
    parser.add_argument("--title", default="KoBEST results", help="card title")
    parser.add_argument("--intro", default="", help="a paragraph placed under the title")
    parser.add_argument("--format", dest="formats", default="md,html,png", help="comma-separated: md, html, png")
    parser.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES, help="bootstrap resamples")
    parser.add_argument("--confidence", type=float, default=DEFAULT_CONFIDENCE, help="confidence level of the intervals")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    add_travel_flags(parser)
    parser.set_defaults(func=cmd_report)


def add_travel_flags(parser) -> None:
    """Published baselines and the Hub files (docs/report.md)."""
    parser.add_argument("--published", action="append", default=[], metavar="[LABEL=]PATH",
                        help="published results (reference-harness v0.3 or lm-eval 0.4 results_*.json files, or folders "
                        "of them) as baseline rows, repeatable; LABEL names the row (default: pretrained= in the file)")
    parser.add_argument("--card-model", default=None, metavar="LABEL",
                        help="the model the card is about: also write README.md (Hub metadata + card) and "
                        ".eval_results/*.yaml with its results")
    parser.add_argument("--base-model", default=None, metavar="HUB_ID",
                        help="base_model in README.md (default: from the run's records)")
    parser.add_argument("--datasets", default=None, metavar="HUB_IDS",
                        help="comma-separated training datasets for README.md (default: from the run's records)")
    parser.add_argument("--license", default=None, help="license id for README.md (e.g. apache-2.0)")
    parser.add_argument("--library-name", default="transformers", help="library_name for README.md")
    parser.add_argument("--tags", default="", help="comma-separated tags added to README.md's")
    parser.add_argument("--model-dir", default=None, metavar="DIR",
                        help="also copy README.md and .eval_results/ into this model folder, ready for hf upload")


def hub_settings(args: argparse.Namespace):
    """The Hub-file settings of ``--card-model`` and its companion flags (None without it)."""
    from polyplatypus.errors import ConfigError
    from polyplatypus.report.hub import HubSettings

    if args.card_model is None:
        if args.model_dir is not None:
            raise ConfigError("--model-dir needs --card-model (the model whose results go into the model folder)")
        return None

    def split(text):
        return [part.strip() for part in (text or "").split(",") if part.strip()]

    return HubSettings(card_model=args.card_model, base_model=args.base_model, datasets=split(args.datasets),
                       license=args.license, library_name=args.library_name, tags=split(args.tags),
                       model_dir=args.model_dir)


def cmd_report(args: argparse.Namespace) -> int:
    from polyplatypus.errors import ConfigError
    from polyplatypus.report.card import write_report
    from polyplatypus.eval.store import ResultsStore

    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    if not args.results and not args.published:
        raise ConfigError("give results folders, --published files, or both")
    if args.output is not None:
        output = Path(args.output)
    elif args.results:
        first = Path(args.results[0])
        output = (first.parent if first.is_file() else first) / "report"
    else:
        raise ConfigError("with --published files only, give --output")
    if not formats:
        raise ConfigError("--format names no format")
    hub = hub_settings(args)
    for path in args.results:
        ResultsStore.find(path)  # fail early, naming the folder
    written = write_report(args.results, output, baseline=args.baseline, resamples=args.resamples,
                           confidence=args.confidence, seed=args.seed, title=args.title, intro=args.intro,
                           formats=formats, published=args.published, hub=hub)
    for kind, paths in written.items():
        for path in paths:
            print(f"wrote {path}")
    if hub is not None:
        import json

        for note in json.loads((output / "results.json").read_text(encoding="utf-8"))["report"]["hub_notes"]:
            print(f"note: {note}")
        if hub.model_dir is not None:
            print(f"upload with: hf upload <user>/<model> {hub.model_dir} .")
    return 0
