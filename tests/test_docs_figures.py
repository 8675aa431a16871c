"""Speed figures the docs quote from BENCHMARKS.md are figures BENCHMARKS.md has (a benchmark
re-run must not leave the docs quoting numbers measured before)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RATIO = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(?:–(\d+(?:\.\d+)?))?[x×](?!\w)")
THOUSANDS = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+)(?![\d,])")
KILO = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)k(?!\w)")


def quoting_blocks(text: str) -> list[str]:
    """The paragraphs that cite BENCHMARKS.md, each with the two blocks after it (its table)."""
    blocks = re.split(r"\n\s*\n", text)
    return ["\n".join(blocks[i : i + 3]) for i, block in enumerate(blocks) if "BENCHMARKS.md" in block]


def unbacked(quoted: str, benchmarks: str) -> list[str]:
    known_ratios = {m.group(1) for m in RATIO.finditer(benchmarks)} | {m.group(2) for m in RATIO.finditer(benchmarks)}
    known_thousands = {int(m.group(1).replace(",", "")) for m in THOUSANDS.finditer(benchmarks)}
    missing = []
    for match in RATIO.finditer(quoted):
        missing += [f"{value}x" for value in match.groups() if value and value not in known_ratios]
    for match in THOUSANDS.finditer(quoted):
        if int(match.group(1).replace(",", "")) not in known_thousands:
            missing.append(match.group(1))
    for match in KILO.finditer(quoted):
        digits = len(match.group(1).partition(".")[2])
        if not any(round(n / 1000, digits) == float(match.group(1)) for n in known_thousands):
            missing.append(match.group(0))
    return missing


@pytest.mark.parametrize("page", ["docs/eval.md", "docs/train.md", "docs/tasks.md"])
def test_quoted_figures_are_in_benchmarks(page):
    benchmarks = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    quoted = quoting_blocks((ROOT / page).read_text(encoding="utf-8"))
    assert quoted, f"{page} cites no BENCHMARKS.md figure any more: drop this test's entry"
    assert not [m for block in quoted for m in unbacked(block, benchmarks)]


def test_the_check_catches_a_stale_figure():
    assert unbacked("is 1.9–4.1x faster; 32.2k tokens/s; 29,525", "| 1.9x | 29,525 | 32,213 |") == ["4.1x"]
    assert unbacked("68.9k tokens/s", "| 62,280 |") == ["68.9k"]
