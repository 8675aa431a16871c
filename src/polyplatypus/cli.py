"""Command line: each subcommand maps onto one function of the library."""

from __future__ import annotations

import argparse
import sys

from polyplatypus.errors import PolyplatypusError
from polyplatypus.version import __version__


def build_parser() -> argparse.ArgumentParser:
    from polyplatypus.data import command as data_command
    from polyplatypus.eval import command as eval_command
    from polyplatypus.pipeline import command as pipeline_command
    from polyplatypus.pipeline import generation as generate_command
    from polyplatypus.report import command as report_command
    from polyplatypus.tasks import command as tasks_command
    from polyplatypus.train import command as train_command

    parser = argparse.ArgumentParser(
        prog="polyplatypus",
        description="Korean LLM toolkit: curate instruction data, fine-tune with the Platypus "
        "LoRA recipe, merge, and evaluate on KoBEST exactly as the reference harness does.",
    )
    parser.add_argument("--version", action="version", version=f"polyplatypus {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (eval_command, train_command, generate_command, data_command, pipeline_command, report_command,
                   tasks_command):
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    from polyplatypus.settings import LIST_FLAGS, unrecognized_message

    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args, unrecognized = parser.parse_known_args(argv)
    if unrecognized:  # as parse_args, naming the comma-separated form where a list was spaced
        parser.error(unrecognized_message(argv, unrecognized, getattr(args, LIST_FLAGS, ())))
    try:
        result = args.func(args)
    except PolyplatypusError as error:
        print(f"polyplatypus {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        # a writer not wrapped by utils.io.writing (a plot, a tiny base model) hit a full disk
        # or a read-only place: the same message, without a traceback
        from polyplatypus.utils.io import cannot_write_reason

        reason = cannot_write_reason(error)
        if reason is None:
            raise
        where = f"cannot write {error.filename}" if error.filename else "cannot write the output"
        print(f"polyplatypus {args.command}: error: {where}: {reason}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = "re-run with --resume to continue" if args.command == "train" else "re-run the same command to continue"
        print(f"polyplatypus {args.command}: interrupted; {hint}", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
