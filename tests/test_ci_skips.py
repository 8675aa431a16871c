"""CI mode (POLYPLATYPUS_REQUIRE_KOBEST=1) turns data- and tool-dependent skips into failures;
hardware and platform skips stay skips. Run on a small test file in a child pytest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CASES = """\
import pytest

def test_missing_tool():
    pytest.importorskip("polyplatypus_no_such_module")

@pytest.mark.skipif(True, reason="shared published results not found")
def test_missing_data():
    pass

def test_gpu():
    pytest.skip("needs a GPU")

@pytest.mark.xfail(reason="known")
def test_expected_failure():
    assert False

def test_passes():
    pass
"""

AT_IMPORT = """\
import pytest

pytest.importorskip("polyplatypus_no_such_module")

def test_never_collected():
    pass
"""


def run_pytest(tmp_path: Path, required: bool) -> str:
    (tmp_path / "test_cases.py").write_text(CASES, encoding="utf-8")
    (tmp_path / "test_at_import.py").write_text(AT_IMPORT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "POLYPLATYPUS_REQUIRE_KOBEST"}
    env["PYTHONPATH"] = str(ROOT)
    if required:
        env["POLYPLATYPUS_REQUIRE_KOBEST"] = "1"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.ci_skips",
            "-rA",
            "-p",
            "no:cacheprovider",
            "--continue-on-collection-errors",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.stdout


def test_skips_fail_in_ci_except_hardware(tmp_path):
    out = run_pytest(tmp_path, required=True)
    assert "FAILED test_cases.py::test_missing_tool" in out
    assert "ERROR test_cases.py::test_missing_data" in out  # a skipif mark fails in the setup phase
    assert "ERROR test_at_import.py" in out
    assert (
        "SKIPPED [1] test_cases.py:11: needs a GPU" in out
        and "1 failed, 1 passed, 1 skipped, 1 xfailed, 2 errors" in out
    )
    assert "XFAIL test_cases.py::test_expected_failure" in out and "PASSED test_cases.py::test_passes" in out


def test_skips_stay_skips_outside_ci(tmp_path):
    out = run_pytest(tmp_path, required=False)
    assert "FAILED" not in out and "ERROR" not in out
    assert "1 passed, 4 skipped, 1 xfailed" in out
