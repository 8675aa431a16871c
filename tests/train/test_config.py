"""TrainConfig: Platypus defaults, YAML loading, unknown keys, flags over the file, the
comma-separated list form (and the space-separated one refused, naming it)."""

from __future__ import annotations

import argparse

import pytest

from polyplatypus.cli import main
from polyplatypus.errors import ConfigError
from polyplatypus.train import TrainConfig
from polyplatypus.train.command import register
from polyplatypus.train.lora import default_target_modules

REQUIRED = dict(base="b", data="d.jsonl", output="o")


def parse(argv):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def build_config(args):
    return TrainConfig.from_args(args)


def test_defaults_are_the_platypus_hyper_parameters():
    config = TrainConfig(**REQUIRED)
    assert (config.learning_rate, config.batch_size, config.micro_batch_size, config.num_epochs) == (4e-4, 16, 1, 1)
    assert (config.lr_scheduler, config.warmup_steps, config.weight_decay) == ("cosine", 100, 0.0)
    assert (config.lora_r, config.lora_alpha, config.lora_dropout) == (16, 16, 0.05)
    assert (config.cutoff_len, config.train_on_inputs, config.add_eos_token) == (4096, False, False)
    assert config.val_set_size == 0
    assert (config.prompt_template, config.group_by_length) == ("alpaca", False)
    assert (
        config.packing is True
    )  # the same objective as micro batch 1, only faster; --no-packing for the literal layout
    assert config.lora_layers == "mlp" and config.lora_target_modules is None


