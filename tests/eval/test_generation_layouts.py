"""Generation on today's bases: Llama/Qwen3 with a BOS-adding tokenizer, and Gemma 3 / EXAONE 4
whose sliding-window layers see 16 tokens, far less than the contexts and generations.

The reference is a real lm-eval 0.4.13 ``HFLM(batch_size=1).generate_until`` run (transformers'
own sliding-window cache and masks). The models (tests/fixtures/tiny-*-gen, made by
make_layout_generation_fixtures.py) were trained briefly so that rows stop by string, by EOS
and by length; their tokenizer adds ``<|begin_of_text|>`` to every context, as Llama 3's does.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch

from polyplatypus.errors import ConfigError

pytest.importorskip("lm_eval")

from lm_eval.models.huggingface import HFLM  # noqa: E402

from polyplatypus.eval import generation  # noqa: E402
from polyplatypus.eval.lm_eval_engine import SharedContextLM  # noqa: E402
from polyplatypus.models import attention  # noqa: E402
from polyplatypus.models.tiny import TINY_SLIDING_WINDOW  # noqa: E402
from tests.eval.test_generation import REVIEW_KWARGS, contexts, instances  # noqa: E402

FIXTURES = Path(__file__).parents[1] / "fixtures"
LAYOUTS = ("llama", "qwen3", "gemma3_text", "exaone4")
SLIDING = ("gemma3_text", "exaone4")


def model_dir(layout: str) -> str:
    return str(FIXTURES / f"tiny-{layout.replace('_', '-')}-gen")


@pytest.fixture(scope="module")
def requests():
    return instances(contexts())


@pytest.fixture(scope="module")
def hf_answers(requests):
    answers = {}

    def get(layout: str) -> list[str]:
        if layout not in answers:
            lm = HFLM(pretrained=model_dir(layout), batch_size=1, dtype="float32", device="cpu")
            answers[layout] = lm.generate_until(requests, disable_tqdm=True)
        return answers[layout]

    return get


def ours(layout, batch_size, dtype="float32", **options):
    return SharedContextLM(pretrained=model_dir(layout), batch_size=batch_size, dtype=dtype, device="cpu", **options)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("batch_size", [1, 8])
def test_same_text_as_hf_at_batch_one(requests, hf_answers, layout, batch_size):
    lm = ours(layout, batch_size)
    assert lm.generate_until(requests, disable_tqdm=True) == hf_answers(layout)
    reasons = Counter(r.stop_reason for r in lm.last_generated)
    assert reasons["length"] and reasons["stop"] + reasons["eos"] >= 5, reasons  # rows leave early: slots refill
    counters = lm.generation_counters
    assert counters.positions_forwarded - counters.padding_positions <= 1.05 * counters.minimum_positions


def test_contexts_begin_with_bos_unless_cut_from_the_left(requests):
    """What the BOS tokenizer makes of the requests, as HFLM encodes them: every context starts
    with BOS (one prefix all documents share), and the 24-shot ones lose it to left truncation."""
    lm = ours("llama", 8)
    bos = lm.tokenizer.bos_token_id
    assert bos != lm.tokenizer.eos_token_id
    room = lm.max_length - REVIEW_KWARGS["max_gen_toks"]
    encoded = [lm.tok_batch_encode([r.args[0]], left_truncate_len=room)[0][0].tolist() for r in requests]
    full = [lm.tok_encode(r.args[0]) for r in requests]
    assert all(ids[0] == bos for ids in full)
    assert sum(ids[0] != bos for ids in encoded) >= 10  # the truncated ones
    assert sum(ids[0] == bos for ids in encoded) >= 40


def test_hflm_options_that_change_the_contexts_are_honoured(requests):
    """``add_bos_token=False`` (no BOS although the tokenizer adds one) and a smaller
    ``max_length`` (more left truncation): HFLM's own encoding decides the contexts, as at batch 1."""
    options = {"add_bos_token": False, "max_length": 128}
    requests = requests[::3]
    want = HFLM(pretrained=model_dir("llama"), batch_size=1, dtype="float32", device="cpu", **options).generate_until(
        requests, disable_tqdm=True
    )
    lm = ours("llama", 8, **options)
    assert lm.generate_until(requests, disable_tqdm=True) == want
    room = 128 - REVIEW_KWARGS["max_gen_toks"]
    encoded = [lm.tok_batch_encode([r.args[0]], left_truncate_len=room)[0][0].tolist() for r in requests]
    assert lm.tokenizer.bos_token_id not in {ids[0] for ids in encoded}
    assert sum(len(lm.tok_encode(r.args[0])) > room for r in requests) >= 3  # cut by the smaller max_length


@pytest.mark.parametrize("layout", SLIDING)
def test_sliding_layers_need_their_window_in_the_decoding_mask(requests, hf_answers, layout, monkeypatch):
    """What the per-layer-type decoding mask fixes: without the window, sliding layers see the
    whole row and the text differs from hf's."""
    lm = ours(layout, 8)
    assert lm.model.config.sliding_window == TINY_SLIDING_WINDOW
    assert sum(len(lm.tok_encode(r.args[0])) > TINY_SLIDING_WINDOW for r in requests) >= len(requests) // 2
    monkeypatch.setattr(attention, "masks_by_distance", lambda config, allowed, distance: allowed)
    assert lm.generate_until(requests, disable_tqdm=True) != hf_answers(layout)


def _random_model(config):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()


