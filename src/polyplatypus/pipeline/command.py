"""``polyplatypus run`` and ``polyplatypus demo``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from polyplatypus.pipeline.stages import STAGES


def register(subparsers) -> None:
    _register_run(subparsers)
    _register_demo(subparsers)


def _add_run_options(parser) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one setting, e.g. --set eval.limit=20 --set train.num_epochs=2 (repeatable)",
    )
    parser.add_argument(
        "--redo",
        action="append",
        default=[],
        choices=STAGES,
        metavar="STAGE",
        help=f"recompute STAGE and every stage after it ({', '.join(STAGES)}); repeatable",
    )
    parser.add_argument(
        "--until",
        choices=STAGES,
        default=None,
        metavar="STAGE",
        help="stop after STAGE (a later run continues from there)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _register_run(subparsers) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a whole recipe (curate, fine-tune, merge, evaluate, report) from one YAML file",
        description="Run the stages of a recipe file in order: base (tiny configs), data, train, merge, eval, "
        "report. Each stage writes into its own folder of the run directory and is skipped when it is "
        "already complete, so re-running after a crash or Ctrl-C continues where it stopped. The resolved "
        "config is saved as RUN_DIR/config.yaml.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "config", help="recipe YAML file, or the name of a shipped config (tiny-cpu, poly-platypus-ko-12.8b, ...)"
    )
    parser.add_argument(
        "--run-dir", default=None, help="run directory (default: run_dir in the config, else runs/<name>)"
    )
    _add_run_options(parser)
    parser.set_defaults(func=cmd_run)


def _register_demo(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="the built-in offline demo: the whole recipe on a tiny model, CPU, a few minutes",
        description="Run the shipped tiny-cpu recipe with no network: build a tokenizer and a small GPT-NeoX "
        "(Polyglot-ko layout) from Korean text shipped in the package, pre-train it briefly, curate and "
        "LoRA fine-tune it on the bundled instruction sample, merge, evaluate base and tuned models on a "
        "bundled KoBEST-format sample, and write the report (card.md, card.html, plots).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--run-dir", default="demo-run", help="where to write the run")
    data = parser.add_mutually_exclusive_group()
    data.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="evaluate on real KoBEST v1.0 TSVs in DIR (BoolQ/ COPA/ ...) instead of the bundled sample",
    )
    data.add_argument(
        "--hub",
        action="store_true",
        help="evaluate on KoBEST from $POLYPLATYPUS_KOBEST_DIR or the Hugging Face hub (needs network)",
    )
    parser.add_argument("--limit", type=int, default=None, help="score only the first N documents per task")
    _add_run_options(parser)
    parser.set_defaults(func=cmd_demo)


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
    from polyplatypus.pipeline.config import check_inputs, find_config, load_config
    from polyplatypus.pipeline.stages import run_pipeline

    path = find_config(args.config)
    config = load_config(path, args.overrides)
    from polyplatypus.pipeline.stages import reaches

    check_inputs(config, str(path), trains=reaches(args.until, "train"))  # before the run directory is made
    state = run_pipeline(
        config, args.run_dir, source=str(path), redo=tuple(args.redo), until=args.until, progress=not args.no_progress
    )
    _print_outcome(state)
    _print_scores(state)
    return 0


def _print_scores(state: dict) -> None:
    """The evaluation's results table, as ``eval`` prints it, once the eval stage is done."""
    from polyplatypus.pipeline.stages import STAGE_DIRS

    table = Path(state["run_dir"]) / STAGE_DIRS["eval"] / "results.md"
    status = str(state.get("stages", {}).get("eval", {}).get("status", ""))
    if (status == "done" or status.startswith("skipped")) and table.is_file():
        print(table.read_text(encoding="utf-8"))


def cmd_demo(args: argparse.Namespace) -> int:
    from polyplatypus.pipeline.demo import run_demo

    state = run_demo(
        args.run_dir,
        data_dir=args.data_dir,
        hub=args.hub,
        limit=args.limit,
        overrides=args.overrides,
        redo=tuple(args.redo),
        until=args.until,
        progress=not args.no_progress,
    )
    _print_outcome(state)
    card = Path(state["run_dir"]) / "report" / "card.md"
    if card.is_file() and args.until is None:
        print(card.read_text(encoding="utf-8"))
    return 0
