"""A finished or interrupted training run is reused only on the same base model: one tensor of
the base edited in place (same size, same mtime) is seen, and the resume refused."""

from __future__ import annotations

import json
import shutil

import pytest

from polyplatypus.errors import ConfigError
from polyplatypus.models.fingerprint import COUNTS_CHAT_TEMPLATES, folder_fingerprint, model_fingerprint
from polyplatypus.train import train
from polyplatypus.train.merge import check_base
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


def test_an_edited_chat_template_of_the_base_refuses_the_resume(base, small_run):
    # transformers 5 keeps a tokenizer's chat template in chat_template.jinja, beside the files
    # fingerprints counted before: an edit there is a changed base too
    (base / "chat_template.jinja").write_text("{{ messages[0]['content'] }}", encoding="utf-8")
    summary = train(small_run(base=str(base), max_steps=1))
    assert summary[COUNTS_CHAT_TEMPLATES] is True
    (base / "chat_template.jinja").write_text("{{ messages[-1]['content'] }}", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"train_summary.json: the base model .* changed since that run started"):
        train(small_run(base=str(base), max_steps=1, resume=True))
    with pytest.raises(ConfigError, match=r"is not the model .* was trained on"):
        check_base(base.parent / "run", str(base))


def test_runs_recorded_before_chat_templates_counted_are_judged_on_what_they_recorded(base, small_run, tmp_path):
    """A finished run (and its adapter) recorded by the earlier code on a base holding a chat
    template: its base_fingerprint left the template out, and it is still the same base."""
    (base / "chat_template.jinja").write_text("{{ messages[0]['content'] }}", encoding="utf-8")
    train(small_run(base=str(base), max_steps=1))
    summary_path = tmp_path / "run" / "train_summary.json"
    old = json.loads(summary_path.read_text())
    del old[COUNTS_CHAT_TEMPLATES]
    old["base_fingerprint"] = folder_fingerprint(base, chat_templates=False)  # what the earlier code recorded
    assert old["base_fingerprint"] != model_fingerprint(base)
    summary_path.write_text(json.dumps(old))

    assert train(small_run(base=str(base), max_steps=1, resume=True))["steps"] == 1  # reused, not refused
    assert check_base(tmp_path / "run", str(base))["base_check"] == "same base"
    edit_one_tensor_in_place(base / "model.safetensors")  # what it recorded still counts
    with pytest.raises(ConfigError, match=r"the base model .* changed since that run started"):
        train(small_run(base=str(base), max_steps=1, resume=True))
