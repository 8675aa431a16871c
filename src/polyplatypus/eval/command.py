"""``polyplatypus eval``: score Hugging Face causal LMs on KoBEST.

The flags are made from :class:`~polyplatypus.eval.config.EvalConfig`'s fields, so they are also
the keys of ``--config FILE``, of a recipe's ``eval`` section and the keyword arguments of
:func:`polyplatypus.evaluate`.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    from polyplatypus.eval.config import EvalConfig
    from polyplatypus.settings import add_config_option, add_flags

    parser = subparsers.add_parser(
        "eval",
        help="evaluate causal LMs on KoBEST (reference-harness scoring) and lm-evaluation-harness tasks",
        description="Score one or more causal LMs on KoBEST (and the reference harness's Korean "
        "hate-speech tasks, when named) at several shot counts, exactly as the reference "
        "ko-lm-evaluation-harness does (same prompts, few-shot draws, truncation and macro-F1). "
        "--tasks lm_eval:NAME runs lm-evaluation-harness 0.4.13 tasks, your own task files (--include-path) "
        "and generative (generate_until) ones included, with lm-eval's --gen-kwargs, --apply-chat-template "
        "and thinking options (docs/tasks.md). "
        "Finished cells are saved as they complete; re-running the same command resumes (a generative cell "
        "from the generations it kept).",
    )
    add_config_option(parser)
    add_flags(parser, EvalConfig)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from polyplatypus.eval.config import EvalConfig
    from polyplatypus.eval.runner import evaluate

    config = EvalConfig.from_args(args)
    records = evaluate(config=config)
    from polyplatypus.eval.distributed import is_main_process
    from polyplatypus.eval.tables import results_markdown

    if not is_main_process():
        return 0
    print(results_markdown(records))
    output = Path(config.output)  # a joined path: "results/" gives results/results.json, not results//
    print(f"wrote {output / 'results.json'} and {output / 'results.md'}")
    return 0
