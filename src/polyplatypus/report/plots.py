"""PNG plots of a report: macro-F1 against shot count per task, a line per model, with the
bootstrap confidence interval as error bars; and one overview figure with every task."""

from __future__ import annotations

import os
import re
from pathlib import Path

from polyplatypus.report.card import Report, task_title

DPI = 100


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() != "agg":
        matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "task"


def _draw_task(ax, report: Report, task: str) -> None:
    positions = list(range(len(report.shots)))
    spread = 0.06 if len(report.models) > 1 else 0.0  # dodge so that error bars do not overlap
    for index, model in enumerate(report.models):
        dodge = (index - (len(report.models) - 1) / 2) * spread
        xs, ys, low, high = [], [], [], []
        for x, k in zip(positions, report.shots):
            cell = report.cell(task, model, k)
            if cell is None:
                continue
            xs.append(x + dodge)
            ys.append(cell.f1)
            low.append(cell.f1 - cell.ci.low if cell.ci else 0.0)
            high.append(cell.ci.high - cell.f1 if cell.ci else 0.0)
        if not xs:
            continue
        style = "--" if model == report.baseline else "-"
        ax.errorbar(xs, ys, yerr=[low, high], fmt="o" + style, capsize=3, label=model, linewidth=1.5, markersize=4)
    ax.set_xticks(positions)
    ax.set_xticklabels([f"{k}-shot" for k in report.shots])
    ax.set_xlim(-0.4, len(positions) - 0.6)
    ax.set_ylim(0.0, 1.0)
    ax.set_ylabel("macro-F1")
    ax.set_title(f"KoBEST {task_title(task)}" if task.startswith("kobest_") else task_title(task))
    ax.grid(True, alpha=0.3)


def write_plots(report: Report, directory: str | os.PathLike) -> list[Path]:
    """One PNG per task (``<task>.png``) and ``overview.png``; returns their paths."""
    plt = _pyplot()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    level = f"{report.confidence:.0%}"
    for task in report.tasks:
        fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=DPI)
        _draw_task(ax, report, task)
        ax.legend(fontsize=8, loc="best", title=f"error bars: {level} CI", title_fontsize=8)
        fig.tight_layout()
        path = directory / f"{_slug(task)}.png"
        _save(fig, path)
        plt.close(fig)
        written.append(path)
    columns = min(3, len(report.tasks))
    rows = (len(report.tasks) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.6 * rows), dpi=DPI, squeeze=False)
    for ax, task in zip(axes.flat, report.tasks):
        _draw_task(ax, report, task)
    for ax in list(axes.flat)[len(report.tasks) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=9)
    fig.tight_layout(rect=(0, 0.08 if handles else 0, 1, 1))
    path = directory / "overview.png"
    _save(fig, path)
    plt.close(fig)
    written.append(path)
    return written


def _save(fig, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, format="png")
    os.replace(tmp, path)
