"""Fixtures of the curation tests: the bundled sample and edits that plant near-duplicates."""

from __future__ import annotations

import pytest

from polyplatypus.data.instructions import load_instructions
from polyplatypus.pipeline.config import resolve_builtin


@pytest.fixture(scope="session")
def sample_records() -> list[dict]:
    return load_instructions(resolve_builtin("builtin:instructions/ko_platypus_sample.jsonl"))
