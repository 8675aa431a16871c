"""Packages import only downward: the import-linter contracts in ``.importlinter`` hold for the
package, and they do catch an upward import (also one made inside a function) or a cycle."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import polyplatypus

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = ROOT / ".importlinter"
PACKAGE = Path(polyplatypus.__file__).resolve().parent  # the code under test, wherever it is imported from

pytest.importorskip("importlinter", reason="import-linter is in the test extra: pip install -e .[test]")


def lint_imports(package_parent: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the ``polyplatypus`` found in ``package_parent``, with the repository's
    contracts; the graph is built afresh (no cache written)."""
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    command = [
        sys.executable,
        "-c",
        "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())",
        str(CONTRACTS),
        "--no-cache",
        "--no-logo",
    ]
    return subprocess.run(command, env=env, cwd=package_parent, capture_output=True, text=True, timeout=300)


def test_the_package_keeps_every_layer_contract():
    result = lint_imports(PACKAGE.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


def _copy_with(tmp_path: Path, edits: dict[str, str]) -> Path:
    """A copy of the package with each ``edits`` line appended to its module."""
    copy = tmp_path / "polyplatypus"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for module, line in edits.items():
        path = copy / module
        path.write_text(path.read_text(encoding="utf-8") + line, encoding="utf-8")
    return tmp_path


def _inside_a_function(statement: str) -> str:
    return f"\n\ndef _probe():\n    {statement}\n"


@pytest.mark.parametrize(
    ("edits", "broken"),
    [
        # models is below train: the packed attention once lived in train and loading reached up to it
        (
            {"models/loading.py": _inside_a_function("from polyplatypus.train import recipe")},
            "polyplatypus.models is not allowed to import polyplatypus.train",
        ),
        # the version comes from polyplatypus.version, not from the package root (which imports eval)
        (
            {"report/card.py": "\nfrom polyplatypus import __version__ as _probe\n"},
            "polyplatypus.report.card is not allowed to import polyplatypus",
        ),
        # within the middle layer data may use tasks and models, not the other way round
        (
            {"tasks/registry.py": _inside_a_function("from polyplatypus.data import templates")},
            "polyplatypus.tasks is not allowed to import polyplatypus.data",
        ),
        # train and eval share a layer, but may not import each other in a circle
        (
            {
                "train/merge.py": _inside_a_function("from polyplatypus.eval import tables"),
                "eval/tables.py": _inside_a_function("from polyplatypus.train import merge"),
            },
            "No cycles are allowed in polyplatypus",
        ),
    ],
)
def test_an_upward_import_or_a_cycle_breaks_a_contract(tmp_path, edits, broken):
    result = lint_imports(_copy_with(tmp_path, edits))
    assert result.returncode != 0
    assert broken in result.stdout, result.stdout
