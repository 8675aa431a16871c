"""A model folder with weights and config but no tokenizer files: eval fails before scoring
anything, and train names the model folder, not the data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from polyplatypus.cli import main
from polyplatypus.errors import ConfigError
from polyplatypus.models.loading import load_tokenizer

TRAIN_DATA = str(Path(__file__).parents[1] / "train" / "data" / "ko_instructions.jsonl")


@pytest.fixture
def no_tokenizer(tmp_path, tiny_gptneox_dir):
    folder = tmp_path / "weights-only"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_gptneox_dir / name, folder / name)
    return folder


def test_load_tokenizer_names_the_folder(no_tokenizer):
    with pytest.raises(ConfigError, match="has no tokenizer files") as caught:
        load_tokenizer(no_tokenizer)
    assert str(no_tokenizer) in str(caught.value)


def test_eval_fails_before_scoring(no_tokenizer, tiny_gptneox_dir, kobest_dir, tmp_path, capsys):
    out = tmp_path / "results"
    code = main(
        [
            "eval",
            "--model",
            f"good={tiny_gptneox_dir}",
            "--model",
            f"bad={no_tokenizer}",
            "--tasks",
            "kobest_copa",
            "--shots",
            "0",
            "--limit",
            "2",
            "--kobest-dir",
            str(kobest_dir),
            "--output",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert str(no_tokenizer) in err and "no tokenizer files" in err
    assert not (out / "cells").exists()  # not even the first, good model was scored


def test_train_blames_the_model_not_the_data(no_tokenizer, tmp_path, capsys):
    code = main(
        [
            "train",
            "--base",
            str(no_tokenizer),
            "--data",
            TRAIN_DATA,
            "--output",
            str(tmp_path / "run"),
            "--max-steps",
            "1",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert str(no_tokenizer) in err and "no tokenizer files" in err and "ko_instructions" not in err
