"""``polyplatypus tasks``: list the tasks ``eval --tasks`` accepts, ours and lm-evaluation-harness's."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "tasks",
        help="list the evaluation tasks (ours and lm-evaluation-harness's)",
        description="List the tasks `polyplatypus eval --tasks` accepts, with their source, version and "
        "metrics and output type: our reference-harness tasks, then lm-evaluation-harness's tasks and groups as lm_eval:<name> "
        "(its own and those in --include-path folders; needs polyplatypus[lm-eval]).",
    )
    parser.add_argument(
        "--include-path",
        action="append",
        metavar="DIR",
        default=None,
        help="a folder of lm-eval task YAML files to list too (repeatable)",
    )
    parser.add_argument(
        "--match", metavar="TEXT", default=None, help="list only the tasks whose name contains TEXT (case-insensitive)"
    )
    parser.set_defaults(func=run)


REFERENCE_OUTPUT_TYPE = "multiple_choice"  # our reference tasks: one loglikelihood per choice


def _rows(include_path, match: str | None) -> tuple[list[tuple[str, ...]], str | None]:
    """The listing's rows, names filtered by ``match`` before a task definition is read."""
    from polyplatypus.errors import ConfigError
    from polyplatypus.tasks.registry import get_task, task_names

    def wanted(name: str) -> bool:
        return not match or match.lower() in name.lower()

    rows = []
    for name in filter(wanted, task_names()):  # every reference task, the default ones first
        task = get_task(name)
        rows.append(
            (
                task.name,
                "polyplatypus (reference harness)",
                str(getattr(task, "version", "") or ""),
                ",".join(task.metrics),
                REFERENCE_OUTPUT_TYPE,
            )
        )
    try:
        from polyplatypus.tasks.listing import cached_lm_eval_listing

        rows += [
            (r.name, r.source, r.version, r.metrics, r.output_type)
            for r in cached_lm_eval_listing(include_path)
            if wanted(r.name)
        ]
    except ConfigError as error:
        if include_path:
            raise
        return rows, str(error)
    return rows, None


def run(args: argparse.Namespace) -> int:
    from polyplatypus.tasks.lm_eval_tasks import SCORED_OUTPUT_TYPES

    rows, note = _rows(args.include_path, args.match)
    print("name\tsource\tversion\tmetrics\toutput_type")
    for row in rows:
        print("\t".join(row))
    if note:
        print(f"(lm-eval tasks not listed: {note})")
    print(
        f"(polyplatypus eval runs tasks of output type {', '.join(SCORED_OUTPUT_TYPES)}, and groups of them; "
        "it refuses the others, naming lm-eval's own engine for them)"
    )
    return 0
