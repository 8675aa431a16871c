"""End to end: ``polyplatypus demo`` (the tiny-cpu recipe with its full pre-training, shorter
fine-tuning and evaluation), interrupted after the training stage and re-run, then every stage's
outputs checked."""

import json
import os
import re
import struct
from pathlib import Path

import pytest
import yaml

from polyplatypus.cli import main
from polyplatypus.errors import ConfigError, DataError
from polyplatypus.eval.tables import task_title
from polyplatypus.pipeline import stages
from polyplatypus.pipeline.config import load_config
from polyplatypus.pipeline.demo import DEMO_CONFIG, OFFLINE_ENV
from polyplatypus.pipeline.stages import run_pipeline
from polyplatypus.report.card import read_card_tables
from polyplatypus.tasks.registry import all_task_names

TASK_TITLES = {name: task_title(name) for name in all_task_names()}  # each task's heading in the card

# The base stage runs as in the demo (about 45 s on two cores), so that the scores of the base
# model can be checked; the later stages are cut down.
SMALL = [
    "train.max_steps=30",
    "train.learning_rate=0.004",
    "train.warmup_steps=3",
    "train.logging_steps=5",
    "train.save_steps=10",
    "eval.shots=[0, 5]",
    "eval.limit=10",
    "report.resamples=200",
]
TASKS = ["kobest_copa", "kobest_hellaswag", "kobest_boolq", "kobest_sentineg", "kobest_wic"]


def demo_args(run_dir: Path) -> list[str]:
    args = ["demo", "--run-dir", str(run_dir), "--no-progress"]
    for override in SMALL:
        args += ["--set", override]
    return args


