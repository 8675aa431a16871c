"""Step plan, packing and per-example loss: packed examples do not see each other."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from polyplatypus.data.templates import get_template
from polyplatypus.data.tokenize import tokenize_records
from polyplatypus.models.tiny import LAYOUTS
from polyplatypus.train import batching, loss, train


def test_epoch_plan_is_seeded_complete_and_split_between_processes():
    lengths = list(range(10, 60))  # 50 examples
    steps = batching.epoch_steps(lengths, batch_size=8, world_size=2, seed=3, epoch=0)
    assert steps == batching.epoch_steps(lengths, batch_size=8, world_size=2, seed=3, epoch=0)
    assert steps != batching.epoch_steps(lengths, batch_size=8, world_size=2, seed=3, epoch=1)
    assert [len(s) for s in steps] == [8] * 6 + [2]  # the last step trimmed to a multiple of 2 processes
    assert len({i for s in steps for i in s}) == 50 and batching.steps_per_epoch(50, 8, 2) == 7
    shares = [batching.rank_share(steps[0], r, 2) for r in range(2)]
    assert shares[0] + shares[1] == steps[0] and len(shares[0]) == 4
    assert len(batching.epoch_steps(lengths[:49], batch_size=8, world_size=2, seed=3, epoch=0)) == 6  # 1 left: dropped


def test_group_by_length_sorts_within_windows():
    lengths = [5, 50, 20, 40, 10, 30]
    grouped = batching.group_by_length([0, 1, 2, 3, 4, 5], lengths, window=3)
    assert grouped == [1, 2, 0, 3, 5, 4]
    steps = batching.epoch_steps(list(range(100)), batch_size=10, world_size=1, seed=0, epoch=0, group_by_len=True)
    assert all(max(s) - min(s) < 20 for s in steps[:1])  # the first step holds the longest examples


def test_pack_respects_the_capacity_and_keeps_every_example_once():
    lengths = [90, 10, 50, 50, 30, 70, 20, 100]
    rows = batching.pack(range(8), lengths, 100)
    assert sorted(i for row in rows for i in row) == list(range(8))
    assert all(sum(lengths[i] for i in row) <= 100 for row in rows)
    assert len(rows) == 5  # total 420 tokens: first-fit decreasing needs 5 rows of 100
    passes = batching.micro_batches(range(8), lengths, micro_batch_size=2, packing=True, capacity=100)
    assert [len(p) for p in passes] == [2, 2, 1]


@pytest.fixture(scope="module")
def examples(tiny_tokenizer, ko_records):
    return tokenize_records(ko_records, tiny_tokenizer, get_template("korean"), cutoff_len=384)


@pytest.mark.parametrize("arch", LAYOUTS)
def test_a_packed_examples_loss_equals_its_unpacked_loss(arch, examples, tiny_layout_dir):
    """On every layout; Gemma 3's and EXAONE 4's sliding layers see 16 tokens, far fewer than
    an example holds: the window is kept per example in every layout of a pass."""
    from transformers import AutoModelForCausalLM

    from polyplatypus.models import attention

    path = tiny_layout_dir(arch)
    model = AutoModelForCausalLM.from_pretrained(path).eval()  # sdpa: block-diagonal mask from position ids
    attention.register()
    per_example = AutoModelForCausalLM.from_pretrained(path, attn_implementation=attention.NAME).eval()
    lengths = [len(e) for e in examples]
    rows = batching.pack(range(12), lengths, 384)
    assert max(len(row) for row in rows) >= 3  # several examples really share a row
    order = [i for row in rows for i in row]
    packed_rows = [[examples[i] for i in row] for row in rows]
    with torch.no_grad():
        # the straightforward reference: one example, every logit, mean over its target tokens
        reference = torch.stack(
            [
                torch.nn.functional.cross_entropy(
                    model(torch.tensor([examples[i].input_ids])).logits[0, :-1],
                    torch.tensor(examples[i].labels[1:]),
                    ignore_index=-100,
                )
                for i in order
            ]
        )
        alone = torch.cat([loss.forward_losses(model, batching.collate([[examples[i]]], 1)) for i in order])
        alone_sliced = torch.cat(
            [loss.forward_losses(per_example, batching.collate([[examples[i]]], 1)) for i in order]
        )
        padded_sliced = loss.forward_losses(per_example, batching.collate([[examples[i]] for i in order], 1))
        padded = loss.forward_losses(model, batching.collate([[examples[i]] for i in order], 1))
        packed = loss.forward_losses(model, batching.collate(packed_rows, 1))
        # forward_losses computes logits at target positions only; all positions give the same losses
        every_logit = loss.example_losses(
            model(**batching.collate(packed_rows, 1).model_inputs()).logits, batching.collate(packed_rows, 1)
        )
        flat = batching.collate(packed_rows, 1, flatten=True)
        assert flat.input_ids.shape == (1, sum(lengths[i] for i in order)) and len(flat.cu_seq_lens) == 13
        flat_masked = loss.forward_losses(model, flat)
        flat_sliced = loss.forward_losses(per_example, flat)
        # the same packed rows with ordinary positions: examples would attend to each other
        leaky = batching.collate(packed_rows, 1)
        leaky.position_ids = torch.arange(leaky.input_ids.shape[1]).expand_as(leaky.input_ids).clone()
        leaked = loss.forward_losses(model, leaky)
    assert loss._position_logits_supported()
    torch.testing.assert_close(alone, reference, rtol=0, atol=1e-5)
    assert min(lengths) > 16  # longer than the sliding window
    for losses in (padded, packed, every_logit, flat_masked, flat_sliced, alone_sliced, padded_sliced):
        torch.testing.assert_close(losses, alone, rtol=0, atol=1e-5)
    assert (leaked - alone).abs().max() > 1e-4  # the checks above can fail


def test_packed_and_padded_training_match_plain_training(small_run):
    """Same examples per step, same objective: without dropout the adapters agree to float tolerance
    whether each example has its own pass (micro batch 1), shares a padded pass, or a packed row."""
    common = dict(max_steps=4, lora_dropout=0.0, cutoff_len=384)
    plain = train(small_run("plain", packing=False, **common))
    packed = train(small_run("packed", **common))  # the default
    padded = train(small_run("padded", packing=False, micro_batch_size=4, **common))
    assert plain["examples"] == packed["examples"] == padded["examples"] == 16
    assert plain["tokens"] == packed["tokens"] == padded["tokens"]
    reference = load_file(f"{small_run('plain').output}/adapter_model.safetensors")
    for name in ("packed", "padded"):
        other = load_file(f"{small_run(name).output}/adapter_model.safetensors")
        for key in reference:
            torch.testing.assert_close(other[key], reference[key], rtol=1e-3, atol=2e-5)
    assert abs(plain["final_loss"] - packed["final_loss"]) < 1e-5
    assert abs(plain["final_loss"] - padded["final_loss"]) < 1e-5
