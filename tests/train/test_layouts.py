"""Every layout ``train`` names, end to end on CPU with a tiny model built from its config:
LoRA targets found by role, a short run, an exact merge (tied embeddings still tied), evaluation
of a few KoBEST documents and generation with the trained template.

Layouts: GPT-NeoX (Polyglot-ko), Llama (kanana, HyperCLOVA X SEED, Llama 3), Qwen2 (A.X 4.0),
Qwen3, Gemma 3 text-only and multimodal (its language model is trained; the vision tower is left
as is), EXAONE 4. Gemma 3 and EXAONE 4 have sliding-window layers of 16 tokens, much less than an
example, so packing and the window meet in training too.
"""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from polyplatypus.cli import main
from polyplatypus.errors import ConfigError
from polyplatypus.models.tiny import LAYOUTS
from polyplatypus.train import TrainConfig, generate, merge, train
from polyplatypus.train.lora import add_lora, default_target_modules, labelled_projections, load_adapter

RECORD = {"instruction": "한국의 수도는 어디인가요?", "input": ""}
TIED = {"qwen3", "gemma3_text", "gemma3"}  # the tiny configs tie input and output embeddings as the real ones


def _adapted(model) -> set[str]:
    return {name.removesuffix(".lora_A") for name, _ in model.named_modules() if name.endswith(".lora_A")}


@pytest.mark.parametrize("arch", LAYOUTS)
def test_lora_targets_are_found_by_role(arch, tiny_layout_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_layout_dir(arch))
    labelled = labelled_projections(model)
    for layers, roles in (("mlp", {"mlp"}), ("attention", {"attention"}), ("all", {"mlp", "attention"})):
        wanted = {name for name, (role, _) in labelled.items() if role in roles}
        assert {layer for name, (_, layer) in labelled.items() if name in wanted} == {0, 1}
        peft_model = add_lora(AutoModelForCausalLM.from_pretrained(tiny_layout_dir(arch)), r=2, layers=layers)
        assert _adapted(peft_model) == {f"base_model.model.{name}" for name in wanted}
        assert all(isinstance(model.get_submodule(name), torch.nn.Linear) for name in wanted)
    if arch == "gemma3":  # the vision tower has its own q_proj: a pattern keeps it out of the attention targets
        assert isinstance(default_target_modules(model, "attention"), str)
        assert not any("vision" in name for name in labelled)


def _moe_and_remote_code_models():
    from transformers import Qwen3MoeConfig

    def tiny_moe():
        sizes = dict(vocab_size=64, hidden_size=16, intermediate_size=32, moe_intermediate_size=8, head_dim=8)
        heads = dict(num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1)
        return AutoModelForCausalLM.from_config(Qwen3MoeConfig(**sizes, **heads, num_experts=4, num_experts_per_tok=2))

    moe, unlabelled = tiny_moe(), tiny_moe()
    unlabelled.config.base_model_tp_plan = None  # as a remote-code config without a plan
    return moe, unlabelled


def test_a_layout_it_cannot_label_is_refused_listing_its_linear_modules():
    moe, unlabelled = _moe_and_remote_code_models()
    with pytest.raises(ConfigError) as error:
        default_target_modules(moe, "mlp")  # fused experts: no nn.Linear MLP projection in any layer
    message = str(error.value)
    assert "mlp projections" in message and "--lora-target-modules" in message
    assert "model.layers.*.self_attn.q_proj" in message and "lm_head" in message
    assert default_target_modules(moe, "attention") == ["q_proj", "k_proj", "v_proj", "o_proj"]
    with pytest.raises(ConfigError, match="attention projections .* 0 of 2 decoder layers"):
        default_target_modules(unlabelled, "attention")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_layout_dir, ko_data):
    """``trained(layout)``: (base, adapter) after a few packed steps with a high learning rate
    (attention and MLP adapted), trained once per module."""
    made = {}

    def make(arch: str):
        if arch not in made:
            folder = tmp_path_factory.mktemp(f"layout-{arch}")
            base = str(tiny_layout_dir(arch))
            summary = train(
                TrainConfig(
                    base=base,
                    data=str(ko_data),
                    output=str(folder / "run"),
                    batch_size=8,
                    max_steps=3,
                    learning_rate=3e-2,
                    warmup_steps=0,
                    lora_layers="all",
                    cutoff_len=128,
                    prompt_template="korean",
                    report_to=[],
                )
            )
            assert summary["steps"] == 3 and summary["config"]["packing"] and summary["lora_target_modules"]
            made[arch] = base, folder / "run"
        return made[arch]

    return make


