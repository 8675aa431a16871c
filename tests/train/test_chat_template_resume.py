"""train --chat-template FILE: the file's bytes are part of what a resume checks. A run resumed
(or a finished run reused) with an edited template file at the same path is refused, naming
the file; the same bytes continue."""

from __future__ import annotations

import json

import pytest

from polyplatypus.errors import ConfigError
from polyplatypus.train import train
from polyplatypus.utils.io import sha256_file

TEMPLATE = (
    "{% for m in messages %}{{ m['role'] + ':\\n' + m['content'] + '<|endoftext|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'assistant:\\n' }}{% endif %}"
)


class Stop(Exception):
    pass


@pytest.fixture
def template(tmp_path):
    path = tmp_path / "plain.jinja"
    path.write_text(TEMPLATE, encoding="utf-8")
    return path


def chat_settings(template, **more):
    return {"prompt_template": "chat", "chat_template": str(template), "max_steps": 3, "save_steps": 1, **more}


def stop_after(n):
    def on_step(step):
        if step["step"] == n:
            raise Stop

    return on_step


def test_resume_refused_when_the_template_file_was_edited(small_run, template, tmp_path):
    with pytest.raises(Stop):
        train(small_run(**chat_settings(template)), on_step=stop_after(1))
    state = json.loads((tmp_path / "run" / "checkpoints" / "checkpoint-1" / "trainer_state.json").read_text())
    assert state["chat_template_sha256"] == sha256_file(template)

    # the same rendering rules, other words: the settings (the path) are the same, the prompts not
    template.write_text(TEMPLATE.replace(":\\n'", ": '"), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"checkpoint-1: the chat template file {template} changed since"):
        train(small_run(**chat_settings(template, resume=True)))

    template.write_text(TEMPLATE, encoding="utf-8")  # restored: the run continues where it stopped
    summary = train(small_run(**chat_settings(template, resume=True)))
    assert (summary["steps"], summary["resumed_from_step"]) == (3, 1)
    assert summary["chat_template_sha256"] == sha256_file(template)


def test_finished_run_not_reused_with_an_edited_template(small_run, template):
    summary = train(small_run(**chat_settings(template, max_steps=1)))
    assert summary["chat_template_sha256"] == sha256_file(template)
    assert train(small_run(**chat_settings(template, max_steps=1, resume=True)))["steps"] == 1  # reused
    template.write_text(TEMPLATE + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"train_summary.json: the chat template file .*plain.jinja changed since"):
        train(small_run(**chat_settings(template, max_steps=1, resume=True)))


def test_no_template_file_records_none(small_run):
    assert train(small_run(max_steps=1))["chat_template_sha256"] is None
