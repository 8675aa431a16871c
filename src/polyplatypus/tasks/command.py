"""``polyplatypus tasks``: list the tasks ``eval --tasks`` accepts, ours and lm-evaluation-harness's."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "tasks",
        help="list the evaluation tasks (ours and lm-evaluation-harness's)",
        description="List the tasks `polyplatypus eval --tasks` accepts, with their source, version and "
        "metrics: our reference-harness tasks, then lm-evaluation-harness's tasks and groups as lm_eval:<name> "
        "(its own and those in --include-path folders; needs polyplatypus[lm-eval]).",
    )
    parser.add_argument("--include-path", action="append", metavar="DIR", default=None,
                        help="a folder of lm-eval task YAML files to list too (repeatable)")
    parser.add_argument("--match", metavar="TEXT", default=None,
                        help="list only the tasks whose name contains TEXT (case-insensitive)")
    parser.set_defaults(func=run)


def _rows(include_path) -> tuple[list[tuple[str, str, str, str]], str | None]:
    from polyplatypus.errors import ConfigError
    from polyplatypus.tasks.registry import get_task, task_names

    rows = []
    for name in task_names():  # every reference task, the default ones first
        task = get_task(name)
        rows.append((task.name, "polyplatypus (reference harness)", str(getattr(task, "version", "") or ""),
                     ",".join(task.metrics)))
    try:
        from polyplatypus.tasks.lm_eval_tasks import lm_eval_listing

        rows += [(r.name, r.source, r.version, r.metrics) for r in lm_eval_listing(include_path)]
    except ConfigError as error:
        if include_path:
            raise
        return rows, str(error)
    return rows, None


def run(args: argparse.Namespace) -> int:
    rows, note = _rows(args.include_path)
    if args.match:
        rows = [row for row in rows if args.match.lower() in row[0].lower()]
    print("name\tsource\tversion\tmetrics")
    for row in rows:
        print("\t".join(row))
    if note:
        print(f"(lm-eval tasks not listed: {note})")
    return 0