def test_yaml_file_then_flags(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(
        "base: b\ndata: d.jsonl\noutput: o\nlearning_rate: 1.0e-3\nlora-r: 8\npacking: true\nreport_to: []\n",
        encoding="utf-8",
    )
    config = build_config(parse(["train", "--config", str(path), "--lora-r", "4", "--no-packing"]))
    assert config.learning_rate == 1e-3  # from the file
    assert config.lora_r == 4 and config.packing is False  # flags override the file
    assert config.report_to == [] and config.batch_size == 16  # untouched default
    config = build_config(parse(["train", "--config", str(path), "--report-to", "none"]))
    assert config.report_to == [] and config.lora_r == 8


def test_unknown_key_names_the_key_and_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("base: b\ndata: d\noutput: o\nlearning_rte: 0.1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        TrainConfig.load(path)
    assert str(path) in str(error.value) and "'learning_rte'" in str(error.value)
    assert "learning_rate" in str(error.value)  # the suggestion


def test_bad_values_and_missing_required_settings(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: d\noutput: o\nlora_dropout: 1.5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="lora_dropout") as error:
        TrainConfig.load(path)
    assert "missing required setting 'base'" in str(error.value) and "--base" in str(error.value)
    with pytest.raises(ConfigError, match="lr_scheduler"):
        TrainConfig.from_mapping({**REQUIRED, "lr_scheduler": "cosine_annealing"})
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="mapping"):
        TrainConfig.load(path)


def test_target_modules_accept_the_platypus_string_form():
    config = TrainConfig(**REQUIRED, lora_target_modules="[q_proj,k_proj, v_proj]")
    assert config.lora_target_modules == ["q_proj", "k_proj", "v_proj"]
    flags = sum((["--" + k, v] for k, v in REQUIRED.items()), [])
    args = parse(["train", *flags, "--lora-target-modules", "query_key_value,dense"])
    assert build_config(args).lora_target_modules == ["query_key_value", "dense"]
    assert build_config(parse(["train", *flags, "--lora-target-modules", "none"])).lora_target_modules is None
    args = parse(["train", *flags, "--lora-target-modules", "[q_proj,k_proj]", "--report-to", "tensorboard,wandb"])
    assert build_config(args).lora_target_modules == ["q_proj", "k_proj"]
    assert build_config(args).report_to == ["tensorboard", "wandb"]


@pytest.mark.parametrize(
    "argv,flag,written",
    [
        (
            ["train", "--lora-target-modules", "query_key_value", "dense", "--base", "b"],
            "--lora-target-modules",
            "query_key_value,dense",
        ),
        (["train", "--base", "b", "--report-to", "tensorboard", "wandb"], "--report-to", "tensorboard,wandb"),
        (["train", "--report-to=tensorboard", "wandb"], "--report-to", "tensorboard,wandb"),
        (["eval", "--model", "m", "--shots", "0", "5", "10"], "--shots", "0,5,10"),
        (
            ["data", "curate", "--data", "in.jsonl", "--dedup-fields", "instruction", "input"],
            "--dedup-fields",
            "instruction,input",
        ),
    ],
)
def test_the_space_separated_list_form_is_refused_naming_the_comma_form(argv, flag, written, capsys):
    """The form ``train`` took before all commands shared one list convention fails before any
    work, with exit status 2, and says what to write instead."""
    with pytest.raises(SystemExit) as exit:
        main(argv)
    err = capsys.readouterr().err
    assert exit.value.code == 2
    assert f"{flag} takes one comma-separated list: write {flag} {written}" in err, err


def test_other_stray_words_keep_argparse_s_message(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["train", "--base", "b", "stray"])
    assert exit.value.code == 2 and "unrecognized arguments: stray" in capsys.readouterr().err


def test_default_target_modules_by_architecture(tiny_tokenizer):
    from polyplatypus.models.tiny import build_tiny_model

    neox, llama = (
        build_tiny_model(tiny_tokenizer, arch, hidden_size=16, layers=2, heads=2, max_positions=64)
        for arch in ("gpt_neox", "llama")
    )
    assert default_target_modules(neox) == ["dense_h_to_4h", "dense_4h_to_h"]
    assert default_target_modules(llama) == ["gate_proj", "up_proj", "down_proj"]
    assert default_target_modules(neox, "attention") == ["query_key_value", "dense"]
    assert default_target_modules(llama, "all") == [
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    ]
    with pytest.raises(ConfigError, match="mlp, attention or all"):
        default_target_modules(llama, "embeddings")


def test_every_field_has_a_flag():
    args = parse(["train", "--base", "b", "--data", "d", "--output", "o"])
    assert args.func.__name__ == "run_train"
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    text = parser._subparsers._group_actions[0].choices["train"].format_help()
    for name in TrainConfig.model_fields:
        assert "--" + name.replace("_", "-") in text


@pytest.mark.parametrize(
    "line,key,message",
    [
        ("batch_size: true", "batch_size", "valid integer"),
        ('train_on_inputs: "yes"', "train_on_inputs", "valid boolean"),
        ('lora_r: "16"', "lora_r", "valid integer"),
        ("max_steps: 2.5", "max_steps", "valid integer"),
        ("learning_rate: true", "learning_rate", "valid number"),
        ("learning_rate: fast", "learning_rate", "valid number"),
    ],
)
def test_wrong_types_are_errors_not_conversions(tmp_path, line, key, message):
    path = tmp_path / "c.yaml"
    path.write_text(f"base: b\ndata: d\noutput: o\n{line}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        TrainConfig.load(path)
    # the shared formatter names the line of the bad key (line 4 of the file)
    assert str(error.value).startswith(f"{path}, line 4: {key}: ") and message in str(error.value)


def test_floats_accept_yaml_exponents_and_integers(tmp_path):
    path = tmp_path / "c.yaml"
    # PyYAML reads 4e-4 (no dot) as the string '4e-4'
    path.write_text(
        "base: b\ndata: d\noutput: o\nlearning_rate: 4e-4\nmax_grad_norm: 2\nval_set_size: 10\n", encoding="utf-8"
    )
    config = TrainConfig.load(path)
    assert config.learning_rate == 4e-4 and config.max_grad_norm == 2.0 and config.val_set_size == 10
    assert build_config(parse(["train", "--config", str(path), "--max-steps", "5"])).max_steps == 5


def test_a_bad_command_line_value_is_blamed_on_the_option_not_the_file(tmp_path, capsys):
    path = tmp_path / "c3.yaml"
    path.write_text("base: b\ndata: d\noutput: o\nlora_r: 8\nlearning_rate: 0\nval_set_size: 3\n", encoding="utf-8")
    # a value outside the field's limits stops at parsing, before any file is read
    with pytest.raises(SystemExit) as exit:
        parse(["train", "--config", str(path), "--lora-r", "0"])
    assert exit.value.code == 2
    assert "argument --lora-r: Input should be greater than or equal to 1 (got '0')" in capsys.readouterr().err
    # a value only the settings' own checks refuse is blamed on the option, the file's mistake on the file
    with pytest.raises(ConfigError) as error:
        build_config(parse(["train", "--config", str(path), "--val-set-size", "2.5"]))
    message = str(error.value)
    assert "command-line option --val-set-size: val_set_size: a count of examples must be a whole number" in message
    assert f"{path}, line 5: learning_rate: " in message  # the file's own mistake still names the file
    assert f"{path}, line 6" not in message
    with pytest.raises(ConfigError, match=r"^command-line option --lora-rr: unknown key 'lora_rr'"):
        TrainConfig.load(path, lora_rr=3)


def test_the_python_api_takes_keyword_settings_checked_once(tmp_path):
    from polyplatypus.train import train

    with pytest.raises(ConfigError, match=r"^train\(\): lora_r: Input should be greater than or equal to 1"):
        train(**REQUIRED, lora_r=0)
    with pytest.raises(ConfigError, match=r"train\(\): config must be a TrainConfig, got dict"):
        train({**REQUIRED})
    # nothing was written: the settings are checked before the output folder is touched
    with pytest.raises(ConfigError, match="lr_scheduler"):
        train(TrainConfig(**{**REQUIRED, "output": str(tmp_path / "out")}), lr_scheduler="cosine_annealing")
    assert not (tmp_path / "out").exists()


def test_merge_generate_and_report_take_their_flags_from_their_settings(monkeypatch, capsys):
    """Each command's flags are its settings object's fields, checked while parsing, and arrive in
    the library call unchanged."""
    import importlib

    calls = {}
    merge_module = importlib.import_module("polyplatypus.train.merge")
    generate_module = importlib.import_module("polyplatypus.train.generate")
    card = importlib.import_module("polyplatypus.report.card")
    store = importlib.import_module("polyplatypus.eval.store")
    monkeypatch.setattr(merge_module, "merge", lambda *a, **kw: calls.setdefault("merge", kw) and "merged")
    monkeypatch.setattr(generate_module, "generate", lambda *a, **kw: calls.setdefault("generate", kw) and "answer")
    monkeypatch.setattr(
        card, "write_report", lambda paths, output, **kw: calls.setdefault("report", (paths, output, kw)) and {}
    )
    monkeypatch.setattr(store.ResultsStore, "find", classmethod(lambda cls, path: [path]))

    assert main(["merge", "--adapter", "a", "--output", "m", "--dtype", "float16", "--overwrite"]) == 0
    assert calls["merge"] == {
        "adapter": "a",
        "output": "m",
        "base": None,
        "dtype": "float16",
        "max_shard_size": "5GB",
        "device_map": None,
        "overwrite": True,
        "allow_base_mismatch": False,
    }
    assert main(["generate", "--model", "m", "--instruction", "안녕", "--temperature", "0.7", "--seed", "3"]) == 0
    assert calls["generate"] == {
        "model": "m",
        "adapter": None,
        "instruction": "안녕",
        "input": "",
        "template": None,
        "system_prompt": None,
        "max_new_tokens": 256,
        "temperature": 0.7,
        "top_p": 1.0,
        "repetition_penalty": 1.0,
        "seed": 3,
    }
    assert main(["report", "r1", "r2", "--format", "md,png", "--resamples", "50"]) == 0
    paths, output, options = calls["report"]
    assert (paths, str(output), options["formats"], options["resamples"]) == (
        ["r1", "r2"],
        "r1/report",
        ("md", "png"),
        50,
    )

    for argv, message in (
        (["merge", "--adapter", "a", "--output", "m", "--dtype", "half"], "argument --dtype"),
        (["generate", "--model", "m", "--instruction", "x", "--top-p", "0"], "argument --top-p"),
        (["report", "r1", "--format", "pdf"], "argument --format"),
        (["report", "r1", "--format", "md", "html"], "--format takes one comma-separated list"),
    ):
        with pytest.raises(SystemExit) as exit:
            main(argv)
        assert exit.value.code == 2 and message in capsys.readouterr().err
    # the spaced list before the results folder: the folder would be read as a format, the format as a folder
    assert main(["report", "--format", "md", "html", "r1"]) == 2
    assert (
        "html: not a results folder; --format takes one comma-separated list: write --format md,html"
        in capsys.readouterr().err
    )
