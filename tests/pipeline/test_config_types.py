"""Recipe files: wrong types are errors (no silent conversion) and --set values are blamed on --set."""

from pathlib import Path

import pytest

from polyplatypus.cli import main
from polyplatypus.errors import ConfigError
from polyplatypus.pipeline.config import load_config

RECIPE = """\
name: mini
base:
  model: org/model
data:
  sources: [data.jsonl]
train:
  learning_rate: 0.001
eval:
  shots: [0, 5]
"""


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "setting,key,message",
    [
        ("  batch_size: true", "train.batch_size", "valid integer"),
        ('  train_on_inputs: "yes"', "train.train_on_inputs", "valid boolean"),
        ('  lora_r: "16"', "train.lora_r", "valid integer"),
        ("  num_epochs: 1.5", "train.num_epochs", "valid integer"),
        ("  warmup_steps: 10.0", "train.warmup_steps", "valid integer"),
        ("  weight_decay: yes", "train.weight_decay", "valid number"),  # YAML 1.1: yes is true
        ("  learning_rate: fast", "train.learning_rate", "valid number"),
    ],
)
def test_wrong_types_in_train_are_rejected_naming_the_file_and_key(tmp_path, setting, key, message):
    path = write(tmp_path, RECIPE.replace("  learning_rate: 0.001", setting))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    text = str(error.value)
    assert f"{path}, line 7: {key}: " in text and message in text, text


@pytest.mark.parametrize(
    "old,new,key,message",
    [
        (
            "sources: [data.jsonl]",
            "sources: [data.jsonl]\n  dedup_threshold: high",
            "data.dedup_threshold",
            "valid number",
        ),
        ("sources: [data.jsonl]", "sources: [data.jsonl]\n  skip_invalid: 1", "data.skip_invalid", "valid boolean"),
        ("shots: [0, 5]", 'shots: [0, "5"]', "eval.shots.1", "valid integer"),
        ("shots: [0, 5]", 'shots: [0, 5]\n  limit: "20"', "eval.limit", "valid integer"),
        ("shots: [0, 5]", 'shots: [0, 5]\nmerge:\n  enabled: "false"', "merge.enabled", "valid boolean"),
        ("shots: [0, 5]", "shots: [0, 5]\nreport:\n  resamples: true", "report.resamples", "valid integer"),
        ("name: mini", 'name: mini\nseed: "7"', "seed", "valid integer"),
        ("model: org/model", "tiny:\n    layers: 2.0", "base.tiny.layers", "valid integer"),
    ],
)
def test_wrong_types_elsewhere_are_rejected_naming_the_file_and_key(tmp_path, old, new, key, message):
    path = write(tmp_path, RECIPE.replace(old, new))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    text = str(error.value)
    assert f"{path}, line " in text and f": {key}: " in text and message in text, text


def test_yaml_exponents_and_integers_are_fine_for_floats(tmp_path):
    # PyYAML reads 4e-4 (no dot) as the string '4e-4'; 1 for a float is 1.0
    path = write(
        tmp_path,
        RECIPE.replace("learning_rate: 0.001", "learning_rate: 4e-4\n  max_grad_norm: 1")
        + "report:\n  confidence: 9.5e-1\n",
    )
    config = load_config(path)
    assert config.train.learning_rate == 4e-4 and config.train_fields()["learning_rate"] == 4e-4
    assert config.train.max_grad_norm == 1.0 and config.report.confidence == 0.95
    assert load_config(path, ["train.learning_rate=2e-4"]).train.learning_rate == 2e-4


def test_a_bad_set_value_is_blamed_on_the_command_line_not_a_line_of_the_file(tmp_path):
    path = write(tmp_path, RECIPE)
    with pytest.raises(ConfigError) as error:
        load_config(path, ["train.lora_rr=3"])
    message = str(error.value)
    assert message.startswith("command line (--set train.lora_rr=3): unknown key 'train.lora_rr'"), message
    assert ", line " not in message and str(path) not in message
    with pytest.raises(ConfigError) as error:
        load_config(path, ["eval.limit=x", "train.lora_r=16"])
    message = str(error.value)
    assert "command line (--set eval.limit=x): eval.limit: Input should be a valid integer (got 'x')" in message
    assert "lora_r" not in message
    # a mistake in the file beside a good --set still names the file and line
    bad = write(tmp_path, RECIPE.replace("learning_rate: 0.001", 'learning_rate: 0.001\n  lora_r: "8"'))
    with pytest.raises(ConfigError, match=r"recipe.yaml, line 8: train.lora_r: Input should be a valid integer"):
        load_config(bad, ["eval.limit=2"])


def test_run_command_names_the_set_option(tmp_path, capsys):
    path = write(tmp_path, RECIPE)
    assert main(["run", str(path), "--run-dir", str(tmp_path / "r"), "--set", "train.lora_rr=3"]) == 2
    err = capsys.readouterr().err
    assert "command line (--set train.lora_rr=3): unknown key 'train.lora_rr'" in err
    assert ", line " not in err and not (tmp_path / "r").exists()
