"""The one model-loading module: its precision rule, its maximum-length rule (the reference
harness's, now shared by training) and its errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from polyplatypus.errors import ConfigError
from polyplatypus.models import loading
from polyplatypus.models.loading import (
    base_max_length,
    config_max_length,
    load_causal_lm,
    load_model,
    load_tokenizer,
    model_max_length,
    resolve_precision,
    torch_dtype,
)

KO_DATA = Path(__file__).parents[1] / "train" / "data" / "ko_instructions.jsonl"


def reference_max_length(config) -> int:
    """The reference harness's rule (lm_eval/models/gpt2.py), written out independently."""
    if hasattr(config, "n_ctx"):
        return config.n_ctx
    return config.max_position_embeddings


@pytest.fixture
def with_n_ctx(tmp_path, tiny_gptneox_dir) -> Path:
    """The fixture model with ``n_ctx`` (96) in its config.json, below its 384 positions."""
    folder = tmp_path / "n-ctx"
    shutil.copytree(tiny_gptneox_dir, folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config["max_position_embeddings"] > 96
    config["n_ctx"] = 96
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


# --- maximum length -------------------------------------------------------------------------


def test_max_length_follows_the_reference_rule():
    from transformers import GPT2Config, GPTNeoXConfig, LlamaConfig, PretrainedConfig

    configs = [
        GPTNeoXConfig(max_position_embeddings=2048),
        LlamaConfig(max_position_embeddings=4096),
        GPT2Config(n_positions=1024),  # aliased to max_position_embeddings by transformers
        GPTNeoXConfig(max_position_embeddings=2048, n_ctx=512),  # n_ctx wins, as in the reference
        PretrainedConfig(max_position_embeddings=300),
    ]
    for config in configs:
        assert config_max_length(config) == reference_max_length(config)
    assert [config_max_length(c) for c in configs] == [2048, 4096, 1024, 512, 300]


def test_max_length_of_configs_the_reference_cannot_read():
    from transformers import PretrainedConfig

    assert config_max_length(PretrainedConfig(seq_length=8192)) == 8192
    assert config_max_length(PretrainedConfig()) is None

    class Model:
        config = PretrainedConfig(name_or_path="odd-model")

    with pytest.raises(ConfigError, match="'odd-model' names no maximum length"):
        model_max_length(Model())


def test_eval_and_training_use_the_same_maximum_length(with_n_ctx):
    from polyplatypus.train import TrainConfig
    from polyplatypus.train.recipe import prepare_data

    model, _ = load_model(str(with_n_ctx), dtype="float32", device="cpu")
    assert model_max_length(model) == base_max_length(with_n_ctx) == 96
    config = TrainConfig(
        base=str(with_n_ctx), data=str(KO_DATA), output="unused", cutoff_len=128, prompt_template="korean", report_to=[]
    )
    prepared = prepare_data(config)
    assert prepared.cutoff_len == 96
    assert max(prepared.lengths) <= 96


# --- precision ------------------------------------------------------------------------------


def test_auto_precision_follows_the_hardware(monkeypatch):
    assert resolve_precision("auto", cuda=False) == "fp32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", cuda=True) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", cuda=True) == "fp16"
    assert resolve_precision("fp32", cuda=True) == "fp32"
    with pytest.raises(ConfigError, match="precision bf16 needs a GPU"):
        resolve_precision("bf16", cuda=False)
    with pytest.raises(ConfigError, match="unknown precision 'fp8'"):
        resolve_precision("fp8", cuda=True)


def test_precision_and_dtype_names_give_the_same_torch_dtype():
    pairs = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
    for precision, dtype in pairs.items():
        assert torch_dtype(precision) is torch_dtype(dtype) is getattr(torch, dtype)
    assert torch_dtype("auto") == "auto"
    with pytest.raises(ConfigError, match="unknown dtype 'float8'"):
        torch_dtype("float8")


def test_generation_loads_in_the_auto_precision_of_its_device(tiny_gptneox_dir):
    from polyplatypus.train.generate import load_for_generation

    model, tokenizer, template, _ = load_for_generation(tiny_gptneox_dir, device="cpu")
    assert next(model.parameters()).dtype == torch.float32
    assert template == "alpaca" and tokenizer.eos_token is not None
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            load_for_generation(tiny_gptneox_dir, device="cuda")


# --- loading ---------------------------------------------------------------------------------


def test_load_model_in_the_asked_dtype_matches_a_plain_from_pretrained(tiny_gptneox_dir):
    from transformers import AutoModelForCausalLM

    plain = AutoModelForCausalLM.from_pretrained(tiny_gptneox_dir, dtype=torch.bfloat16)
    model, tokenizer = load_model(str(tiny_gptneox_dir), dtype="bfloat16", device="cpu")
    assert not model.training and loading.model_dtype_name(model) == "bfloat16"
    ids = torch.tensor([tokenizer("한국어 문장입니다.")["input_ids"]])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, plain(ids).logits)  # same weights, same kernels, same dtype


def test_training_loads_the_base_in_its_precision(tiny_gptneox_dir):
    model = load_causal_lm(tiny_gptneox_dir, dtype=resolve_precision("auto", cuda=False))
    assert next(model.parameters()).dtype == torch.float32


def test_missing_and_unloadable_sources_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="model path does not exist: ./no/such/model"):
        load_causal_lm("./no/such/model")
    with pytest.raises(ConfigError, match="model path does not exist: ./no/such/tokenizer"):
        load_tokenizer("./no/such/tokenizer")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="empty is not a Hugging Face model folder"):
        load_model(str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match=r"empty has no tokenizer files"):  # named before transformers tries
        load_tokenizer(tmp_path / "empty")
    with pytest.raises(ConfigError, match="not a local folder, and the hub could not provide it"):
        base_max_length("polyplatypus-tests/no-such-model")


def test_training_tokenizer_gets_a_pad_token(tmp_path, tiny_tokenizer):
    import copy

    no_pad = copy.deepcopy(tiny_tokenizer)
    no_pad.pad_token = None
    no_pad.save_pretrained(tmp_path)
    assert load_tokenizer(tmp_path).pad_token_id is None  # scoring and statistics: as saved
    trained = load_tokenizer(tmp_path, training=True)
    assert trained.pad_token == (trained.unk_token or trained.eos_token)
    assert load_tokenizer(trained) is trained  # an object is used as given


def test_quantized_loading_says_what_it_needs_before_loading(monkeypatch, tiny_gptneox_dir):
    import importlib.util

    assert loading.quantization_config(None, "bf16") is None
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "bitsandbytes" else object())
    with pytest.raises(ConfigError, match="--load-in 4bit needs bitsandbytes"):
        load_causal_lm(tiny_gptneox_dir, dtype="bf16", load_in="4bit")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="--load-in 8bit needs a CUDA GPU"):
        load_causal_lm(tiny_gptneox_dir, dtype="bf16", load_in="8bit")
