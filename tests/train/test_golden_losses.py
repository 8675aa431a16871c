"""The first steps' losses equal those of an independent plain PyTorch + PEFT loop (golden values
made once by tests/golden/make_train_golden.py): a wrongly normalised or wrongly accumulated loss,
another step plan or another schedule would all change them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polyplatypus.train import train

GOLDEN = json.loads((Path(__file__).parents[1] / "golden" / "train_tiny_gptneox.json").read_text(encoding="utf-8"))

# float32, ~7 nats, six steps of AdamW: the two sides sum the same terms in another order (packed rows,
# logits only at target positions), so they agree to a few ulps of the loss, amplified a little by the steps
TOLERANCE = 2e-5


@pytest.mark.parametrize(
    "packing,dropout",
    [(True, 0.0), (False, 0.0), (False, 0.05)],
    ids=["default (packed)", "micro batch 1", "micro batch 1, LoRA dropout"],
)
def test_step_losses_match_the_independent_loop(packing, dropout, small_run):
    s = GOLDEN["settings"]
    summary = train(
        small_run(
            packing=packing,
            lora_dropout=dropout,
            batch_size=s["batch_size"],
            micro_batch_size=1,
            max_steps=s["steps"],
            learning_rate=s["learning_rate"],
            warmup_steps=s["warmup_steps"],
            cutoff_len=s["cutoff_len"],
            lora_r=s["lora_r"],
            lora_alpha=s["lora_alpha"],
            max_grad_norm=s["max_grad_norm"],
            prompt_template=s["prompt_template"],
            seed=s["seed"],
            lora_layers="mlp",
            logging_steps=1,
        )
    )
    expected = GOLDEN["step_losses"][f"lora_dropout_{dropout:g}"]
    got = [entry["loss"] for entry in summary["log_history"] if "loss" in entry]
    assert summary["lora_target_modules"] == sorted(s["target_modules"])
    assert got == pytest.approx(expected, rel=0, abs=TOLERANCE)
    assert expected[-1] < expected[0] - 0.05  # the steps do train: a frozen adapter would not match


def test_the_logged_gradient_norm_is_the_independent_loop_s(small_run, monkeypatch):
    """Each step's gradient norm before clipping (what ``clip_grad_norm_`` returns) is logged, and
    equals the norm the independent loop of make_train_golden.py computes for the same step. The
    clipping threshold is lowered below the norms, so every step is clipped (and the later steps'
    norms depend on the earlier clipping being the same)."""
    import torch

    from tests.golden import make_train_golden

    clip = 0.05
    monkeypatch.setitem(make_train_golden.SETTINGS, "max_grad_norm", clip)
    s = make_train_golden.SETTINGS
    threads = torch.get_num_threads()
    reference: list[float] = []
    try:
        torch.set_num_threads(1)
        make_train_golden.run(0.0, grad_norms=reference)
    finally:
        torch.set_num_threads(threads)
    summary = train(
        small_run(
            packing=True,
            lora_dropout=0.0,
            batch_size=s["batch_size"],
            micro_batch_size=1,
            max_steps=s["steps"],
            learning_rate=s["learning_rate"],
            warmup_steps=s["warmup_steps"],
            cutoff_len=s["cutoff_len"],
            lora_r=s["lora_r"],
            lora_alpha=s["lora_alpha"],
            max_grad_norm=clip,
            prompt_template=s["prompt_template"],
            seed=s["seed"],
            lora_layers="mlp",
            logging_steps=1,
        )
    )
    logged = [entry["grad_norm"] for entry in summary["log_history"] if "loss" in entry]
    assert min(reference) > clip  # every step was clipped: the norm is the one before clipping
    assert logged == pytest.approx(reference, rel=1e-3)
    # a logging interval of two steps logs the mean of its steps' norms
    summary = train(
        small_run(
            "every-2",
            packing=True,
            lora_dropout=0.0,
            batch_size=s["batch_size"],
            micro_batch_size=1,
            max_steps=s["steps"],
            learning_rate=s["learning_rate"],
            warmup_steps=s["warmup_steps"],
            cutoff_len=s["cutoff_len"],
            lora_r=s["lora_r"],
            lora_alpha=s["lora_alpha"],
            max_grad_norm=clip,
            prompt_template=s["prompt_template"],
            seed=s["seed"],
            lora_layers="mlp",
            logging_steps=2,
        )
    )
    logged = [entry["grad_norm"] for entry in summary["log_history"] if "loss" in entry]
    pairs = [(reference[i] + reference[i + 1]) / 2 for i in range(0, len(reference), 2)]
    assert logged == pytest.approx(pairs, rel=1e-3)
