"""The configs shipped in src/polyplatypus/configs/train: the example training YAML and the
Accelerate/DeepSpeed/FSDP launch files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from polyplatypus.pipeline.config import PACKAGE_CONFIGS_DIR
from polyplatypus.train import TrainConfig

CONFIGS = PACKAGE_CONFIGS_DIR / "train"
ROOT = Path(__file__).resolve().parents[2]  # where the launch commands run


def test_example_recipe_is_valid_and_spells_out_the_defaults():
    config = TrainConfig.load(CONFIGS / "poly-platypus-ko-12.8b.yaml")
    assert (config.base, config.data) == ("EleutherAI/polyglot-ko-12.8b", "kyujinpy/KOpen-platypus")
    defaults = TrainConfig(base=config.base, data=config.data, output=config.output)
    assert config == defaults


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("accelerate_*.yaml")), ids=lambda p: p.name)
def test_accelerate_configs_parse(path):
    from accelerate.commands.config.config_args import ClusterConfig

    config = ClusterConfig.from_yaml_file(str(path))
    assert config.num_processes == 8 and config.num_machines == 1
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    if settings["distributed_type"] == "DEEPSPEED":
        ds_file = ROOT / settings["deepspeed_config"]["deepspeed_config_file"]
        ds = json.loads(ds_file.read_text(encoding="utf-8"))
        stage = ds["zero_optimization"]["stage"]
        assert stage == (3 if settings["deepspeed_config"]["zero3_init_flag"] else 2)
        assert ds["gradient_accumulation_steps"] == 1  # polyplatypus accumulates itself
    if settings["distributed_type"] == "FSDP":
        assert settings["fsdp_config"]["fsdp_version"] == 2


def test_deepspeed_configs_load_into_accelerate():
    from accelerate.utils import DeepSpeedPlugin

    for stage in (2, 3):
        plugin = DeepSpeedPlugin(hf_ds_config=str(CONFIGS / f"deepspeed_zero{stage}.json"))
        assert plugin.zero_stage == stage
