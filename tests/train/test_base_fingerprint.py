"""A finished or interrupted training run is reused only on the same base model: one tensor of
the base edited in place (same size, same mtime) is seen, and the resume refused."""

from __future__ import annotations

import json
import shutil

import pytest

from polyplatypus.errors import ConfigError
from polyplatypus.models.fingerprint import model_fingerprint
from polyplatypus.train import train
from tests.models.test_fingerprint import edit_one_tensor_in_place


class Stop(Exception):
    pass


@pytest.fixture
def base(tmp_path, tiny_gptneox_dir):
    folder = tmp_path / "base"
    shutil.copytree(tiny_gptneox_dir, folder)
    return folder


def test_resume_refused_when_the_base_changed(base, small_run, tmp_path):
    settings = dict(base=str(base), max_steps=4, save_steps=2)

    def stop_after_2(step):
        if step["step"] == 2:
            raise Stop

    with pytest.raises(Stop):
        train(small_run(**settings), on_step=stop_after_2)
    state = json.loads((tmp_path / "run" / "checkpoints" / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["base_fingerprint"] == model_fingerprint(base)

    edit_one_tensor_in_place(base / "model.safetensors")
    with pytest.raises(ConfigError, match=rf"checkpoint-2: the base model {base} changed since that run started"):
        train(small_run(**settings, resume=True))


def test_finished_run_not_reused_on_a_changed_base(base, small_run):
    summary = train(small_run(base=str(base), max_steps=1))
    assert summary["base_fingerprint"] == model_fingerprint(base)
    assert train(small_run(base=str(base), max_steps=1, resume=True))["steps"] == 1  # reused as it is
    edit_one_tensor_in_place(base / "model.safetensors")
    with pytest.raises(ConfigError, match=r"train_summary.json: the base model .* changed since that run started"):
        train(small_run(base=str(base), max_steps=1, resume=True))
