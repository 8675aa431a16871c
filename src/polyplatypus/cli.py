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
    add_threads_flag(parser, default=None)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (
        eval_command,
        train_command,
        generate_command,
        data_command,
        pipeline_command,
        report_command,
        tasks_command,
    ):
        module.register(subparsers)
    for subparser in _subparsers(parser):
        # SUPPRESS: a command that was not given --threads leaves the value given before it
        add_threads_flag(subparser, default=argparse.SUPPRESS)
    _no_abbreviations(parser)
    return parser


def add_threads_flag(parser: argparse.ArgumentParser, *, default) -> None:
    """``--threads``, taken before the command and after it (``polyplatypus eval --threads 2``);
    given in both places, the one after the command wins (argparse copies a subcommand's values
    over its parent's)."""
    parser.add_argument(
        "--threads",
        default=default,
        metavar="N|auto|off",
        help="CPU threads to compute with, before or after the command (default: $POLYPLATYPUS_THREADS, "
        "else auto: the cores not busy with other processes; off: PyTorch's defaults); see docs/run.md",
    )


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every command's parser below ``parser``, nested ones (``data curate``) included, each once."""
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:  # argparse has no public way to list subparsers
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                if all(subparser is not seen for seen in found):
                    found += [subparser, *_subparsers(subparser)]
    return found


def apply_thread_policy_once(requested: str | None) -> None:
    """The thread policy (utils/threads.py), once per process: main() called again in-process
    (tests, scripts) keeps the first choice."""
    from polyplatypus.utils import threads

    if not threads.APPLIED:
        threads.APPLIED.append(threads.apply_thread_policy(requested))


def _no_abbreviations(parser: argparse.ArgumentParser) -> None:
    """argparse takes any unambiguous prefix of a flag (``--task`` for ``--tasks``): off for every
    command, so that a misspelt or foreign flag is reported instead of silently taken."""
    for each in (parser, *_subparsers(parser)):
        each.allow_abbrev = False


# lm-evaluation-harness's flags that users bring along, and ours that do their job.
LM_EVAL_FLAGS = {
    "--num_fewshot": "--shots (comma-separated counts, e.g. --shots 0,5)",
    "--batch_size": "--batch-size",
    "--model_args": "--model PATH (with --dtype, --device, --device-map; its think_end_token, enable_thinking, "
    "chat_template_args: --think-end-token, --enable-thinking, --chat-template-args)",
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
        parser.error(
            foreign_flag_message(unrecognized)
            or unrecognized_message(argv, unrecognized, getattr(args, LIST_FLAGS, ()))
        )
    try:
        return _run_command(args)
    finally:
        release_process_group()


def _run_command(args) -> int:
    from polyplatypus.utils.interrupts import signals_interrupt

    try:
        apply_thread_policy_once(args.threads)  # before PyTorch is imported by the command
        with signals_interrupt():  # SIGTERM/SIGHUP clean up as Ctrl-C does
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
    except KeyboardInterrupt as interrupt:
        hint = "re-run with --resume to continue" if args.command == "train" else "re-run the same command to continue"
        signum = getattr(interrupt, "signum", None)  # SIGTERM/SIGHUP: utils.interrupts.Terminated
        how = f"interrupted by {interrupt}" if signum else "interrupted"
        print(f"polyplatypus {args.command}: {how}; {hint}", file=sys.stderr)
        return 128 + signum if signum else 130
    return int(result or 0)


def release_process_group() -> None:
    """Under several processes, leave the process group before the interpreter exits: left to
    interpreter shutdown, a gloo group whose peer has already gone can abort (SIGABRT, "terminate
    called without an active exception") the process that exits second. Done by ``main`` itself,
    so every caller (the console script, ``python -m``, a script under torchrun) gets it."""
    torch = sys.modules.get("torch")  # only where the command imported it
    if torch is not None and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
