"""A stage is skipped only when its completion marker matches AND its key outputs are there; a stage
whose outputs were deleted runs again, and so does every stage after it."""

import json
import shutil

import pytest

from polyplatypus.cli import main
from polyplatypus.pipeline import stages
from polyplatypus.pipeline.config import validate_config
from polyplatypus.pipeline.stages import STAGES, Run, run_pipeline

RECIPE = {
    "name": "outputs",
    "base": {"tiny": {}},
    "data": {"sources": ["records.jsonl"], "decontaminate": []},
    "train": {"max_steps": 2},
    "eval": {"shots": [0], "kobest_dir": "builtin:kobest_sample"},  # nothing from the hub
}


def write(path, text="{}"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def fake_stages(calls: list):
    """Stand-ins that write what the real stages write (the files each stage declares)."""

    def model(folder):
        write(folder / "config.json")
        write(folder / "model.safetensors", "weights")

    def make(stage, body):
        def run(run: Run):
            calls.append(stage)
            body(run)
            return {"fake": stage}

        return run

    return {
        "base": make("base", lambda run: model(run.dir("base"))),
        "data": make(
            "data",
            lambda run: (
                write(run.curated_path, ""),
                write(run.curated_path.with_name("instructions.jsonl.report.json")),
            ),
        ),
        "train": make(
            "train",
            lambda run: (
                write(run.dir("train") / "adapter_model.safetensors", "lora"),
                write(run.dir("train") / "train_summary.json"),
            ),
        ),
        "merge": make("merge", lambda run: model(run.dir("merge"))),
        "eval": make(
            "eval",
            lambda run: (
                write(run.dir("eval") / "results.json"),
                write(run.dir("eval") / "cells" / "m" / "kobest_copa_0shot.json"),
            ),
        ),
        "report": make(
            "report", lambda run: [write(run.dir("report") / name) for name in ("results.json", "card.md", "card.html")]
        ),
    }


@pytest.fixture
def pipeline(tmp_path, monkeypatch):
    calls: list[str] = []
    for stage, function in fake_stages(calls).items():
        monkeypatch.setitem(stages.STAGE_FUNCTIONS, stage, function)
    run_dir = tmp_path / "run"
    config = validate_config(RECIPE, "recipe.yaml")
    logs: list[str] = []

    def run(**kwargs):
        calls.clear()
        logs.clear()
        state = run_pipeline(config, run_dir, progress=False, log=logs.append, **kwargs)
        return {name: info["status"] for name, info in state["stages"].items()}

    run()
    assert calls == list(STAGES)
    return run, run_dir, calls, logs


def test_a_complete_run_is_skipped_entirely(pipeline):
    run, run_dir, calls, _ = pipeline
    assert set(run().values()) == {"skipped (complete)"}
    assert calls == []


# each stage's key outputs, as the reviewer's list names them
DELETIONS = [
    ("base", "base/config.json"),
    ("base", "base/model.safetensors"),
    ("data", "data/instructions.jsonl"),
    ("data", "data/instructions.jsonl.report.json"),
    ("train", "adapter/adapter_model.safetensors"),
    ("train", "adapter/train_summary.json"),
    ("merge", "merged"),
    ("merge", "merged/config.json"),
    ("merge", "merged/model.safetensors"),
    ("eval", "eval/results.json"),
    ("eval", "eval"),
    ("report", "report/card.md"),
    ("report", "report"),
]


@pytest.mark.parametrize("stage,deleted", DELETIONS)
def test_deleted_output_reruns_its_stage_and_every_later_one(pipeline, stage, deleted):
    run, run_dir, calls, logs = pipeline
    target = run_dir / deleted
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    status = run()
    later = STAGES[STAGES.index(stage) :]
    assert calls == list(later)
    assert status == {s: "done" if s in later else "skipped (complete)" for s in STAGES}
    assert any(f"] {stage}: marked complete but" in line and "missing, recomputing" in line for line in logs), logs
    assert set(run().values()) == {"skipped (complete)"}  # and now it is complete again


def test_rm_merged_then_eval_finds_a_merged_model(pipeline):
    """The reviewer's case: `rm -rf RUN/merged` once said "merge: already complete" and eval failed."""
    run, run_dir, calls, logs = pipeline
    shutil.rmtree(run_dir / "merged")
    stages.STAGE_FUNCTIONS["eval"] = lambda run: (calls.append("eval"), _needs_merged(run))[1]
    status = run()
    assert status["merge"] == "done" and status["eval"] == "done"
    assert calls == ["merge", "eval", "report"]
    assert any("merged/model weights" in line or "merged/config.json" in line for line in logs)


def _needs_merged(run: Run) -> dict:
    assert (run.dir("merge") / "config.json").is_file(), "eval ran without a merged model"
    write(run.dir("eval") / "results.json")
    return {}


def test_sharded_weights_count_only_when_every_shard_is_there(pipeline):
    run, run_dir, calls, _ = pipeline
    merged = run_dir / "merged"
    (merged / "model.safetensors").unlink()
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    write(merged / "model.safetensors.index.json", json.dumps(index))
    write(merged / "model-00001-of-00002.safetensors", "x")
    write(merged / "model-00002-of-00002.safetensors", "x")
    assert Run(config=validate_config(RECIPE), run_dir=run_dir).missing_outputs("merge") == []
    assert run()["merge"] == "skipped (complete)"
    (merged / "model-00002-of-00002.safetensors").unlink()
    assert run()["merge"] == "done"


def test_a_rerun_upstream_stage_clears_downstream_outputs(pipeline):
    """Outputs made from the old upstream outputs are never resumed from (eval cells included)."""
    run, run_dir, calls, _ = pipeline
    (run_dir / "adapter" / "train_summary.json").unlink()
    stale_cell = run_dir / "eval" / "cells" / "m" / "kobest_copa_0shot.json"
    write(stale_cell, '{"stale": true}')
    run()
    assert calls == ["train", "merge", "eval", "report"]
    assert json.loads(stale_cell.read_text()) == {}  # rewritten by the new eval, not kept


def test_report_outputs_follow_its_formats(tmp_path):
    config = validate_config({**RECIPE, "report": {"formats": ["md"]}})
    run = Run(config=config, run_dir=tmp_path)
    assert [p.name for p in run.key_outputs("report")] == ["results.json", "card.md"]


def test_real_base_stage_outputs_are_checked(tmp_path, capsys):
    """The real base stage writes what it declares; deleting its weights rebuilds it."""
    run_dir = tmp_path / "run"
    args = [
        "run",
        "tiny-cpu",
        "--run-dir",
        str(run_dir),
        "--until",
        "base",
        "--no-progress",
        "--set",
        "base.tiny.pretrain.steps=2",
        "--set",
        "base.tiny.vocab_size=400",
        "--set",
        "base.tiny.layers=1",
        "--set",
        "base.tiny.hidden_size=32",
    ]
    assert main(args) == 0
    assert main(args) == 0
    assert "[1/6] base: already complete" in capsys.readouterr().err
    (run_dir / "base" / "model.safetensors").unlink()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "base: marked complete but base/model weights (model.safetensors or shards) missing, recomputing" in err
    assert (run_dir / "base" / "model.safetensors").is_file()


def test_the_report_section_takes_report_flags_and_the_stage_passes_them(tmp_path, monkeypatch, capsys):
    """Published baselines and the Hub files, set in the recipe's report section, reach
    write_report as `polyplatypus report --published ... --card-model ...` would pass them."""
    from polyplatypus.report import card

    section = {
        "published": ["ref=published/results.json"],
        "card_model": "tuned",
        "license": "apache-2.0",
        "tags": ["korean"],
        "seed": 3,
        "formats": ["md"],
    }
    config = validate_config({**RECIPE, "report": section})
    got = {}
    monkeypatch.setattr(
        card, "write_report", lambda paths, output, **options: got.update(paths=paths, output=output, **options) or {}
    )
    stages.stage_report(Run(config=config, run_dir=tmp_path))
    assert [str(p) for p in got["paths"]] == [str(tmp_path / "eval")] and str(got["output"]) == str(tmp_path / "report")
    assert (got["published"], got["seed"], got["formats"]) == (["ref=published/results.json"], 3, ("md",))
    assert (got["hub"].card_model, got["hub"].license, got["hub"].tags) == ("tuned", "apache-2.0", ["korean"])
    assert got["title"] == f"{config.name}: KoBEST results" and got["baseline"] == config.base_label()
    got["warn"]("base copa 0-shot: samples file unreadable")  # a damaged cell is said, as `report` says it
    assert "polyplatypus run: report: warning: base copa 0-shot: samples file unreadable" in capsys.readouterr().err
    for owned in ("results", "output", "intro"):  # the run fills these in
        with pytest.raises(Exception, match=f"report.{owned}: set by the pipeline"):
            validate_config({**RECIPE, "report": {owned: "x"}})
    with pytest.raises(Exception, match="model_dir needs card_model"):
        validate_config({**RECIPE, "report": {"model_dir": "m"}})
