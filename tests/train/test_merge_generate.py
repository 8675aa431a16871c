"""Merging an adapter into a standalone model, and generating with the trained template."""

from __future__ import annotations

import json

import pytest
import torch

from polyplatypus.cli import main
from polyplatypus.errors import ConfigError
from polyplatypus.train import TrainConfig, generate, merge, train

RECORD = {"instruction": "한국의 수도는 어디인가요?", "input": "", "output": "서울입니다."}


@pytest.fixture(scope="module", params=["gpt_neox", "llama"])
def trained(request, tmp_path_factory, tiny_gptneox_dir, tiny_llama_dir, ko_data):
    """(base, adapter folder) after a short run with a high learning rate (non-zero LoRA B)."""
    base = str(tiny_gptneox_dir if request.param == "gpt_neox" else tiny_llama_dir)
    output = tmp_path_factory.mktemp(f"adapter-{request.param}")
    train(
        TrainConfig(
            base=base,
            data=str(ko_data),
            output=str(output / "run"),
            batch_size=4,
            max_steps=3,
            learning_rate=2e-2,
            warmup_steps=0,
            lora_layers="all",
            cutoff_len=128,
            prompt_template="korean",
            report_to=[],
        )
    )
    return base, output / "run"


def test_merged_logits_equal_base_plus_adapter_logits(trained, tmp_path, tiny_tokenizer):
    from transformers import AutoModelForCausalLM

    from polyplatypus.train.lora import load_adapter

    base, adapter = trained
    merged_dir = merge(adapter, tmp_path / "merged", max_shard_size="40KB")
    shards = sorted(p.name for p in merged_dir.glob("*.safetensors"))
    assert len(shards) > 1 and (merged_dir / "model.safetensors.index.json").is_file()  # sharded
    assert (merged_dir / "tokenizer.json").is_file()
    assert json.loads((merged_dir / "polyplatypus.json").read_text())["prompt_template"] == "korean"

    ids = tiny_tokenizer(["서울은 한국의 수도이다. 한강이 흐른다."], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        reference = load_adapter(AutoModelForCausalLM.from_pretrained(base), adapter).eval()
        expected = reference(input_ids=ids).logits
        merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
        got = merged(input_ids=ids).logits
        plain = AutoModelForCausalLM.from_pretrained(base).eval()(input_ids=ids).logits
    assert not any(n for n, _ in merged.named_parameters() if "lora" in n)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert (got - plain).abs().max() > 1e-3  # the adapter really changed the model

    from polyplatypus.models.loading import load_model  # what `polyplatypus eval` scores

    evaluated, _ = load_model(str(merged_dir), device="cpu")
    with torch.no_grad():
        torch.testing.assert_close(evaluated(input_ids=ids).logits, expected, rtol=1e-5, atol=1e-5)

    with pytest.raises(ConfigError, match="--overwrite"):
        merge(adapter, merged_dir)


def test_merge_cli_and_missing_adapter(trained, tmp_path, capsys):
    base, adapter = trained
    assert main(["merge", "--base", base, "--adapter", str(adapter), "--output", str(tmp_path / "m")]) == 0
    assert (tmp_path / "m" / "config.json").is_file() and "merged model written" in capsys.readouterr().out
    assert main(["merge", "--adapter", str(tmp_path), "--output", str(tmp_path / "x")]) == 2
    assert "adapter_config.json" in capsys.readouterr().err


def test_trained_model_answers_and_stops(tmp_path, tiny_gptneox_dir, capsys):
    """EOS after every response teaches the model to stop: after overfitting one record, greedy
    generation returns exactly its output, where the base model rambles to the token limit."""
    data = tmp_path / "one.jsonl"
    data.write_text((json.dumps(RECORD, ensure_ascii=False) + "\n") * 8, encoding="utf-8")
    output = tmp_path / "run"
    train(
        TrainConfig(
            base=str(tiny_gptneox_dir),
            data=str(data),
            output=str(output),
            batch_size=4,
            max_steps=30,
            learning_rate=3e-2,
            warmup_steps=0,
            lora_dropout=0.0,
            lora_layers="all",
            cutoff_len=128,
            lr_scheduler="constant",
            prompt_template="korean",
            report_to=[],
        )
    )
    answer = generate(str(tiny_gptneox_dir), RECORD["instruction"], adapter=str(output), max_new_tokens=24)
    assert answer == RECORD["output"]
    assert generate(str(output), RECORD["instruction"], max_new_tokens=24) == answer  # base read from the adapter
    rambling = generate(str(tiny_gptneox_dir), RECORD["instruction"], template="korean", max_new_tokens=24)
    assert rambling != RECORD["output"]

    merged = merge(output, tmp_path / "merged")
    capsys.readouterr()
    assert (
        main(["generate", "--model", str(merged), "--instruction", RECORD["instruction"], "--max-new-tokens", "24"])
        == 0
    )
    assert capsys.readouterr().out.strip() == RECORD["output"]  # the template comes from the merged folder


def test_merge_and_generate_stay_callable_after_their_modules_are_imported():
    """``polyplatypus.train.merge``/``generate`` are functions even once the submodules of the same
    name are loaded (a fresh interpreter: in this one, import order depends on the tests run)."""
    import subprocess
    import sys

    code = (
        "import polyplatypus.train.generate, polyplatypus.train.merge\n"
        "from polyplatypus.train import generate, merge\n"
        "assert callable(generate) and callable(merge), (generate, merge)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