@pytest.mark.parametrize("arch", LAYOUTS)
def test_train_merge_evaluate_and_generate(arch, trained, tmp_path, tiny_tokenizer, kobest_dir, capsys):
    base, adapter = trained(arch)
    merged_dir = merge(adapter, tmp_path / "merged")
    # the merged model generates what the unmerged adapter does (greedy); stopping at the trained
    # end of text is shown on a model trained to convergence in test_merge_generate.py
    answer = generate(base, RECORD["instruction"], adapter=str(adapter), max_new_tokens=12)
    assert generate(str(merged_dir), RECORD["instruction"], max_new_tokens=12) == answer
    assert answer != generate(base, RECORD["instruction"], template="korean", max_new_tokens=12)

    ids = tiny_tokenizer(["서울은 한국의 수도이다. 한강이 흐른다. " * 3], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        expected = load_adapter(AutoModelForCausalLM.from_pretrained(base), adapter).eval()(input_ids=ids).logits
        merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
        got = merged(input_ids=ids).logits
        plain = AutoModelForCausalLM.from_pretrained(base).eval()(input_ids=ids).logits
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)  # fp32: equal to rounding
    assert (got - plain).abs().max() > 1e-3  # the adapter really changed the model
    assert type(merged).__name__ == type(AutoModelForCausalLM.from_pretrained(base)).__name__
    tied = merged.get_input_embeddings().weight.data_ptr() == merged.get_output_embeddings().weight.data_ptr()
    assert tied == (arch in TIED)
    change = json.loads((merged_dir / "polyplatypus.json").read_text())["logit_change"]
    assert change["dtype"] == "float32" and change["max_abs"] < 1e-4

    code = main(
        [
            "eval",
            "--model",
            f"m={merged_dir}",
            "--model",
            f"a={adapter}",  # the adapter without merging, on the base it records
            "--log-samples",
            "--tasks",
            "kobest_copa,kobest_hellaswag",
            "--shots",
            "0",
            "--limit",
            "3",
            "--batch-size",
            "4",
            "--kobest-dir",
            str(kobest_dir),
            "--output",
            str(tmp_path / "eval"),
            "--no-progress",
        ]
    )
    assert code == 0, capsys.readouterr().err
    records = json.loads((tmp_path / "eval" / "results.json").read_text())
    records = records if isinstance(records, list) else records.get("results", records)
    assert len(records) == 4 and all(r["n"] == 3 for r in records)
    for task in ("kobest_copa", "kobest_hellaswag"):  # scored through PEFT: the merged model's loglikelihoods
        samples = {
            label: [json.loads(line) for line in (tmp_path / "eval" / "samples" / label / f"{task}_0shot.jsonl").open()]
            for label in ("m", "a")
        }
        merged_ll = torch.tensor([s["loglikelihoods"] for s in samples["m"]])
        adapter_ll = torch.tensor([s["loglikelihoods"] for s in samples["a"]])
        torch.testing.assert_close(adapter_ll, merged_ll, rtol=0, atol=1e-4)  # fp32 rounding of the merged sum


@pytest.mark.parametrize("arch", ["llama", "gemma3_text"])  # untied and tied embeddings
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_a_half_precision_merge_says_how_far_the_logits_moved(arch, trained, tmp_path, dtype, capsys):
    base, adapter = trained(arch)
    assert main(["merge", "--adapter", str(adapter), "--output", str(tmp_path / "m"), "--dtype", dtype]) == 0
    out = capsys.readouterr().out
    change = json.loads((tmp_path / "m" / "polyplatypus.json").read_text())["logit_change"]
    assert change["dtype"] == dtype and f"merging into {dtype} moved the logits by at most" in out
    # the figure is the merged model's own: measured again independently from the saved weights
    from polyplatypus.models.loading import load_tokenizer
    from polyplatypus.train.merge import PROBE_TEXT

    tokenizer = load_tokenizer(str(tmp_path / "m"))
    ids = tokenizer(PROBE_TEXT, return_tensors="pt").input_ids
    with torch.no_grad():
        unmerged = load_adapter(AutoModelForCausalLM.from_pretrained(base, dtype=getattr(torch, dtype)), adapter)
        before = unmerged.eval()(input_ids=ids).logits.float()
        saved = AutoModelForCausalLM.from_pretrained(tmp_path / "m", dtype="auto").eval()
        after = saved(input_ids=ids).logits.float()
    assert next(saved.parameters()).dtype == getattr(torch, dtype)
    assert change["max_abs"] == pytest.approx(float((after - before).abs().max()), rel=1e-3, abs=1e-6)
    assert change["max_abs"] > 0  # half-precision weights do round the LoRA delta


def test_added_tokens_grow_tied_embeddings_in_the_merge(tiny_layout_dir, tiny_tokenizer, tmp_path):
    """An adapter trained with an added token (its embeddings saved with the adapter): the merge
    grows the base's embeddings to the adapter's tokenizer, and they stay tied after saving."""
    from transformers import AutoTokenizer

    base = tiny_layout_dir("gemma3_text")
    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|turn_end|>"]})
    model = AutoModelForCausalLM.from_pretrained(base)
    model.resize_token_embeddings(len(tokenizer))
    peft_model = add_lora(model, r=2, layers="mlp")
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.05)
    peft_model.save_pretrained(tmp_path / "adapter", save_embedding_layers=True)
    tokenizer.save_pretrained(tmp_path / "adapter")
    ids = tokenizer(["서울은 <|turn_end|> 한국의 수도"], return_tensors="pt").input_ids
    assert int(ids.max()) == len(tokenizer) - 1  # the added token is in the probe
    with torch.no_grad():
        expected = peft_model.eval()(input_ids=ids).logits

    merged_dir = merge(tmp_path / "adapter", tmp_path / "merged", base=str(base))
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    assert merged.get_input_embeddings().weight.shape[0] == len(tokenizer)
    assert merged.get_input_embeddings().weight.data_ptr() == merged.get_output_embeddings().weight.data_ptr()
    with torch.no_grad():
        torch.testing.assert_close(merged(input_ids=ids).logits, expected, rtol=1e-5, atol=1e-5)
