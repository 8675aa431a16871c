"""The training pass reads nothing back from the device, so a GPU never waits for the host."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from polyplatypus.data.templates import get_template
from polyplatypus.data.tokenize import tokenize_records
from polyplatypus.models import attention
from polyplatypus.train import batching, loss
from polyplatypus.train.lora import add_lora


@pytest.mark.parametrize("layout", ["micro batch 1", "padded micro batch", "packed"])
def test_a_training_pass_runs_on_the_meta_device(layout, tiny_gptneox_dir, tiny_tokenizer, ko_records):
    """On the meta device tensors have shapes but no values: any host read of a value (``.item()``,
    ``int(t.sum())``, ``if t.any()``, boolean-mask indexing) raises. The same reads would each stall
    the host on a GPU until the queued kernels have run (the code before this test had three)."""
    examples = tokenize_records(ko_records[:6], tiny_tokenizer, get_template("korean"), cutoff_len=128)
    rows = {
        "micro batch 1": [[examples[0]]],
        "padded micro batch": [[e] for e in examples[:3]],
        "packed": [examples[:3], examples[3:]],
    }[layout]
    attention.register()
    config = AutoConfig.from_pretrained(tiny_gptneox_dir, attn_implementation=attention.NAME)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    model = add_lora(model, r=4, alpha=4, dropout=0.05)
    model.train()
    batch = batching.collate(rows, 1, flatten=layout == "packed").to("meta")
    losses = loss.forward_losses(model, batch)
    losses.sum().backward()
    assert losses.shape == (sum(len(r) for r in rows),) and losses.device.type == "meta"
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
