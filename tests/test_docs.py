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


def _flags(parser: argparse.ArgumentParser, path: tuple[str, ...], program: frozenset = frozenset()):
    """(command path, forms) of each flag; a program flag that every command takes as well
    (--threads) is documented once, with the program's flags."""
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or not action.option_strings:
            continue
        if path and program.issuperset(action.option_strings):
            continue
        for forms in _documented_forms(action):
            yield path, forms
    if not path:
        program = frozenset(option for action in parser._actions for option in action.option_strings)
    for name, subparser in _subcommands(parser).items():
        yield from _flags(subparser, path + (name,), program)


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


# --- the paste-able examples run as written ----------------------------------------------------
#
# Every `polyplatypus ...` command in a fenced block of README.md and docs/*.md is run from a
# fresh checkout with ../shared beside it (a temporary folder: checkout/ as the working
# directory, shared -> the real ../shared), in page order, so a page's later commands see its
# earlier outputs. What makes them small and offline is stated here, once:
DOC_RUN_SUBSTITUTIONS = {
    # hub models -> the committed tiny Polyglot-ko-layout model (tests/fixtures/tiny-gptneox)
    "EleutherAI/polyglot-ko-12.8b": "{tiny}",
    "EleutherAI/polyglot-ko-1.3b": "{tiny}",
    # the hub instruction dataset -> the sample shipped in the package
    "kyujinpy/KOpen-platypus": "builtin:instructions/ko_platypus_sample.jsonl",
}
# only these flags' values ([LABEL=]VALUE); --baseline too, as the hub model it names became the tiny one
DOC_RUN_SUBSTITUTED_FLAGS = ("--model", "--base", "--tokenizer", "--data", "--baseline")
# appended to a subcommand: a few documents / steps / tokens instead of whole runs
DOC_RUN_EXTRA = {
    "eval": ["--limit", "2", "--no-progress"],
    "train": ["--max-steps", "2"],
    "generate": ["--max-new-tokens", "4"],
}
# environment: KoBEST without --kobest-dir reads $POLYPLATYPUS_KOBEST_DIR (the docs say so); here
# the KoBEST-format sample shipped in the package stands in for the hub dataset
DOC_RUN_ENV = {"POLYPLATYPUS_KOBEST_DIR": "builtin:kobest_sample"}
# files a page names as the reader's own, written before its commands run
DOC_RUN_FILES = {
    "extra.jsonl": '{"instruction": "서울의 옛 이름은?", "input": "", "output": "한양"}\n',
    "prompts.jsonl": '{"instruction": "한국의 수도는 어디인가요?"}\n{"instruction": "김치는 무엇인가요?"}\n',
    "chat.jsonl": '{"messages": [{"role": "user", "content": "서울의 옛 이름은?"}, '
    '{"role": "assistant", "content": "한양입니다."}]}\n',
}
DOC_RUN_MODEL_FOLDERS = ["my-merged-model"]  # the reader's own model folders: copies of the tiny model
# each page runs in a fresh checkout; a page whose commands read what README's made gets a copy
DOC_RUN_INPUTS = {"report.md": ["results"]}
# commands not run, each with the reason (first matching fragment wins); every entry must match
DOC_RUN_SKIPPED = [
    ("polyplatypus demo", "minutes on a CPU; run end to end by tests/pipeline/test_run.py"),
    ("polyplatypus run poly-platypus-ko-12.8b", "a GPU and the hub (its offline report: tests/utils/test_hub.py)"),
    ("polyplatypus run tiny-cpu", "the demo's recipe: minutes; tests/pipeline/test_run.py"),
    ("polyplatypus run my-recipe.yaml", "a placeholder for the reader's recipe"),
    ("lm_eval:kmmlu", "lm-eval's hub datasets (KMMLU, HAE-RAE): network"),
    ("polyplatypus train --config src/polyplatypus/configs/train", "the shipped config names the hub base and data"),
    ("polyplatypus train --config run.yaml", "a placeholder for the reader's config"),
    ("polyplatypus report runs/", "needs recipe runs of 12.8b and 7b models (a GPU)"),
    (
        "--prompt-template chat",
        "a hub base with a chat template (A.X 4.0 Light); chat training: tests/train/test_chat_train.py",
    ),
    (
        "tuned=runs/ax-chat",
        "the adapter of the chat training above (skipped); adapters: tests/eval/test_adapter_eval.py",
    ),
    ("tuned=runs/qwen-chat", "a chat adapter of the reader's; adapters: tests/eval/test_adapter_eval.py"),
    ("::runs/qwen-chat", "a chat adapter and base copy of the reader's; tests/eval/test_adapter_eval.py"),
    ("--model Qwen/Qwen3-8B", "a hub thinking chat model; on a tiny chat model: tests/eval/test_thinking.py"),
]
_FENCED = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _doc_commands(page: Path) -> list[str]:
    """The `polyplatypus` command lines of a page's fenced blocks (continuations joined, prompts and
    trailing comments removed); usage synopses ([--flag ...]) and printed errors are not commands."""
    commands = []
    for match in _FENCED.finditer(page.read_text(encoding="utf-8")):
        if match.group(1) not in ("", "bash", "sh"):
            continue
        for line in match.group(2).replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line.strip().removeprefix("$ ")).strip()
            line = re.sub(r"^(\w+=\S+\s+)+", "", line)  # VAR=value before the command
            if not line.startswith("polyplatypus ") or ": error:" in line or " [" in line:
                continue
            commands.append(" ".join(line.split()))
    return commands


