"""End-to-end training on tiny models (CPU): loss, outputs, resume, refusal to clobber, bad data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from polyplatypus.errors import ConfigError, DataError
from polyplatypus.train import train

SUMMARY_KEYS = {"steps", "examples", "tokens", "initial_loss", "final_loss", "wall_time_s", "peak_memory_bytes"}


def test_training_lowers_the_loss_gpt_neox(small_run):
    config = small_run(num_epochs=4, logging_steps=3, lora_layers="all")
    summary = train(config)
    assert summary["steps"] == 24 and summary["examples"] == 96  # 24 examples / batch 4, 4 epochs
    assert summary["final_loss"] < summary["initial_loss"] - 0.1
    out = Path(config.output)
    on_disk = json.loads((out / "train_summary.json").read_text(encoding="utf-8"))
    assert SUMMARY_KEYS <= set(on_disk) and on_disk["steps"] == 24
    assert on_disk["tokens"] > 0 and on_disk["peak_memory_bytes"] > 0 and on_disk["wall_time_s"] > 0
    assert on_disk["lora_target_modules"] == ["dense", "dense_4h_to_h", "dense_h_to_4h", "query_key_value"]
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "train_config.yaml"):
        assert (out / name).is_file(), name
    adapter = json.loads((out / "adapter_config.json").read_text(encoding="utf-8"))
    assert adapter["r"] == 16 and adapter["lora_alpha"] == 16
    weights = load_file(out / "adapter_model.safetensors")
    assert weights and all("lora_" in k for k in weights)
    assert any(w.abs().max() > 0 for k, w in weights.items() if "lora_B" in k)
    assert not list(out.rglob("events.out.tfevents*"))  # report_to=[]


def test_training_lowers_the_loss_llama_with_validation(small_run, tiny_llama_dir):
    config = small_run(
        base=str(tiny_llama_dir), num_epochs=4, val_set_size=4, logging_steps=5, report_to=["tensorboard"]
    )
    summary = train(config)
    assert summary["train_examples"] == 20 and summary["val_examples"] == 4
    assert summary["steps"] == 20 and summary["final_loss"] < summary["initial_loss"] - 0.05
    assert summary["eval_loss"] < summary["initial_loss"]  # held-out examples improve too
    assert summary["lora_target_modules"] == ["down_proj", "gate_proj", "up_proj"]
    assert list((Path(config.output) / "logs").rglob("events.out.tfevents*"))


class Interrupted(Exception):
    pass


def test_resume_reaches_the_same_adapter_as_an_uninterrupted_run(small_run):
    settings = dict(micro_batch_size=2, num_epochs=2, warmup_steps=2, save_steps=4, save_total_limit=1)
    full = train(small_run("full", **settings))

    def interrupt(info):
        if info["step"] == 7:
            raise Interrupted

    with pytest.raises(Interrupted):
        train(small_run("cut", **settings), on_step=interrupt)
    checkpoints = sorted(p.name for p in (Path(small_run("cut").output) / "checkpoints").iterdir())
    assert checkpoints == ["checkpoint-4"]  # save_total_limit 1
    with pytest.raises(ConfigError, match="--resume"):
        train(small_run("cut", **settings))
    with pytest.raises(ConfigError, match="learning_rate"):
        train(small_run("cut", **{**settings, "learning_rate": 2e-2}, resume=True))
    resumed = train(small_run("cut", **settings, resume=True))

    assert resumed["resumed_from_step"] == 4
    for key in ("steps", "examples", "tokens", "initial_loss", "final_loss"):
        assert resumed[key] == full[key], key
    a = load_file(f"{small_run('full').output}/adapter_model.safetensors")
    b = load_file(f"{small_run('cut').output}/adapter_model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key  # bit for bit

    # a finished run is never overwritten, and resuming it again has nothing left to do
    with pytest.raises(ConfigError, match="already holds a training run"):
        train(small_run("full", **settings))
    assert train(small_run("cut", **settings, resume=True)) == json.loads(
        (Path(small_run("cut").output) / "train_summary.json").read_text(encoding="utf-8")
    )


BAD = {
    "missing_output.jsonl": (
        '{"instruction": "a", "output": "b"}\n{"instruction": "질문", "input": ""}\n',
        ["record 2", "'output'"],
    ),
    "missing_instruction.jsonl": ('{"input": "x", "output": "b"}\n', ["record 1", "'instruction'"]),
    "wrong_type.json": (
        '[{"instruction": "a", "output": "b"}, {"instruction": "c", "output": 3}]',
        ["record 2", "'output'"],
    ),
    "empty.jsonl": ("", ["empty"]),
    "broken.jsonl": ('{"instruction": "a", "output": "b"}\n{"instruction": "a", "output": \n', ["record 2", "JSON"]),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_data_is_reported_before_any_training(small_run, tmp_path, name):
    text, expected = BAD[name]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    config = small_run(data=str(path))
    with pytest.raises(DataError) as error:
        train(config)
    message = str(error.value)
    assert str(path) in message
    for part in expected:
        assert part in message
    assert not Path(config.output).exists()  # nothing trained, nothing written


def test_cli_train_with_a_config_file_and_flags(tmp_path, tiny_gptneox_dir, ko_data, capsys):
    from polyplatypus.cli import main

    config = tmp_path / "run.yaml"
    output = tmp_path / "out"
    config.write_text(
        f"base: {tiny_gptneox_dir}\ndata: {ko_data}\noutput: {output}\nbatch_size: 4\n"
        "cutoff_len: 96\nmax_steps: 5\nreport_to: []\nprompt_template: korean\npacking: true\n",
        encoding="utf-8",
    )
    assert (
        main(
            [
                "train",
                "--config",
                str(config),
                "--max-steps",
                "2",
                "--lora-r",
                "4",
                "--group-by-length",
                "--micro-batch-size",
                "2",
            ]
        )
        == 0
    )
    saved = (output / "train_config.yaml").read_text(encoding="utf-8")
    for line in (
        "max_steps: 2",
        "lora_r: 4",
        "cutoff_len: 96",
        "packing: true",
        "group_by_length: true",
        "micro_batch_size: 2",
    ):
        assert line in saved
    summary = json.loads((output / "train_summary.json").read_text(encoding="utf-8"))
    assert summary["steps"] == 2 and summary["cutoff_len"] == 96
    assert json.loads((output / "adapter_config.json").read_text(encoding="utf-8"))["r"] == 4

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "질문"}\n', encoding="utf-8")
    capsys.readouterr()
    assert main(["train", "--config", str(config), "--data", str(bad), "--output", str(tmp_path / "o2")]) == 2
    assert f"{bad}, record 1, field 'output'" in capsys.readouterr().err


def test_cutoff_is_capped_at_the_models_maximum_and_checkpointing_changes_nothing(small_run):
    common = dict(max_steps=2, lora_dropout=0.0, cutoff_len=100_000)
    plain = train(small_run("plain", **common))
    assert plain["cutoff_len"] == 384  # the fixture's max_position_embeddings
    checkpointed = train(small_run("gc", gradient_checkpointing=True, **common))
    a = load_file(Path(small_run("plain").output) / "adapter_model.safetensors")
    b = load_file(Path(small_run("gc").output) / "adapter_model.safetensors")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-6)
    assert abs(plain["final_loss"] - checkpointed["final_loss"]) < 1e-6


def test_resume_without_a_checkpoint_starts_fresh(small_run):
    summary = train(small_run(max_steps=1, resume=True))
    assert summary["steps"] == 1 and summary["resumed_from_step"] is None