def state_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "pipeline.json").read_text())


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Run the demo, interrupt it during the merge stage (right after training), then re-run it."""
    run_dir = tmp_path_factory.mktemp("demo") / "run"
    before = {key: os.environ.get(key) for key in OFFLINE_ENV}

    def interrupted(run):
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(stages.STAGE_FUNCTIONS, "merge", interrupted)
        first_code = main(demo_args(run_dir))
    first_state = state_of(run_dir)
    train_marker = (run_dir / "stages" / "train.json").read_text()
    adapter_mtime = (run_dir / "adapter" / "adapter_model.safetensors").stat().st_mtime_ns
    base_mtime = (run_dir / "base" / "model.safetensors").stat().st_mtime_ns
    after_interrupt = {
        "code": first_code,
        "state": first_state,
        "merge_marker": (run_dir / "stages" / "merge.json").exists(),
        "merged_dir": (run_dir / "merged").exists(),
    }
    second_code = main(demo_args(run_dir))
    return {
        "run_dir": run_dir,
        "interrupted": after_interrupt,
        "code": second_code,
        "state": state_of(run_dir),
        "train_marker": train_marker,
        "adapter_mtime": adapter_mtime,
        "base_mtime": base_mtime,
        "env_before": before,
    }


def test_interrupted_after_training_then_resumed_without_retraining(demo):
    run_dir = demo["run_dir"]
    first = demo["interrupted"]
    assert first["code"] == 130  # the CLI's answer to Ctrl-C
    assert [first["state"]["stages"][s]["status"] for s in ("base", "data", "train")] == ["done"] * 3
    assert first["state"]["stages"]["merge"]["status"] == "interrupted"
    assert not first["merge_marker"] and not first["merged_dir"]

    assert demo["code"] == 0
    status = {name: info["status"] for name, info in demo["state"]["stages"].items()}
    assert status == {
        "base": "skipped (complete)",
        "data": "skipped (complete)",
        "train": "skipped (complete)",
        "merge": "done",
        "eval": "done",
        "report": "done",
    }
    # training was not redone: same marker, same adapter file
    assert (run_dir / "stages" / "train.json").read_text() == demo["train_marker"]
    assert (run_dir / "adapter" / "adapter_model.safetensors").stat().st_mtime_ns == demo["adapter_mtime"]
    assert (run_dir / "base" / "model.safetensors").stat().st_mtime_ns == demo["base_mtime"]
    assert {k: os.environ.get(k) for k in OFFLINE_ENV} == demo["env_before"]  # offline mode was scoped


def test_base_stage_built_and_pretrained_a_tiny_polyglot_model(demo):
    base = demo["run_dir"] / "base"
    config = json.loads((base / "config.json").read_text())
    assert config["model_type"] == "gpt_neox" and config["use_parallel_residual"] is True
    assert (base / "tokenizer.json").is_file()
    summary = json.loads((base / "pretrain_summary.json").read_text())
    assert summary["steps"] == load_config(DEMO_CONFIG).base.tiny.pretrain.steps
    assert summary["final_loss"] < summary["initial_loss"] - 1.0
    assert summary["holdout_loss_after"] < summary["holdout_loss_before"]


def test_pretrained_base_model_scores_above_chance_on_sentineg(demo):
    """The point of the pre-training: the demo's base model tells (긍정) from (부정) on the
    bundled sample's SentiNeg test split (30 negated reviews, 0-shot), where a model that always
    gives one answer scores 0.33-0.5 macro-F1. Training is seeded and runs on the CPU, so the
    score is reproducible; the margin covers the small differences other thread counts give."""
    from polyplatypus.eval.runner import score_cell
    from polyplatypus.models.loading import load_model
    from polyplatypus.pipeline.config import resolve_builtin
    from polyplatypus.tasks.registry import get_task

    model, tokenizer = load_model(str(demo["run_dir"] / "base"), dtype="float32", device="cpu")
    metrics, _ = score_cell(
        model, tokenizer, get_task("kobest_sentineg"), 0, kobest_dir=resolve_builtin("builtin:kobest_sample")
    )
    assert metrics["n"] == 30
    assert len(set(metrics["preds"])) == 2
    assert metrics["macro_f1"] > 0.6


def test_data_stage_curated_the_bundled_sample(demo):
    data = demo["run_dir"] / "data"
    records = [json.loads(line) for line in (data / "instructions.jsonl").read_text().splitlines()]
    report = json.loads((data / "instructions.jsonl.report.json").read_text())
    assert len(records) == report["totals"]["records_out"] > 200
    assert {"instruction", "input", "output"} <= set(records[0])


def test_train_stage_wrote_an_adapter_and_the_loss_fell(demo):
    adapter = demo["run_dir"] / "adapter"
    assert (adapter / "adapter_config.json").is_file() and (adapter / "adapter_model.safetensors").is_file()
    summary = json.loads((adapter / "train_summary.json").read_text())
    assert summary["steps"] == 30
    # mean loss of the last 5 steps against the first 5
    assert summary["final_loss"] < summary["initial_loss"] - 0.05
    assert demo["state"]["stages"]["train"]["final_loss"] == summary["final_loss"]


def test_merge_stage_wrote_a_standalone_model(demo):
    merged = demo["run_dir"] / "merged"
    assert json.loads((merged / "config.json").read_text())["model_type"] == "gpt_neox"
    assert (merged / "model.safetensors").is_file() and (merged / "tokenizer.json").is_file()
    assert json.loads((merged / "polyplatypus.json").read_text())["prompt_template"] == "alpaca"


def test_eval_stage_scored_base_and_tuned_models(demo):
    run_dir = demo["run_dir"]
    results = json.loads((run_dir / "eval" / "results.json").read_text())["results"]
    cells = {(r["model"], r["task"], r["shots"]) for r in results}
    assert cells == {(m, t, k) for m in ("tiny-polyglot-ko", "tiny-platypus-ko") for t in TASKS for k in (0, 5)}
    assert all(r["n"] == 10 and 0.0 <= r["macro_f1"] <= 1.0 for r in results)
    paths = {r["model"]: r["model_path"] for r in results}
    assert paths == {
        "tiny-polyglot-ko": str((run_dir / "base").resolve()),
        "tiny-platypus-ko": str((run_dir / "merged").resolve()),
    }
    assert all(r["data_source"].endswith("kobest_sample") for r in results)
    assert len(list((run_dir / "eval" / "cells").glob("*/*.json"))) == 20


def test_report_stage_wrote_card_html_and_plots(demo):
    report = demo["run_dir"] / "report"
    card = (report / "card.md").read_text()
    assert card.startswith("# tiny-platypus-ko: KoBEST results")
    assert "Fine-tuning: LoRA (r 8, alpha 16" in card and "training loss" in card
    assert "| tiny-polyglot-ko (baseline)[^1] |" in card
    tables = read_card_tables(card)
    results = json.loads((demo["run_dir"] / "eval" / "results.json").read_text())["results"]
    for record in results:
        cell = tables[TASK_TITLES[record["task"]]][record["model"]][record["shots"]]
        assert cell["f1"] == round(record["macro_f1"], 4) and cell["ci"] is not None
    assert "<table>" in (report / "card.html").read_text()
    pngs = sorted(report.glob("plots/*.png"))
    assert len(pngs) == 6
    for png in pngs:
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", data[16:24])
        assert 300 <= width <= 3000 and 200 <= height <= 3000


def test_hub_files_from_the_run_records(demo, tmp_path, capsys):
    """report --card-model on a run directory: base model and data come from the run's records
    (merged model -> adapter -> curated data's report). The demo's are local folders, not Hub
    ids, so they are left out with a note rather than invented; the tuned model's results are
    in .eval_results/ and README.md."""
    from huggingface_hub import ModelCard

    run_dir, out = demo["run_dir"], tmp_path / "hub"
    assert (
        main(
            [
                "report",
                str(run_dir),
                "--output",
                str(out),
                "--format",
                "md",
                "--resamples",
                "20",
                "--card-model",
                "tiny-platypus-ko",
            ]
        )
        == 0
    )
    notes = json.loads((out / "results.json").read_text())["report"]["hub_notes"]
    assert any(n.startswith("base_model") and str((run_dir / "base").resolve()) in n for n in notes)
    assert any(n.startswith("dataset") and "instruction" in n for n in notes)
    data = ModelCard.load(out / "README.md").data
    assert data.base_model is None and data.datasets is None and data.language == "ko"
    assert len(data.eval_results) == 5 * 2 * 2 + 2  # tasks x shots x (F1, acc) + HellaSwag acc_norm
    assert len(list((out / ".eval_results").glob("*.yaml"))) == 5
    assert "not a Hub id" in capsys.readouterr().out


def test_resolved_config_saved_beside_the_outputs(demo):
    run_dir = demo["run_dir"]
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    expected = load_config(DEMO_CONFIG, SMALL).resolved()
    assert saved == expected
    assert saved["train"]["max_steps"] == 30 and saved["train"]["learning_rate"] == 0.004
    assert saved["train"]["lora_r"] == 8 and saved["base"]["tiny"]["arch"] == "gpt_neox"
    for stage in stages.STAGES:
        marker = json.loads((run_dir / "stages" / f"{stage}.json").read_text())
        assert marker["stage"] == stage and marker["fingerprint"]


def test_rerunning_skips_every_stage_and_refuses_changed_training(demo):
    run_dir = demo["run_dir"]
    config = load_config(DEMO_CONFIG, SMALL)
    state = run_pipeline(config, run_dir, progress=False, log=lambda message: None)
    assert {info["status"] for info in state["stages"].values()} == {"skipped (complete)"}

    changed = load_config(DEMO_CONFIG, SMALL + ["train.lora_r=4"])
    with pytest.raises(
        ConfigError, match=r"its train stage was made with other settings \(changed: train\.lora_r\).*--redo train"
    ):
        run_pipeline(changed, run_dir, progress=False, log=lambda message: None)

    # a report setting only recomputes the report; fewer shots reuse the finished eval cells
    fewer = load_config(DEMO_CONFIG, SMALL + ["eval.shots=[0]", "report.resamples=100"])
    zero_shot_cells = {
        p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (run_dir / "eval" / "cells").rglob("*_0shot.json")
    }
    state = run_pipeline(fewer, run_dir, progress=False, log=lambda message: None)
    status = {name: info["status"] for name, info in state["stages"].items()}
    assert status["train"] == status["merge"] == "skipped (complete)"
    assert status["eval"] == status["report"] == "done"
    assert len(zero_shot_cells) == 2 * len(TASKS)  # base and tuned
    # no model was scored again: a recomputed cell would be a new file with a new date
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in zero_shot_cells} == zero_shot_cells
    assert set(read_card_tables((run_dir / "report" / "card.md").read_text())["COPA"]["tiny-platypus-ko"]) == {0}


def test_run_command_until_a_stage(tmp_path):
    run_dir = tmp_path / "run"
    code = main(
        [
            "run",
            "tiny-cpu",
            "--run-dir",
            str(run_dir),
            "--until",
            "base",
            "--no-progress",
            "--set",
            "base.tiny.pretrain.steps=3",
            "--set",
            "base.tiny.vocab_size=400",
        ]
    )
    assert code == 0
    status = {name: info["status"] for name, info in state_of(run_dir)["stages"].items()}
    assert status == {"base": "done"}
    assert (run_dir / "base" / "config.json").is_file() and not (run_dir / "adapter").exists()


def test_run_command_reports_config_errors_without_traceback(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nbase:\n  model: a\neval:\n  shots: [zero]\n")
    assert main(["run", str(path), "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert f"{path}, line 5: eval.shots.0: Input should be a valid integer" in err
    assert "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_missing_data_file_named_with_its_recipe_line_before_the_run_dir(tmp_path, capsys, tiny_gptneox_dir):
    path = tmp_path / "recipe.yaml"
    present = tmp_path / "present.jsonl"
    present.write_text('{"instruction": "a", "output": "b"}\n')
    path.write_text(
        f"name: x\nbase:\n  model: {tiny_gptneox_dir}\ndata:\n  sources:\n    - {present}\n"
        f"    - {tmp_path / 'missing.jsonl'}\ntrain:\n  max_steps: 1\n"
    )
    assert main(["run", str(path), "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert f"{path}, line 7 (data.sources[1]): data file {tmp_path / 'missing.jsonl'} does not exist" in err
    assert "Traceback" not in err and not (tmp_path / "r").exists()

    path.write_text(f"name: x\nbase:\n  model: {tmp_path / 'no-model'}\neval:\n  shots: [0]\n")
    assert main(["run", str(path), "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert f"{path}, line 3 (base.model): model path does not exist" in err and not (tmp_path / "r").exists()


def _conversation_recipe(tmp_path: Path, base: Path, train: str = "  max_steps: 1\n") -> tuple[Path, Path]:
    """A recipe whose data holds an instruction record, a blank line, then a conversation."""
    data = tmp_path / "chats.jsonl"
    data.write_text(
        '{"instruction": "한국의 수도는?", "output": "서울입니다."}\n\n'
        '{"messages": [{"role": "user", "content": "안녕"}, {"role": "assistant", "content": "안녕하세요"}]}\n',
        encoding="utf-8",
    )
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"name: conv\nbase:\n  model: {base}\ndata:\n  sources: [{data}]\n  decontaminate: []\n"
        f"train:\n{train}eval:\n  enabled: false\n",
        encoding="utf-8",
    )
    return recipe, data


def test_conversations_refused_before_any_work_when_train_is_not_chat(tmp_path, capsys, tiny_gptneox_dir):
    """Curation keeps conversations, but a train stage without the chat template cannot read them:
    the recipe names the user's file, record, line and field and the key to change before the run
    directory is made (data.skip_invalid does not drop them), not the curated file during train."""
    recipe, data = _conversation_recipe(tmp_path, tiny_gptneox_dir)
    run_dir = tmp_path / "run"
    for extra in ([], ["--set", "data.skip_invalid=true"]):
        assert main(["run", str(recipe), "--run-dir", str(run_dir), "--no-progress", *extra]) == 2
        err = capsys.readouterr().err
        assert f"{data}, record 2, field 'messages' (line 3): a conversation record" in err
        assert f"train.prompt_template is 'alpaca', the default ({recipe}, line 7 (train)); " in err
        assert "set train.prompt_template: chat to train on conversations" in err and "(nothing was run)" in err
        assert "Traceback" not in err and "instructions.jsonl" not in err and not run_dir.exists()

    recipe, data = _conversation_recipe(tmp_path, tiny_gptneox_dir, "  max_steps: 1\n  prompt_template: vicuna\n")
    assert main(["run", str(recipe), "--run-dir", str(run_dir), "--no-progress"]) == 2
    assert f"is 'vicuna' ({recipe}, line 9 (train.prompt_template))" in capsys.readouterr().err


def test_conversations_pass_where_the_train_stage_skips_them_or_does_not_run(tmp_path, capsys, tiny_gptneox_dir):
    """train.skip_invalid: the train stage skips conversation records, as `train --skip-invalid` does
    (a recipe that ran so before is not refused now); --until data: no train stage runs."""
    recipe, data = _conversation_recipe(tmp_path, tiny_gptneox_dir)
    assert main(["run", str(recipe), "--run-dir", str(tmp_path / "run"), "--no-progress", "--until", "data"]) == 0
    assert (tmp_path / "run" / "data" / "instructions.jsonl").is_file()
    skipping = ["--set", "train.skip_invalid=true", "--until", "train"]
    assert main(["run", str(recipe), "--run-dir", str(tmp_path / "skip"), "--no-progress", *skipping]) == 0
    assert (tmp_path / "skip" / "adapter").is_dir()
    capsys.readouterr()


def test_data_stage_refuses_conversations_before_curating(tmp_path, tiny_gptneox_dir):
    """Without the recipe's check (a hub source, or the API): the data stage refuses at its start
    and writes nothing."""
    recipe, data = _conversation_recipe(tmp_path, tiny_gptneox_dir)
    run_dir = tmp_path / "run"
    where = re.escape(f"{data}, record 2, field 'messages' (line 3): ")
    refused = rf"^{where}.*set train\.prompt_template: chat .*\(the data stage wrote nothing\)$"
    with pytest.raises(DataError, match=refused):
        run_pipeline(load_config(recipe), run_dir, source=str(recipe), progress=False, log=lambda m: None)
    assert state_of(run_dir)["stages"]["data"]["status"] == "failed"
    assert not (run_dir / "data" / "instructions.jsonl").exists() and not (run_dir / "adapter").exists()


def test_train_stage_refuses_conversations_curated_by_an_earlier_until_data_run(tmp_path, tiny_gptneox_dir):
    """A data stage completed by `--until data` (where conversations pass) is skipped later: the
    train stage refuses them itself, naming the user's source, not the curated file."""
    recipe, data = _conversation_recipe(tmp_path, tiny_gptneox_dir)
    run_dir = tmp_path / "run"
    quiet = dict(source=str(recipe), progress=False, log=lambda m: None)
    run_pipeline(load_config(recipe), run_dir, until="data", **quiet)
    where = re.escape(f"{data}, record 2, field 'messages' (line 3): ")
    with pytest.raises(
        DataError, match=rf"^{where}.*set train\.prompt_template: chat .*\(the train stage did not start\)$"
    ):
        run_pipeline(load_config(recipe), run_dir, **quiet)
    assert not (run_dir / "adapter" / "adapter_config.json").exists()


def test_chat_recipe_curates_conversations(tmp_path, tiny_gptneox_dir):
    recipe, data = _conversation_recipe(tmp_path, tiny_gptneox_dir, "  max_steps: 1\n  prompt_template: chat\n")
    run_dir = tmp_path / "run"
    assert main(["run", str(recipe), "--run-dir", str(run_dir), "--no-progress", "--until", "data"]) == 0
    curated = [json.loads(line) for line in (run_dir / "data" / "instructions.jsonl").read_text().splitlines()]
    assert [sorted(r) for r in curated] == [["input", "instruction", "origin", "output"], ["messages", "origin"]]
    assert curated[1]["messages"][1] == {"role": "assistant", "content": "안녕하세요"}
