"""The bundled Korean instruction sample: reproducible, valid, varied and demo-sized."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest

from polyplatypus.data.dedup import DEFAULT_NGRAM, DEFAULT_THRESHOLD
from polyplatypus.data.instructions import load_instructions
from polyplatypus.data.normalize import dedup_form, shingle_set
from polyplatypus.pipeline.config import resolve_builtin

from .make_instruction_sample import CATEGORIES, OUT, build_sample, sample_text

SAMPLE = Path(resolve_builtin("builtin:instructions/ko_platypus_sample.jsonl"))


@pytest.fixture(scope="module")
def sample_records() -> list[dict]:
    return load_instructions(SAMPLE)


def test_bundled_file_is_the_generator_output():
    assert OUT.resolve() == SAMPLE.resolve()  # the script writes the file the package reads
    assert SAMPLE.read_text(encoding="utf-8") == sample_text(), (
        f"{SAMPLE.name} is out of date: run python tests/pipeline/make_instruction_sample.py"
    )
    assert build_sample() == build_sample()


def test_sample_covers_the_categories_with_short_answers(sample_records):
    assert 250 <= len(sample_records) <= 400
    counts = Counter(r["data_source"] for r in sample_records)
    assert set(counts) == set(CATEGORIES) and min(counts.values()) >= 15
    assert len({r["id"] for r in sample_records}) == len(sample_records)
    assert max(len(r["output"]) for r in sample_records) <= 300
    assert sum(1 for r in sample_records if r["input"]) >= 50
    for r in sample_records:  # Korean instructions (answers may be code or formulas)
        text = r["instruction"].replace(" ", "")
        assert sum("가" <= c <= "힣" for c in text) >= 0.4 * len(text), r["id"]


def test_no_two_sample_records_are_near_duplicates(sample_records):
    sets = [shingle_set(dedup_form(r["instruction"] + r["input"]), DEFAULT_NGRAM) for r in sample_records]
    worst = max(len(a & b) / len(a | b) for a, b in itertools.combinations(sets, 2))
    assert worst < DEFAULT_THRESHOLD - 0.1
