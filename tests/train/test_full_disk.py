"""``train`` and ``merge`` onto a full file system (checkpoints, the tracker's logs, the adapter,
save_pretrained): an error naming the path, exit 2, no traceback, nothing half-written, no lock."""

from __future__ import annotations

import errno
import os

import pytest

from polyplatypus.cli import main
from polyplatypus.errors import OutputError
from polyplatypus.train import train
from tests.conftest import fill_filesystem


def files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def enospc(filename=None):
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), *([str(filename)] if filename else []))


def test_train_onto_a_full_disk(small_filesystem, small_run, capsys):
    config = small_run(output=str(small_filesystem / "run"), max_steps=3, save_steps=1, report_to=["tensorboard"])
    fill_filesystem(small_filesystem, leave=48 * 1024)
    code = main(
        [
            "train",
            "--base",
            config.base,
            "--data",
            config.data,
            "--output",
            config.output,
            "--max-steps",
            "3",
            "--save-steps",
            "1",
            "--batch-size",
            "4",
            "--micro-batch-size",
            "1",
            "--cutoff-len",
            "128",
            "--prompt-template",
            "korean",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"cannot write {small_filesystem}" in err and "Traceback" not in err
    left = files(small_filesystem / "run")
    assert ".polyplatypus.lock" not in left and not any(".partial" in p for p in left), left
    assert not any(p.startswith("adapter_model") for p in left)


def test_checkpoint_save_failure_removes_the_partial_checkpoint(small_run, tmp_path, monkeypatch):
    from accelerate import Accelerator

    real = Accelerator.save_state

    def full_after_some_bytes(self, output_dir=None, **kwargs):
        real(self, output_dir, **kwargs)  # the files are there, the last one "fails"
        raise enospc(os.path.join(output_dir, "optimizer.bin"))

    monkeypatch.setattr(Accelerator, "save_state", full_after_some_bytes)
    config = small_run(max_steps=3, save_steps=1)
    with pytest.raises(OutputError, match=r"cannot write .*checkpoint-1\.partial/optimizer\.bin: No space left"):
        train(config)
    assert files(tmp_path / "run") == ["train_config.yaml"]


def test_tracker_log_failure(small_run, tmp_path, monkeypatch):
    from accelerate import Accelerator

    log_file = tmp_path / "run" / "logs" / "events.out.tfevents"

    def full(self, values, step=None, log_kwargs=None):
        raise enospc(log_file)

    monkeypatch.setattr(Accelerator, "log", full)
    with pytest.raises(OutputError, match=f"cannot write {log_file}: No space left on device"):
        train(small_run(max_steps=2))
    assert not (tmp_path / "run" / ".polyplatypus.lock").exists()


def test_final_adapter_save_failure_leaves_no_adapter(small_run, tmp_path, monkeypatch):
    import peft.peft_model

    def full(*args, **kwargs):
        raise enospc(tmp_path / "run" / "adapter_model.safetensors")

    monkeypatch.setattr(peft.peft_model, "safe_save_file", full)  # PEFT's own name for safetensors' save_file
    with pytest.raises(OutputError, match="adapter_model.safetensors: No space left on device"):
        train(small_run(max_steps=1))
    assert "train_summary.json" not in files(tmp_path / "run")
    assert not (tmp_path / "run" / "adapter_config.json").exists()


def test_merge_onto_a_full_disk(small_filesystem, small_run, tmp_path, capsys):
    config = small_run(max_steps=1)
    train(config)
    output = small_filesystem / "merged"
    fill_filesystem(small_filesystem, leave=100 * 1024)  # the merged weights (370 KB) do not fit
    code = main(["merge", "--adapter", config.output, "--output", str(output)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "cannot write" in err and str(small_filesystem) in err and "Traceback" not in err
    assert sorted(p.name for p in small_filesystem.iterdir()) == ["ballast"]  # no partial folder, no lock
