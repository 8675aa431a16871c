"""Recipe stages are keyed by what made them: a base model folder edited in place (one tensor,
same size and mtime) or a changed data file is never "already complete, skipped"."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from polyplatypus.errors import ConfigError
from polyplatypus.models.fingerprint import model_fingerprint
from polyplatypus.pipeline.config import validate_config
from polyplatypus.pipeline.stages import Run, run_pipeline
from tests.models.test_fingerprint import edit_one_tensor_in_place


@pytest.fixture
def base(tmp_path, tiny_gptneox_dir):
    folder = tmp_path / "base"
    shutil.copytree(tiny_gptneox_dir, folder)
    return folder


def eval_recipe(base, kobest_dir):
    return validate_config(
        {
            "name": "fp",
            "base": {"model": str(base), "label": "tiny"},
            "eval": {
                "models": ["base"],
                "tasks": ["kobest_copa"],
                "shots": [0],
                "limit": 2,
                "kobest_dir": str(kobest_dir),
            },
            "report": {"enabled": False},
        }
    )


def test_eval_stage_not_skipped_after_the_base_changed(base, kobest_dir, tmp_path):
    logged = []
    run_dir = tmp_path / "run"
    run_pipeline(eval_recipe(base, kobest_dir), run_dir, progress=False, log=logged.append)
    run_pipeline(eval_recipe(base, kobest_dir), run_dir, progress=False, log=logged.append)
    assert any("eval: already complete" in line for line in logged)

    logged.clear()
    edit_one_tensor_in_place(base / "model.safetensors")
    state = run_pipeline(eval_recipe(base, kobest_dir), run_dir, progress=False, log=logged.append)
    assert not any("already complete" in line for line in logged), logged
    assert any("eval: settings changed, recomputing" in line for line in logged)
    assert state["stages"]["eval"]["status"] == "done"
    cell = run_dir / "eval" / "cells" / "tiny" / "kobest_copa_0shot.json"
    assert json.loads(cell.read_text())["model_fingerprint"] == model_fingerprint(base)

    # results.json deleted and the base changed again: the cells are not reused
    edit_one_tensor_in_place(base / "model.safetensors")
    (run_dir / "eval" / "results.json").unlink()
    run_pipeline(eval_recipe(base, kobest_dir), run_dir, progress=False, log=logged.append)
    assert json.loads(cell.read_text())["model_fingerprint"] == model_fingerprint(base)
    records = json.loads((run_dir / "eval" / "results.json").read_text())["results"]
    assert [r["model_fingerprint"] for r in records] == [model_fingerprint(base)]


def test_stage_settings_hold_the_identities(base, tmp_path, kobest_dir):
    data = tmp_path / "data.jsonl"
    data.write_text('{"instruction": "a", "output": "b"}\n')
    other = tmp_path / "other"
    shutil.copytree(base, other)
    recipe = {
        "name": "fp",
        "base": {"model": str(base)},
        "data": {"sources": [str(data)], "decontaminate": "none"},
        "train": {"max_steps": 1},
        "eval": {"models": ["base", "merged", f"o={other}"], "kobest_dir": str(kobest_dir)},
    }
    run = Run(config=validate_config(recipe), run_dir=tmp_path / "run")
    before = run.settings()
    assert before["base"]["identity"] == model_fingerprint(base)
    # base and merged are known by their stages' keys, any other model by its own fingerprint
    assert before["eval"]["eval"]["identity"] == {f"o={other}": model_fingerprint(other)}
    edit_one_tensor_in_place(other / "model.safetensors")
    assert run.settings()["eval"] != before["eval"] and run.settings()["train"] == before["train"]
    data.write_text('{"instruction": "a", "output": "c"}\n')
    after = run.settings()
    assert after["data"] != before["data"] and after["train"] != before["train"]
    edit_one_tensor_in_place(base / "model.safetensors")
    assert run.settings()["train"]["base"] != after["train"]["base"]


def test_train_stage_refused_after_its_data_changed(tmp_path, monkeypatch):
    """A protected stage made from other data stops the run (``--redo`` recomputes it)."""
    from polyplatypus.pipeline import stages
    from tests.pipeline.test_stage_outputs import fake_stages

    calls: list[str] = []
    for stage, function in fake_stages(calls).items():
        monkeypatch.setitem(stages.STAGE_FUNCTIONS, stage, function)
    data = tmp_path / "records.jsonl"
    data.write_text('{"instruction": "a", "output": "b"}\n')
    recipe = {
        "name": "fp",
        "base": {"tiny": {}},
        "data": {"sources": [str(data)], "decontaminate": []},
        "train": {"max_steps": 2},
        "eval": {"shots": [0], "kobest_dir": "builtin:kobest_sample"},
    }
    run_pipeline(validate_config(recipe), tmp_path / "run", progress=False, log=lambda m: None)
    data.write_text('{"instruction": "a", "output": "changed"}\n')
    with pytest.raises(ConfigError, match=r"its data stage was made with other settings \(changed: identity"):
        run_pipeline(validate_config(recipe), tmp_path / "run", progress=False, log=lambda m: None)
    assert json.loads((tmp_path / "run" / "stages" / "data.json").read_text())["settings"]["identity"]


def test_train_stage_keyed_by_the_chat_template_file_content(tmp_path):
    """A recipe's train.chat_template counts by its bytes; a recipe without one keeps the key
    it had before (its stored stages stay complete)."""
    template = tmp_path / "plain.jinja"
    template.write_text("{% for m in messages %}{{ m['content'] + '<|endoftext|>' }}{% endfor %}")
    recipe = {
        "name": "fp",
        "base": {"tiny": {}},
        "data": {"sources": [str(tmp_path / "d.jsonl")], "decontaminate": "none"},
        "train": {"max_steps": 1, "prompt_template": "chat", "chat_template": str(template)},
        "eval": {"enabled": False},
    }
    run = Run(config=validate_config(recipe), run_dir=tmp_path / "run")
    before = run.settings()["train"]
    assert before["chat_template"] == hashlib.sha256(template.read_bytes()).hexdigest()
    template.write_text("{% for m in messages %}{{ m['content'] + '<|endoftext|>\\n' }}{% endfor %}")
    after = run.settings()["train"]
    assert after != before and after["train"] == before["train"]  # same path, other content

    plain = {**recipe, "train": {"max_steps": 1}}
    keys = Run(config=validate_config(plain), run_dir=tmp_path / "run").settings()["train"]
    assert set(keys) == {"train", "base", "data"}


def test_train_stage_made_before_chat_templates_counted_does_not_stop_the_run(base, tmp_path, monkeypatch):
    """A base folder holding chat_template.jinja: its fingerprint changed when templates began to
    count. A train stage marked by the earlier code runs again (the real one reuses its finished
    run) instead of stopping the run; an edited template afterwards stops it."""
    from polyplatypus.models import fingerprint as fingerprints
    from polyplatypus.pipeline import stages
    from tests.pipeline.test_stage_outputs import fake_stages

    calls: list[str] = []
    for stage, function in fake_stages(calls).items():
        monkeypatch.setitem(stages.STAGE_FUNCTIONS, stage, function)
    (base / "chat_template.jinja").write_text("{{ messages[0]['content'] }}", encoding="utf-8")
    data = tmp_path / "records.jsonl"
    data.write_text('{"instruction": "a", "output": "b"}\n')
    recipe = {
        "name": "fp",
        "base": {"model": str(base)},
        "data": {"sources": [str(data)], "decontaminate": []},
        "train": {"max_steps": 2},
        "eval": {"enabled": False},
    }
    with monkeypatch.context() as earlier:  # the earlier code: no template file counted
        earlier.setattr(fingerprints, "CHAT_TEMPLATE_FILES", ())
        run_pipeline(validate_config(recipe), tmp_path / "run", progress=False, log=lambda m: None)
    assert calls.count("train") == 1

    run_pipeline(validate_config(recipe), tmp_path / "run", progress=False, log=lambda m: None)
    assert calls.count("train") == 2  # ran again (not refused), and marked with today's key
    run_pipeline(validate_config(recipe), tmp_path / "run", progress=False, log=lambda m: None)
    assert calls.count("train") == 2  # complete

    (base / "chat_template.jinja").write_text("{{ messages[-1]['content'] }}", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"its train stage was made with other settings \(changed: base"):
        run_pipeline(validate_config(recipe), tmp_path / "run", progress=False, log=lambda m: None)
