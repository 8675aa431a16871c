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
    for module in (eval_command, train_command, data_command, pipeline_command, report_command, tasks_command):
        module.register(subparsers)
    _no_abbreviations(parser)
    return parser


def _no_abbreviations(parser: argparse.ArgumentParser) -> None:
    """argparse takes any unambiguous prefix of a flag (``--task`` for ``--tasks``): off for every
    command, so that a misspelt or foreign flag is reported instead of silently taken."""
    parser.allow_abbrev = False
    for action in parser._actions:  # argparse has no public way to list subparsers
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                _no_abbreviations(subparser)


# lm-evaluation-harness's flags that users bring along, and ours that do their job.
LM_EVAL_FLAGS = {
    "--num_fewshot": "--shots (comma-separated counts, e.g. --shots 0,5)",
    "--batch_size": "--batch-size",
    "--model_args": "--model PATH (with --dtype, --device, --device-map)",
    "--gen_kwargs": "--gen-kwargs",
    "--apply_chat_template": "--apply-chat-template",
    "--task": "--tasks",
}


def foreign_flag_message(unrecognized: list[str]) -> str | None:
    """A message naming our flag where a word left over is one of lm-eval's."""
    for word in unrecognized:
        ours = LM_EVAL_FLAGS.get(word.partition("=")[0])
        if ours:
            return f"{word.partition('=')[0]} is lm-evaluation-harness's flag; polyplatypus takes {ours}"
    return None


def main(argv: list[str] | None = None) -> int:
    from polyplatypus.settings import LIST_FLAGS, unrecognized_message

    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args, unrecognized = parser.parse_known_args(argv)
    if unrecognized:  # as parse_args, naming our flag for lm-eval's, or the comma-separated form
        parser.error(foreign_flag_message(unrecognized)
                     or unrecognized_message(argv, unrecognized, getattr(args, LIST_FLAGS, ())))
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