def _skip_reason(command: str) -> str | None:
    return next((why for fragment, why in DOC_RUN_SKIPPED if fragment in command), None)


def test_command_extraction():
    page = Path("x.md")
    text = (
        "```bash\npolyplatypus eval --model a \\\n    --shots 0   # note\n$ polyplatypus tasks\n```\n"
        "```\npolyplatypus run CONFIG [--run-dir DIR]\npolyplatypus run: error: x\n```\n"
        "```yaml\npolyplatypus x\n```\n"
    )
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "x.md"
        page.write_text(text, encoding="utf-8")
        assert _doc_commands(page) == ["polyplatypus eval --model a --shots 0", "polyplatypus tasks"]


def test_every_skip_entry_matches_a_command():
    commands = [c for page in _markdown_files() for c in _doc_commands(page)]
    stale = [fragment for fragment, _ in DOC_RUN_SKIPPED if not any(fragment in c for c in commands)]
    assert not stale, f"skip entries that match no documented command: {stale}"


def _doc_files(page: Path, checkout: Path) -> None:
    """The YAML task files a page shows under a `# my_tasks/NAME.yaml` heading, written out."""
    for match in _FENCED.finditer(page.read_text(encoding="utf-8")):
        first = match.group(2).splitlines()[0] if match.group(2) else ""
        named = re.fullmatch(r"#\s*(my_tasks/\S+\.yaml)", first.strip())
        if match.group(1) == "yaml" and named and "include: /path/to" not in match.group(2):
            (checkout / named.group(1)).parent.mkdir(parents=True, exist_ok=True)
            (checkout / named.group(1)).write_text(match.group(2), encoding="utf-8")


def _substituted(argv: list[str], tiny: Path) -> list[str]:
    out = []
    for index, word in enumerate(argv):
        if index and argv[index - 1] in DOC_RUN_SUBSTITUTED_FLAGS:
            label, equals, value = word.rpartition("=")
            if value in DOC_RUN_SUBSTITUTIONS:
                word = label + equals + DOC_RUN_SUBSTITUTIONS[value].format(tiny=tiny)
        out.append(word)
    return out + DOC_RUN_EXTRA.get(out[0], [])


def test_substitution_touches_flag_values_only():
    argv = ["eval", "--model", "base=EleutherAI/polyglot-ko-12.8b", "--published", "x/EleutherAI/polyglot-ko-12.8b"]
    assert _substituted(argv, Path("/t")) == [
        "eval",
        "--model",
        "base=/t",
        "--published",
        "x/EleutherAI/polyglot-ko-12.8b",
        "--limit",
        "2",
        "--no-progress",
    ]


def _run_page(page: Path, checkout: Path, tiny: Path, main, capsys) -> tuple[list[str], list[str]]:
    import shlex

    ran, failed = [], []
    _doc_files(page, checkout)
    for command in _doc_commands(page):
        if _skip_reason(command):
            continue
        argv = _substituted(shlex.split(command)[1:], tiny)
        code = main(argv)
        ran.append(f"{page.name}: {command}")
        if code != 0:
            failed.append(
                f"{page.name}: polyplatypus {' '.join(argv)} -> exit {code}: {capsys.readouterr().err[-1500:]}"
            )
    return ran, failed


@pytest.mark.slow  # a few minutes: every runnable documented command, on the tiny model
def test_documented_commands_run_as_written(tmp_path, tiny_gptneox_dir, monkeypatch, capsys):
    import shutil

    from polyplatypus.cli import main

    shared = ROOT.parent / "shared"
    if not (shared / "data").is_dir():
        pytest.skip("../shared is not beside the checkout")
    for key, value in DOC_RUN_ENV.items():
        monkeypatch.setenv(key, value)
    ran, failed, first = [], [], None
    for number, page in enumerate(_markdown_files()):
        clone = tmp_path / f"{number}-{page.stem}"  # a fresh checkout with ../shared beside it
        (clone / "checkout").mkdir(parents=True)
        (clone / "shared").symlink_to(shared)
        checkout = clone / "checkout"
        for name, text in DOC_RUN_FILES.items():
            (checkout / name).write_text(text, encoding="utf-8")
        for name in DOC_RUN_MODEL_FOLDERS:
            shutil.copytree(tiny_gptneox_dir, checkout / name)
        for folder in DOC_RUN_INPUTS.get(page.name, []):
            shutil.copytree(first / folder, checkout / folder)
        monkeypatch.chdir(checkout)
        page_ran, page_failed = _run_page(page, checkout, tiny_gptneox_dir, main, capsys)
        ran, failed = ran + page_ran, failed + page_failed
        first = first or checkout
    assert not failed, "documented commands that failed:\n" + "\n".join(failed)
    assert len(ran) >= 15, ran
