import os

import pytest

from polyplatypus.cli import build_parser
from polyplatypus.errors import ConfigError
from polyplatypus.pipeline.config import load_config
from polyplatypus.pipeline.demo import DEMO_CONFIG, OFFLINE_ENV, demo_overrides, offline


def test_demo_defaults_to_the_bundled_sample_and_the_tiny_recipe():
    config = load_config(DEMO_CONFIG)
    assert config.base.tiny is not None and config.base.tiny.arch == "gpt_neox"
    assert config.eval.kobest_dir == "builtin:kobest_sample"
    assert config.data.sources == ["builtin:instructions/ko_platypus_sample.jsonl"]
    assert config.eval.device == "cpu" and config.train.precision == "fp32"


def test_data_dir_and_hub_options(tmp_path):
    config = load_config(DEMO_CONFIG, demo_overrides(data_dir=str(tmp_path), limit=7))
    assert config.eval.kobest_dir == config.data.kobest_dir == str(tmp_path.resolve())
    assert config.eval.limit == 7
    config = load_config(DEMO_CONFIG, demo_overrides(hub=True))
    assert config.eval.kobest_dir is None and config.data.kobest_dir is None
    with pytest.raises(ConfigError, match="either --data-dir or --hub"):
        demo_overrides(data_dir="x", hub=True)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--data-dir", "x", "--hub"])


def test_offline_mode_is_scoped(monkeypatch):
    for key in OFFLINE_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    with offline():
        assert all(os.environ[key] == "1" for key in OFFLINE_ENV)
    assert os.environ["HF_HUB_OFFLINE"] == "0" and "TRANSFORMERS_OFFLINE" not in os.environ
    with offline(False):
        assert os.environ["HF_HUB_OFFLINE"] == "0"


def test_cli_registers_run_demo_and_report():
    parser = build_parser()
    for argv in (["run", "tiny-cpu"], ["demo"], ["report", "results"]):
        args = parser.parse_args(argv)
        assert callable(args.func)
    args = parser.parse_args(["run", "x.yaml", "--redo", "train", "--until", "eval", "--set", "eval.limit=3"])
    assert (args.redo, args.until, args.overrides) == (["train"], "eval", ["eval.limit=3"])
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "x.yaml", "--redo", "nonsense"])


def test_the_model_card_recipe_plans_its_stages_and_comparison(tmp_path):
    from polyplatypus.pipeline.stages import Run

    config = load_config("poly-platypus-ko-12.8b")
    run = Run(config=config, run_dir=tmp_path / "run", log=lambda message: None)
    assert [s for s in ("base", "data", "train", "merge", "eval", "report") if run.applies(s)] == [
        "data",
        "train",
        "merge",
        "eval",
        "report",
    ]
    assert run.base_path == "EleutherAI/polyglot-ko-12.8b"
    assert run.eval_models() == [
        "polyglot-ko-12.8b=EleutherAI/polyglot-ko-12.8b",
        f"poly-platypus-ko-12.8b={(tmp_path / 'run' / 'merged').resolve()}",
    ]
    assert run.baseline() == "polyglot-ko-12.8b"
    assert run.eval_kobest_dir is None and run.data_kobest_dir is None  # env var, else the hub
    # the training fingerprint ignores settings that do not change the adapter
    quieter = load_config("poly-platypus-ko-12.8b", ["train.logging_steps=50", "train.save_steps=7"])
    changed = load_config("poly-platypus-ko-12.8b", ["train.lora_alpha=32"])
    same = Run(config=quieter, run_dir=tmp_path / "run").settings()["train"]
    assert same == run.settings()["train"]
    assert Run(config=changed, run_dir=tmp_path / "run").settings()["train"] != run.settings()["train"]
