"""Under ``POLYPLATYPUS_REQUIRE_KOBEST=1`` (CI, ``.ci/run``) a skipped test is a failure: missing
shared data (KoBEST, KorNLI, HateSpeech, the Polyglot-ko tokenizer, the published results), a
missing tool (``importorskip`` of lm-eval or import-linter), a tmpfs that cannot be mounted.

Only the skips in :data:`ALLOWED` stay skips there: they depend on hardware or the platform, not
on what CI installs (the README's test section lists them). A test module's skip at
import (``pytest.importorskip`` at the top) fails its collection the same way.
"""

from __future__ import annotations

import os

import pytest

REQUIRE_ENV = "POLYPLATYPUS_REQUIRE_KOBEST"
# Reasons (substrings) that stay skips in CI: hardware, platform, and a parameter with nothing to test.
ALLOWED = (
    "needs a GPU",
    "needs CUDA",
    "needs several GPUs",
    "needs several devices",
    "needs Linux /proc",
    "every value of its type is valid",
)


def required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


def _reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _fail_if_not_allowed(report) -> None:
    if not (required() and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = _reason(report)
    if any(allowed in reason for allowed in ALLOWED):
        return
    report.outcome = "failed"
    report.longrepr = f"skipped, which {REQUIRE_ENV}=1 (CI) does not allow: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_if_not_allowed(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_if_not_allowed(outcome.get_result())
