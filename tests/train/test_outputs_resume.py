"""Training's output folder: checked before anything loads, held by one process, resumed only on
the data it started on, and tidied of what an interrupted save left."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from polyplatypus.cli import main
from polyplatypus.errors import ConfigError, OutputError, OutputInUseError
from polyplatypus.train import checkpoint, recipe, train


class Killed(BaseException):
    """Stands for the process dying at that point."""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def nothing_loads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model or tokenizer was loaded")

    monkeypatch.setattr(recipe, "load_causal_lm", refuse)
    monkeypatch.setattr(recipe, "load_tokenizer", refuse)


def test_resume_refuses_changed_data_and_tidies_an_interrupted_save(small_run, tmp_path, ko_data, monkeypatch):
    data = tmp_path / "data.jsonl"
    shutil.copy(ko_data, data)
    settings = dict(data=str(data), max_steps=5, save_steps=2, save_total_limit=3)
    real_state_write = checkpoint.atomic_write_json

    def dies_saving_step_4(path, state):
        if path.parent.name == "checkpoint-4.partial":
            raise Killed  # the weights of step 4 are saved, its trainer_state.json is not
        real_state_write(path, state)

    monkeypatch.setattr(checkpoint, "atomic_write_json", dies_saving_step_4)
    with pytest.raises(Killed):
        train(small_run(**settings))
    monkeypatch.setattr(checkpoint, "atomic_write_json", real_state_write)
    out = Path(small_run().output)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["checkpoint-2", "checkpoint-4.partial"]
    state = checkpoint.read_state(out / "checkpoints" / "checkpoint-2")
    assert state["data_sha256"] == sha256(data)
    leftover = out / ".train_summary.json.x1y2z3.tmp"  # what a kill -9 inside a write leaves
    leftover.write_text("{")

    original = data.read_bytes()
    data.write_bytes(original.replace("서울".encode(), "부산".encode(), 1))  # same path, other contents
    assert data.read_bytes() != original
    with pytest.raises(ConfigError) as error:
        train(small_run(**settings, resume=True))
    message = str(error.value)
    assert f"training data {data} is not the data the run started on" in message and "checkpoint-2" in message

    data.write_bytes(original)
    summary = train(small_run(**settings, resume=True))
    assert summary["resumed_from_step"] == 2 and summary["steps"] == 5
    assert summary["data_sha256"] == sha256(data)
    assert json.loads((out / "train_summary.json").read_text())["data_sha256"] == sha256(data)
    assert not leftover.exists() and not (out / "checkpoints" / "checkpoint-4.partial").exists()

    # a finished run, resumed on changed data, is refused too (naming the summary)
    data.write_text(
        original.decode() + json.dumps({"instruction": "추가", "output": "질문"}, ensure_ascii=False) + "\n"
    )
    with pytest.raises(ConfigError, match=r"train_summary.json: the training data .* is not the data"):
        train(small_run(**settings, resume=True))


def test_output_checked_before_anything_loads(small_run, tmp_path, tiny_gptneox_dir, nothing_loads, capsys):
    a_file = tmp_path / "adapter.bin"
    a_file.write_bytes(b"weights")
    with pytest.raises(OutputError, match="an existing file .* where a folder is needed"):
        train(small_run(output=str(a_file)))

    merged = tmp_path / "merged"  # a merged model: train must not write its tokenizer into it
    shutil.copytree(tiny_gptneox_dir, merged)
    (merged / "polyplatypus.json").write_text('{"base": "x", "adapter": "y", "prompt_template": "alpaca"}')
    before = {p.name: p.read_bytes() for p in merged.iterdir()}
    assert (
        main(
            [
                "train",
                "--base",
                str(tiny_gptneox_dir),
                "--data",
                small_run().data,
                "--output",
                str(merged),
                "--report-to",
                "none",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert f"{merged}: the folder holds a merged model (polyplatypus merge)" in err
    assert "not the output of an earlier `polyplatypus train`" in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in merged.iterdir()} == before

    evaluation = tmp_path / "eval"
    (evaluation / "cells").mkdir(parents=True)
    (evaluation / "results.json").write_text("{}")
    with pytest.raises(OutputError, match=r"holds an evaluation \(polyplatypus eval\): cells, results.json"):
        train(small_run(output=str(evaluation)))
    assert sorted(p.name for p in evaluation.iterdir()) == ["cells", "results.json"]


def test_a_second_training_into_a_held_folder_is_refused(small_run, other_process_holding, nothing_loads):
    config = small_run()
    holder = other_process_holding(config.output, "train")
    with pytest.raises(OutputInUseError, match=rf"is in use by polyplatypus train \(pid {holder.pid}"):
        train(config)
    assert [p.name for p in Path(config.output).iterdir()] == [".polyplatypus.lock"]  # the holder's only


@pytest.fixture(scope="module")
def adapter(tmp_path_factory, tiny_gptneox_dir, ko_data):
    from polyplatypus.train import TrainConfig

    output = tmp_path_factory.mktemp("merge-source") / "adapter"
    train(
        TrainConfig(
            base=str(tiny_gptneox_dir),
            data=str(ko_data),
            output=str(output),
            batch_size=4,
            max_steps=1,
            cutoff_len=128,
            prompt_template="korean",
            report_to=[],
        )
    )
    return output


def test_merge_output_checks_lock_and_interrupted_save(adapter, tmp_path, capsys, other_process_holding, monkeypatch):
    from transformers import PreTrainedTokenizerBase

    def merge_into(output, *extra):
        return main(["merge", "--adapter", str(adapter), "--output", str(output), *extra])

    a_file = tmp_path / "model.bin"
    a_file.write_text("x")
    assert merge_into(a_file) == 2
    assert "an existing file (1 bytes) is there, where a folder is needed" in capsys.readouterr().err
    # --overwrite replaces an earlier merged model, never something else (here: the adapter itself)
    before = sorted(p.name for p in adapter.iterdir())
    assert merge_into(adapter, "--overwrite") == 2
    assert "holds a training run (polyplatypus train)" in capsys.readouterr().err
    assert sorted(p.name for p in adapter.iterdir()) == before

    merged = tmp_path / "merged"
    holder = other_process_holding(merged, "merge", beside=True)
    assert merge_into(merged) == 2
    assert f"{merged} is in use by polyplatypus merge (pid {holder.pid}" in capsys.readouterr().err
    holder.stdin.close()
    holder.wait()

    def killed(self, *args, **kwargs):
        raise Killed  # the weights are in merged.partial, the tokenizer is not

    with monkeypatch.context() as patch:
        patch.setattr(PreTrainedTokenizerBase, "save_pretrained", killed)
        with pytest.raises(Killed):
            merge_into(merged)
    assert (tmp_path / "merged.partial" / "config.json").is_file() and not merged.exists()
    assert merge_into(merged) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["merged", "model.bin"]  # no partial, no lock
    assert (merged / "tokenizer.json").is_file() and (merged / "polyplatypus.json").is_file()
    assert merge_into(merged, "--overwrite") == 0  # an earlier merged model is replaced
