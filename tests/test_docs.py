"""The documentation keeps up with the code: every command-line flag is documented on its
command's page, and every relative link in README.md and docs/ leads somewhere."""

from __future__ import annotations

import argparse
import re
import unicodedata
from pathlib import Path

import pytest

from polyplatypus.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

# Each top-level command's reference page. A new command must get a page here.
DOC_PAGES = {
    "eval": "docs/eval.md",
    "train": "docs/train.md",
    "merge": "docs/train.md",
    "generate": "docs/train.md",
    "data": "docs/curate.md",
    "run": "docs/run.md",
    "demo": "docs/run.md",
    "report": "docs/report.md",
    "tasks": "docs/tasks.md",
}
# The program's own flags (--version) are documented in the README.
TOP_LEVEL_PAGE = "README.md"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found = {}
    for action in parser._actions:  # argparse has no public way to list subparsers
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found


def _documented_forms(action: argparse.Action) -> list[tuple[str, ...]]:
    """What a reader must find: each option string, except that an on/off flag
    (BooleanOptionalAction: --packing / --no-packing) is documented by either of its forms."""
    if isinstance(action, argparse.BooleanOptionalAction):
        return [tuple(action.option_strings)]
    return [(option,) for option in action.option_strings]


def _flags(parser: argparse.ArgumentParser, path: tuple[str, ...]):
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or not action.option_strings:
            continue
        for forms in _documented_forms(action):
            yield path, forms
    for name, subparser in _subcommands(parser).items():
        yield from _flags(subparser, path + (name,))


def _all_flags() -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    return list(_flags(build_parser(), ()))


def _page_for(path: tuple[str, ...]) -> str:
    return DOC_PAGES[path[0]] if path else TOP_LEVEL_PAGE


def _mentions(text: str, option: str) -> bool:
    # Whole option only: --dedup-ngram must not count as --dedup-n, nor --seed as --seeds.
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


def test_walk_reaches_nested_subcommands():
    flags = _all_flags()
    paths = {path for path, _ in flags}
    assert ("data", "curate") in paths and ("data", "stats") in paths
    assert {path[0] for path in paths if path} == set(_subcommands(build_parser()))
    assert ((), ("--version",)) in flags
    assert (("train",), ("--packing", "--no-packing")) in flags  # an on/off flag is one entry
    assert not any(form == "--help" for _, forms in flags for form in forms)


def test_every_command_has_a_page():
    commands = set(_subcommands(build_parser()))
    missing = sorted(commands - set(DOC_PAGES))
    assert not missing, f"commands without a page in DOC_PAGES: {missing}"
    for page in set(DOC_PAGES.values()):
        assert (ROOT / page).is_file(), page


def test_every_flag_is_documented_on_its_page():
    texts: dict[str, str] = {}
    undocumented = []
    for path, forms in _all_flags():
        page = _page_for(path)
        if page not in texts:
            texts[page] = (ROOT / page).read_text(encoding="utf-8")
        if not any(_mentions(texts[page], option) for option in forms):
            undocumented.append(f"polyplatypus {' '.join(path)} {' / '.join(forms)} (expected in {page})")
    assert not undocumented, "undocumented flags:\n" + "\n".join(undocumented)


def test_option_matching_is_whole_word():
    text = "Use `--dedup-ngram N` or --seed, not --no-progress."
    assert _mentions(text, "--dedup-ngram") and _mentions(text, "--seed")
    assert not _mentions(text, "--dedup-n")
    assert not _mentions(text, "--progress")
    assert _mentions(text, "--no-progress")


# Markdown links: [text](target) and reference definitions "[name]: target".
_INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.MULTILINE)
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def _links(markdown: str) -> list[str]:
    prose = _INLINE_CODE.sub("", _FENCE.sub("", markdown))  # code is not a link
    return _INLINE_LINK.findall(prose) + _REFERENCE_LINK.findall(prose)


def _anchor(heading: str) -> str:
    """GitHub's heading anchor: lower case, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.replace("`", "").strip().lower()
    kept = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LNM")
    return kept.replace(" ", "-")


def _anchors(markdown: str) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for match in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", _FENCE.sub("", markdown), re.MULTILINE):
        base = _anchor(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        anchors.add(base if count == 0 else f"{base}-{count}")
    return anchors


def test_anchor_follows_github():
    assert _anchor("Run a recipe: `polyplatypus run`") == "run-a-recipe-polyplatypus-run"
    assert _anchor("`base` — exactly one of `model` and `tiny`") == "base--exactly-one-of-model-and-tiny"
    assert _anchor("What happens when it stops") == "what-happens-when-it-stops"
    assert _anchors("# A\n## A\n```\n# not a heading\n```\n") == {"a", "a-1"}


def test_link_extraction_skips_code():
    text = "See [the page](docs/eval.md#speed) and [ref].\n\n[ref]: ../x.md\n`[no](a.md)`\n```\n[no](b.md)\n```\n"
    assert _links(text) == ["docs/eval.md#speed", "../x.md"]


@pytest.mark.parametrize("page", _markdown_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_resolve(page: Path):
    broken = []
    for target in _links(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, https:, mailto:
            continue
        file_part, _, fragment = target.partition("#")
        linked = (page.parent / file_part).resolve() if file_part else page
        if not linked.exists():
            broken.append(f"{target}: no such file {linked}")
        elif fragment and linked.suffix == ".md" and fragment not in _anchors(linked.read_text(encoding="utf-8")):
            broken.append(f"{target}: no heading with anchor #{fragment} in {linked.name}")
    assert not broken, f"{page.relative_to(ROOT)}:\n" + "\n".join(broken)