def _generate_like_hf(model, contexts, max_new_tokens, rows):
    def reference(context, new_tokens):
        ids = torch.tensor([context])
        out = model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens, do_sample=False
        )
        return out[0, len(context) :].tolist()

    engine = generation.GenerationEngine(model, None, rows=rows, reference=reference)
    settings = generation.GenerationSettings(until=(), max_new_tokens=max_new_tokens, eos_ids=frozenset())
    return [r.tokens for r in engine.generate(contexts, settings)], [reference(c, max_new_tokens) for c in contexts]


def _contexts(seed=0, vocab=64):
    """Contexts sharing prefixes of many lengths, longer than an 8-token window."""
    generator = torch.Generator().manual_seed(seed)
    shared = torch.randint(2, vocab, (24,), generator=generator).tolist()
    cuts = torch.randint(1, 24, (10,), generator=generator).tolist()
    return [shared[:cut] + torch.randint(2, vocab, (1 + cut % 5,), generator=generator).tolist() for cut in cuts]


def test_every_layer_sliding_qwen3_sliding_layers_and_multimodal_gemma3_generate_as_hf():
    """Random weights, every row to the length limit: each token equal to model.generate's."""
    from transformers import AutoTokenizer, MistralConfig, Qwen3Config

    from polyplatypus.models.tiny import build_tiny_model

    sizes = dict(vocab_size=64, hidden_size=16, intermediate_size=32, num_attention_heads=2, num_key_value_heads=2)
    mistral = MistralConfig(**sizes, num_hidden_layers=2, sliding_window=8, head_dim=8)
    qwen3 = Qwen3Config(
        **sizes, num_hidden_layers=2, head_dim=8, use_sliding_window=True, sliding_window=8, max_window_layers=1
    )
    assert set(attention.layer_types(qwen3)) == {attention.FULL, attention.SLIDING}
    tokenizer = AutoTokenizer.from_pretrained(model_dir("gemma3_text"))
    gemma3 = build_tiny_model(tokenizer, "gemma3", hidden_size=32, layers=2, heads=4, max_positions=256)
    for model in (_random_model(mistral), _random_model(qwen3), gemma3):
        ours_, hf = _generate_like_hf(model, _contexts(), max_new_tokens=12, rows=4)
        assert ours_ == hf, type(model).__name__


def test_layer_types_other_than_full_and_sliding_are_refused_by_name():
    from transformers import Qwen3Config

    config = Qwen3Config(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=8,
        layer_types=["chunked_attention", "full_attention"],
    )
    with pytest.raises(ConfigError, match="chunked_attention"):
        generation.GenerationEngine(_random_model(config), None, rows=2, reference=lambda ids, n: [])


HALF_CASES = [("bfloat16", "gptneox", 1), ("float16", "gptneox", 2), ("bfloat16", "gemma3_text", 2)]


@pytest.fixture(scope="module")
def hf_bfloat16_answers(requests) -> list[str]:
    """HFLM's batch-1 text of every document on the bf16 GPT-NeoX."""
    return HFLM(pretrained=model_dir("gptneox"), batch_size=1, dtype="bfloat16", device="cpu").generate_until(
        requests, disable_tqdm=True
    )


@pytest.mark.parametrize("dtype, layout, every", HALF_CASES)
def test_half_precision_as_hf_in_the_same_dtype(requests, dtype, layout, every, monkeypatch, hf_bfloat16_answers):
    """In half precision cached prefixes and batched rows round differently enough to change
    greedy tokens; the steps whose top two logits are within the dtype's rounding
    (``logits_near_tie(..., dtype)``, as the multiple-choice scorer's near ties) are re-decided by
    HFLM's batch-1 path, and the text equals HFLM's batch 1 in the same dtype. (``every``: a
    share of the documents, to keep the test short; the re-decisions make half precision slow.)"""
    requests = requests[::every]
    if (dtype, layout, every) == ("bfloat16", "gptneox", 1):
        want = hf_bfloat16_answers
    else:
        want = HFLM(pretrained=model_dir(layout), batch_size=1, dtype=dtype, device="cpu").generate_until(
            requests, disable_tqdm=True
        )
    lm = ours(layout, 8, dtype)
    assert lm.model.dtype == getattr(torch, dtype)
    assert lm.generate_until(requests, disable_tqdm=True) == want
    assert lm.generation_counters.redone > 10
    # a row's second near tie has the batch-1 path generate the whole document: at most two per row
    assert lm.generation_counters.redone <= 2 * len(requests)
    if every == 1:  # without the re-decision 6 of the 54 documents' text differs here
        monkeypatch.setattr(generation, "logits_near_tie", lambda top, runner_up, dtype: False)
        assert lm.generate_until(requests, disable_tqdm=True) != want


def test_half_precision_near_ties_kept(requests, hf_bfloat16_answers):
    """near_ties="keep" in bf16: no step goes to the batch-1 path, every step near a tie is counted
    (here most documents have several: the bf16 bound is wide), and only documents with one kept
    can differ from HFLM's batch-1 text; the engine forwards within its minimum (nothing re-decided)."""
    lm = ours("gptneox", 8, "bfloat16", near_ties="keep")
    got = lm.generate_until(requests, disable_tqdm=True)
    counters, records = lm.generation_counters, lm.last_generated
    assert counters.redone == 0 and counters.near_ties_kept > 10
    assert sum(r.near_ties_kept for r in records) == counters.near_ties_kept
    assert all(records[i].near_ties_kept > 0 for i, (a, b) in enumerate(zip(got, hf_bfloat16_answers)) if a != b)
    assert got != hf_bfloat16_answers  # kept ties changed some text here (6 of 54 documents when written)
    assert counters.positions_forwarded - counters.padding_positions <= 1.05 * counters.minimum_positions
    with pytest.raises(ValueError, match="near_ties is one of redecide, keep"):
        ours("gptneox", 8, near_ties="batch")
