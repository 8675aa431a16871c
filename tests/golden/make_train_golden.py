"""Make ``train_tiny_gptneox.json``: the first optimizer steps' losses of the Platypus LoRA recipe on
the committed tiny GPT-NeoX fixture, computed by a plain PyTorch + PEFT loop written for this file.

It shares nothing with ``polyplatypus.train.recipe``, ``batching`` or ``loss`` (the loop, the
objective, the step plan, the schedule and the attention are written out here). Only the data
preparation is the project's (``tokenize_records``: prompt template, tokenization and label
masking, tested on their own in tests/train/test_tokenize.py), so the two sides train on the
same token ids.

The recipe as Platypus ran it with HF Trainer: micro batch 1, gradient accumulation over the
global batch, each example's loss the mean over its target tokens, the step's gradient the mean of
those example losses; AdamW, linear warm-up then cosine decay, gradient clipping at 1.0. The
epoch order is ``torch.randperm(n)`` seeded with ``seed + epoch`` (the project's documented
plan); the LoRA weights are drawn right after ``torch.manual_seed(seed)`` and the model load.

    PYTHONPATH=src .venv/bin/python tests/golden/make_train_golden.py   # ~10 s, one CPU thread
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "tiny-gptneox"
DATA = ROOT / "tests" / "train" / "data" / "ko_instructions.jsonl"
OUT = Path(__file__).with_name("train_tiny_gptneox.json")

SETTINGS = dict(
    batch_size=4,
    steps=6,
    learning_rate=1e-2,
    warmup_steps=1,
    cutoff_len=128,
    lora_r=16,
    lora_alpha=16,
    target_modules=["dense_h_to_4h", "dense_4h_to_h"],
    max_grad_norm=1.0,
    prompt_template="korean",
    seed=42,
)


def examples(tokenizer) -> list[tuple[list[int], list[int]]]:
    from polyplatypus.data.templates import get_template
    from polyplatypus.data.tokenize import tokenize_records

    records = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    tokenized = tokenize_records(
        records, tokenizer, get_template(SETTINGS["prompt_template"]), cutoff_len=SETTINGS["cutoff_len"]
    )
    return [(list(e.input_ids), list(e.labels)) for e in tokenized if any(x != -100 for x in e.labels[1:])]


def lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return step / max(1, warmup)
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def run(lora_dropout: float, grad_norms: list[float] | None = None) -> list[float]:
    """The step losses; ``grad_norms``, if given, receives each step's gradient norm before
    clipping (``clip_grad_norm_``'s return value)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    seed, batch, steps = SETTINGS["seed"], SETTINGS["batch_size"], SETTINGS["steps"]
    data = examples(AutoTokenizer.from_pretrained(FIXTURE))
    random.seed(seed)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(FIXTURE, dtype=torch.float32, attn_implementation="eager")
    model = get_peft_model(
        model,
        LoraConfig(
            r=SETTINGS["lora_r"],
            lora_alpha=SETTINGS["lora_alpha"],
            lora_dropout=lora_dropout,
            target_modules=SETTINGS["target_modules"],
            bias="none",
            task_type="CAUSAL_LM",
        ),
    )
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=SETTINGS["learning_rate"], weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, steps, SETTINGS["warmup_steps"]))
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed + 0)).tolist()
    assert len(order) >= batch * steps  # the first epoch covers every step written here
    losses = []
    for step in range(steps):
        step_losses = []
        for i in order[step * batch : (step + 1) * batch]:
            ids, labels = data[i]
            logits = model(input_ids=torch.tensor([ids])).logits[0]
            example_loss = F.cross_entropy(logits[:-1], torch.tensor(labels[1:]), ignore_index=-100)
            (example_loss / batch).backward()
            step_losses.append(example_loss.item())
        norm = torch.nn.utils.clip_grad_norm_(params, SETTINGS["max_grad_norm"])
        if grad_norms is not None:
            grad_norms.append(norm.item())
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(sum(step_losses) / batch)
    return losses


def main() -> None:
    import peft
    import transformers

    torch.set_num_threads(1)
    golden = {
        "made_by": "tests/golden/make_train_golden.py (plain PyTorch + PEFT loop, micro batch 1)",
        "fixture": "tests/fixtures/tiny-gptneox",
        "data": "tests/train/data/ko_instructions.jsonl",
        "settings": SETTINGS,
        "step_losses": {"lora_dropout_0": run(0.0), "lora_dropout_0.05": run(0.05)},
        "provenance": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
            "device": "cpu",
            "dtype": "float32",
            "threads": 1,
        },
    }
    OUT.write_text(json.dumps(golden, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(golden["step_losses"], indent=2))


if __name__ == "__main__":
    main()
