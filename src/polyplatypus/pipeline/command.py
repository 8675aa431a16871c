"""``polyplatypus run``, ``polyplatypus demo`` and ``polyplatypus report``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from polyplatypus.pipeline.stages import STAGES


def register(subparsers) -> None:
    _register_run(subparsers)
    _register_demo(subparsers)
    _register_report(subparsers)


def _add_run_options(parser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one setting, e.g. --set eval.limit=20 --set train.num_epochs=2 (repeatable)")
    parser.add_argument("--redo", action="append", default=[], choices=STAGES, metavar="STAGE",
                        help=f"recompute STAGE and every stage after it ({', '.join(STAGES)}); repeatable")
    parser.add_argument("--until", choices=STAGES, default=None, metavar="STAGE",
                        help="stop after STAGE (a later run continues from there)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _register_run(subparsers) -> None:
    parser = subparsers.add_parser(
        "run", help="run a whole recipe (curate, fine-tune, merge, evaluate, report) from one YAML file",
        description="Run the stages of a recipe file in order: base (tiny configs), data, train, merge, eval, "
        "report. Each stage writes into its own folder of the run directory and is skipped when it is "
        "already complete, so re-running after a crash or Ctrl-C continues where it stopped. The resolved "
        "config is saved as RUN_DIR/config.yaml.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("config", help="recipe YAML file, or the name of a shipped config (tiny-cpu, poly-platypus-ko-12.8b, ...)")
    parser.add_argument("--run-dir", default=None, help="run directory (default: run_dir in the config, else runs/<name>)")
    _add_run_options(parser)
    parser.set_defaults(func=cmd_run)


def _register_demo(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="the built-in offline demo: the whole recipe on a tiny model, CPU, a few minutes",
        description="Run the shipped tiny-cpu recipe with no network: build a tokenizer and a small GPT-NeoX "
        "(Polyglot-ko layout) from Korean text shipped in the package, pre-train it briefly, curate and "
        "LoRA fine-tune it on the bundled instruction sample, merge, evaluate base and tuned models on a "
        "bundled KoBEST-format sample, and write the report (card.md, card.html, plots).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--run-dir", default="demo-run", help="where to write the run")
    data = parser.add_mutually_exclusive_group()
    data.add_argument("--data-dir", default=None, metavar="DIR",
                      help="evaluate on real KoBEST v1.0 TSVs in DIR (BoolQ/ COPA/ ...) instead of the bundled sample")
    data.add_argument("--hub", action="store_true",
                      help="evaluate on KoBEST from $POLYPLATYPUS_KOBEST_DIR or the Hugging Face hub (needs network)")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N documents per task")
    _add_run_options(parser)
    parser.set_defaults(func=cmd_demo)


def _register_report(subparsers) -> None:
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
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--confidence", type=float, default=0.95, help="confidence level of the intervals")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.set_defaults(func=cmd_report)


def _print_outcome(state: dict) -> None:
    run_dir = Path(state["run_dir"])
    stages = state.get("stages", {})
    lines = ["", f"run directory: {run_dir}"]
    for name in STAGES:
        info = stages.get(name, {})
        status = info.get("status", "not run")
        seconds = info.get("seconds")
        lines.append(f"  {name:<7} {status}" + (f" ({seconds:.1f} s)" if isinstance(seconds, (int, float)) else ""))
    train = stages.get("train", {})
    if train.get("initial_loss") is not None and train.get("final_loss") is not None:
        lines.append(f"fine-tuning loss: {train['initial_loss']:.4f} -> {train['final_loss']:.4f}")
    card = run_dir / "report" / "card.md"
    if card.is_file() and state.get("finished"):
        lines.append(f"model card: {card}  (also {run_dir / 'report' / 'card.html'} and plots/)")
    print("\n".join(lines), file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    from polyplatypus.pipeline.config import find_config, load_config
    from polyplatypus.pipeline.stages import run_pipeline

    path = find_config(args.config)
    config = load_config(path, args.overrides)
    state = run_pipeline(config, args.run_dir, source=str(path), redo=tuple(args.redo), until=args.until,
                         progress=not args.no_progress)
    _print_outcome(state)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from polyplatypus.pipeline.demo import run_demo

    state = run_demo(args.run_dir, data_dir=args.data_dir, hub=args.hub, limit=args.limit,
                     overrides=args.overrides, redo=tuple(args.redo), until=args.until,
                     progress=not args.no_progress)
    _print_outcome(state)
    card = Path(state["run_dir"]) / "report" / "card.md"
    if card.is_file() and args.until is None:
        print(card.read_text(encoding="utf-8"))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from polyplatypus.errors import ConfigError
    from polyplatypus.report.card import write_report
    from polyplatypus.report.results import find_results_files

    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    if args.output is not None:
        output = Path(args.output)
    else:
        first = Path(args.results[0])
        output = (first.parent if first.is_file() else first) / "report"
    if not formats:
        raise ConfigError("--format names no format")
    for path in args.results:
        find_results_files(path)  # fail early, naming the folder
    written = write_report(args.results, output, baseline=args.baseline, resamples=args.resamples,
                           confidence=args.confidence, seed=args.seed, title=args.title, intro=args.intro,
                           formats=formats)
    for kind, paths in written.items():
        for path in paths:
            print(f"wrote {path}")
    return 0
