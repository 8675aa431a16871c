"""A self-contained HTML page of a report (the same tables as the Markdown card, plus the plots)."""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

from polyplatypus.report.card import (
    MISSING,
    NOISE_MARK,
    Report,
    _baseline_lines,
    legend,
    own_metric_lines,
    provenance_text,
    published_legend,
    report_warnings,
    task_title,
    truncation_notes,
)
from polyplatypus.version import __version__

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; color: #1f2328; line-height: 1.5; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #d0d7de; padding: 0.3rem 0.7rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f6f8fa; }
td.best { font-weight: bold; }
.ci { color: #59636e; font-size: 0.85em; }
.noise { color: #9a6700; }
.warning { background: #fff8c5; border: 1px solid #d4a72c; padding: 0.5rem 0.8rem; }
.note { font-size: 0.9em; color: #59636e; }
img { max-width: 100%; }
footer { font-size: 0.85em; color: #59636e; border-top: 1px solid #d0d7de; margin-top: 2rem; }
"""


def _inline(text: str) -> str:
    """Escaped text with Markdown `code` and **bold** spans as HTML."""
    text = escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)


def _cell_html(cell) -> str:
    if cell is None:
        return f"<td>{MISSING}</td>"
    parts = [escape(f"{cell.f1:.4f}")]
    if cell.ci is not None:
        parts.append(f' <span class="ci">[{cell.ci.low:.3f}, {cell.ci.high:.3f}]</span>')
    if cell.within_noise_of_best:
        parts.append(f' <span class="noise" title="within noise of the best">{NOISE_MARK}</span>')
    klass = ' class="best"' if cell.best else ""
    return f"<td{klass}>{''.join(parts)}</td>"


def render_html(report: Report, images: list[Path] | None = None) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{escape(report.title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(report.title)}</h1>",
    ]
    if report.intro:
        out += [f"<p>{_inline(paragraph)}</p>" for paragraph in report.intro.strip().split("\n\n")]
    out.append(f"<p>{escape(legend(report))}</p>")
    if published_legend(report):
        out.append(f"<p>{_inline(published_legend(report))}</p>")
    for warning in report_warnings(report):
        out.append(f'<p class="warning">{_inline(warning)}</p>')
    images_by_name = {Path(p).stem: p for p in images or []}
    for task in report.tasks:
        out.append(f"<h2>{escape(task_title(task))} (F1)</h2>")
        out.append(
            "<table><thead><tr><th>Model</th>"
            + "".join(f"<th>{k}-shot</th>" for k in report.shots)
            + "</tr></thead><tbody>"
        )
        for name, cells, notes in report.table_rows(task):
            marks = "".join(f'<sup><a href="#note-{n}">{n}</a></sup>' for n in notes)
            out.append(f"<tr><td>{escape(name)}{marks}</td>" + "".join(_cell_html(c) for c in cells) + "</tr>")
        out.append("</tbody></table>")
        truncated = truncation_notes(report, task)
        if truncated:
            out.append(
                f'<p class="note">Truncated contexts (documents whose prompt was cut to fit the model): '
                f"{escape('; '.join(truncated))}.</p>"
            )
        if report.baseline is not None:
            diffs = _baseline_lines(report, task)
            if diffs:
                out.append(
                    f'<p class="note">Difference from the baseline {escape(report.baseline)} '
                    f"(F1, {report.confidence:.0%} paired-bootstrap interval): {escape('; '.join(diffs))}.</p>"
                )
        image = images_by_name.get(task)
        if image is not None:
            out.append(
                f'<img src="{escape(Path(image).as_posix())}" alt="F1 against shot count, {escape(task_title(task))}">'
            )
    if report.published_notes:
        out.append(
            '<p class="note">Not shown from the published files: ' + escape("; ".join(report.published_notes)) + ".</p>"
        )
    if report.own_metric_records:
        out.append(
            '<p class="note">Results without a macro-F1 (their task\'s own metrics): '
            + escape("; ".join(own_metric_lines(report)))
            + ".</p>"
        )
    overview = images_by_name.get("overview")
    if overview is not None:
        out += [
            "<h2>All tasks</h2>",
            f'<img src="{escape(Path(overview).as_posix())}" alt="F1 against shot count, all tasks">',
        ]
    out.append("<footer>")
    out.append(
        f"<p>Report written by polyplatypus {escape(__version__)} on {escape(report.generated)} from "
        + ", ".join(f"<code>{escape(s)}</code>" for s in report.sources)
        + ".</p><ol>"
    )
    for number, note in enumerate(report.provenance, start=1):
        out.append(f'<li id="note-{number}">{_inline(provenance_text(note))}.</li>')
    out += ["</ol>", "</footer>", "</body>", "</html>"]
    return "\n".join(out) + "\n"
