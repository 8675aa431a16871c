import glob
from pathlib import Path

import pytest
import tomllib

from polyplatypus.errors import ConfigError
from polyplatypus.pipeline.config import (
    PACKAGE_CONFIGS_DIR,
    TrainSection,
    find_config,
    load_config,
    resolve_builtin,
    validate_config,
)
from polyplatypus.train import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [
    "tiny-cpu",
    "poly-platypus-ko-12.8b",
    "poly-platypus-ko-5.8b",
    "poly-platypus-ko-1.3b",
    "ko-platypus2-7b",
    "ax-4.0-light-chat",
]


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = """\
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


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_load_and_are_packaged(name):
    packaged = PACKAGE_CONFIGS_DIR / f"{name}.yaml"
    assert packaged.is_file()
    config = load_config(packaged)
    assert config.eval.models == ["base", "merged"]
    assert config.report.baseline == "base"
    # the train section turns into a valid TrainConfig once the pipeline fills in the paths
    TrainConfig(base="b", data="d.jsonl", output="o", **config.train_fields())


def test_package_data_ships_every_config_and_asset():
    """pyproject's package-data covers every file of the one configs tree and of the assets, so an
    installed package runs the shipped recipes and ``builtin:`` data as a checkout does."""
    package = PACKAGE_CONFIGS_DIR.parent
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
        "package-data"
    ]["polyplatypus"]
    shipped = {Path(p) for pattern in patterns for p in glob.glob(pattern, root_dir=package, recursive=True)}
    files = {
        p.relative_to(package)
        for folder in ("configs", "assets")
        for p in (package / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert Path("configs/train/accelerate_ddp.yaml") in files and Path("configs/tiny-cpu.yaml") in files
    assert not files - shipped


def test_the_model_card_recipe_uses_the_platypus_hyperparameters():
    config = load_config("poly-platypus-ko-12.8b")  # found by name
    assert config.base.model == "EleutherAI/polyglot-ko-12.8b"
    t = config.train_fields()
    assert (t["learning_rate"], t["batch_size"], t["micro_batch_size"], t["num_epochs"]) == (4e-4, 16, 1, 1)
    assert (t["lr_scheduler"], t["warmup_steps"], t["lora_r"], t["lora_alpha"], t["lora_dropout"]) == (
        "cosine",
        100,
        16,
        16,
        0.05,
    )
    assert (t["cutoff_len"], t["train_on_inputs"]) == (4096, False)
    assert config.eval.shots == [0, 5, 10, 50] and len(config.eval.tasks) == 5
    assert load_config("ko-platypus2-7b").base.model == "beomi/llama-2-ko-7b"


def test_unknown_key_names_the_key_path_the_file_and_the_line(tmp_path):
    path = write(tmp_path, MINIMAL.replace("  shots: [0, 5]", "  shots: [0, 5]\n  shot_counts: [1]"))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert str(path) in message and "line 10" in message and "unknown key 'eval.shot_counts'" in message
    assert "did you mean 'eval.shots'?" in message


def test_unknown_key_in_the_train_section_suggests_the_field(tmp_path):
    path = write(tmp_path, MINIMAL.replace("learning_rate: 0.001", "learning_rat: 0.001"))
    with pytest.raises(
        ConfigError, match=r"line 7: unknown key 'train.learning_rat' \(did you mean 'train.learning_rate'\?\)"
    ):
        load_config(path)


@pytest.mark.parametrize(
    "old,new,expected",
    [
        (
            "learning_rate: 0.001",
            "learning_rate: fast",
            r"line 7: train.learning_rate: Input should be a valid number.*'fast'",
        ),
        ("shots: [0, 5]", "shots: [0, five]", r"line 9: eval.shots.1: Input should be a valid integer.*'five'"),
        ("shots: [0, 5]", "shots: 5", r"eval.shots: Input should be a valid list"),
        ("model: org/model", "model: [1, 2]", r"line 3: base.model: Input should be a valid string"),
        ("sources: [data.jsonl]", "sources: []", r"data.sources: List should have at least 1 item"),
    ],
)
def test_wrong_type_names_the_key_and_the_file(tmp_path, old, new, expected):
    path = write(tmp_path, MINIMAL.replace(old, new))
    with pytest.raises(ConfigError, match=expected) as error:
        load_config(path)
    assert str(path) in str(error.value)


def test_several_errors_are_all_listed(tmp_path):
    path = write(
        tmp_path, MINIMAL.replace("learning_rate: 0.001", "learning_rate: x\n  lora_rr: 3") + "  batch_size: 0\n"
    )
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert "train.learning_rate" in message and "train.lora_rr" in message and "eval.batch_size" in message


def test_settings_the_pipeline_owns_are_rejected_in_train(tmp_path):
    path = write(tmp_path, MINIMAL.replace("learning_rate: 0.001", "learning_rate: 0.001\n  output: somewhere"))
    with pytest.raises(ConfigError, match=r"train.output: set by the pipeline \(from the run directory\)"):
        load_config(path)


def test_cross_section_checks(tmp_path):
    with pytest.raises(ConfigError, match="give exactly one of base.model or base.tiny"):
        validate_config({"name": "x", "base": {"model": "a", "tiny": {}}}, "x.yaml")
    with pytest.raises(ConfigError, match="train needs a data section"):
        validate_config({"name": "x", "base": {"model": "a"}, "train": {}}, "x.yaml")
    with pytest.raises(ConfigError, match="x.yaml: eval.models lists 'merged' but nothing is trained"):
        validate_config({"name": "x", "base": {"model": "a"}, "eval": {"models": ["merged"]}}, "x.yaml")
    with pytest.raises(ConfigError, match="not divisible by heads"):
        validate_config({"name": "x", "base": {"tiny": {"hidden_size": 30, "heads": 4}}}, "x.yaml")
    with pytest.raises(ConfigError, match="eval.batch_size: expected a positive integer or 'auto'"):
        validate_config({"name": "x", "base": {"model": "a"}, "eval": {"batch_size": "big"}}, "x.yaml")
    # without training, the default comparison is the base alone
    assert validate_config({"name": "x", "base": {"model": "a"}}).eval.models == ["base"]


def test_overrides_are_validated_like_the_file(tmp_path):
    path = write(tmp_path, MINIMAL)
    config = load_config(path, ["eval.limit=20", "train.num_epochs=3", "eval.shots=[0]"])
    assert (config.eval.limit, config.train.num_epochs, config.eval.shots) == (20, 3, [0])
    with pytest.raises(ConfigError, match=r"--set eval.limt=2\).*unknown key 'eval.limt'"):
        load_config(path, ["eval.limt=2"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config(path, ["eval.limit"])


def test_train_seed_defaults_to_the_recipe_seed(tmp_path):
    config = load_config(write(tmp_path, MINIMAL + "seed: 7\n"))
    assert config.train_fields()["seed"] == 7
    config = load_config(write(tmp_path, MINIMAL.replace("learning_rate: 0.001", "seed: 3") + "seed: 7\n"))
    assert config.train_fields()["seed"] == 3
    assert "base" not in config.train_fields() and "output" not in config.train_fields()
    assert set(TrainSection.model_fields) >= set(TrainConfig.model_fields) - {"base", "data", "output", "resume"}


def test_not_a_mapping_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="expected a mapping of sections"):
        load_config(write(tmp_path, "- just\n- a list\n"))
    with pytest.raises(ConfigError, match=r"nothing.yaml: config file not found \(shipped configs: .*tiny-cpu"):
        find_config(tmp_path / "nothing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "name: [unclosed\n"))


def test_builtin_data_resolves_inside_the_package():
    assert Path(resolve_builtin("builtin:corpus")).is_dir()
    assert Path(resolve_builtin("builtin:kobest_sample")).joinpath("BoolQ", "test.tsv").is_file()
    assert resolve_builtin("org/dataset") == "org/dataset"
    with pytest.raises(ConfigError, match="builtin:nope: no such built-in data"):
        resolve_builtin("builtin:nope")


@pytest.mark.parametrize("name", SHIPPED)
def test_the_resolved_config_is_itself_a_recipe_with_the_same_settings(name):
    # RUN/config.yaml lists every setting; the keys the pipeline fills in (paths) are not among them
    resolved = load_config(name).resolved()
    assert "output" not in resolved["data"] and "output" not in resolved["eval"]
    assert "decontam_edit_rate" in resolved["data"] and "log_samples" in resolved["eval"]
    assert validate_config(resolved, "config.yaml").resolved() == resolved


def test_the_chat_recipe_fine_tunes_a_qwen_layout_base_with_its_chat_template():
    config = load_config("ax-4.0-light-chat")
    assert config.base.model == "skt/A.X-4.0-Light"
    train = TrainConfig(base="b", data="d.jsonl", output="o", **config.train_fields())
    assert (train.prompt_template, train.lora_layers, train.train_on_inputs) == ("chat", "all", False)
