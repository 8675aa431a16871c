"""Fixtures for the training tests: the Korean instruction sample and a small-run config factory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data" / "ko_instructions.jsonl"


@pytest.fixture(scope="session")
def ko_data() -> Path:
    """24 short Korean instruction records (some with input, one with input missing, one null)."""
    return DATA


@pytest.fixture(scope="session")
def ko_records(ko_data) -> list[dict]:
    return [json.loads(line) for line in ko_data.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture
def small_run(tmp_path, tiny_gptneox_dir, ko_data):
    """A TrainConfig for a few-second CPU run; keyword arguments override."""
    from polyplatypus.train import TrainConfig

    def make(output: str = "run", **overrides) -> TrainConfig:
        settings = dict(
            base=str(tiny_gptneox_dir),
            data=str(ko_data),
            output=str(tmp_path / output),
            batch_size=4,
            micro_batch_size=1,
            cutoff_len=128,
            prompt_template="korean",
            warmup_steps=0,
            learning_rate=1e-2,
            report_to=[],
        )
        settings.update(overrides)
        return TrainConfig(**settings)

    return make
