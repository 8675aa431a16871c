"""Exact evaluation on every layout ``train`` names, sliding-window layers included.

Gemma 3 and EXAONE 4 alternate sliding-window layers (here: 16 tokens) with full-attention ones.
The shared-context scorer passes its own 4D mask, which transformers applies to every layer as
is; a 5-shot HellaSwag context is far longer than the window, and 0-shot COPA rows are packed
side by side in lines at batch 8, so both the shared and the packed masks are exercised. The
references: the reference path (one row per choice, the model's own masks), a straightforward
one-call-per-request implementation, and lm-eval 0.4.13's own ``hf`` engine.
"""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from polyplatypus.data.kobest import load_kobest
from polyplatypus.eval.requests import build_requests
from polyplatypus.eval.scorer import RequestScorer
from polyplatypus.eval.shared_context import SharedContextScorer
from polyplatypus.models import attention
from polyplatypus.models.tiny import LAYOUTS, TINY_SLIDING_WINDOW
from polyplatypus.tasks import get_task
from tests.eval.straightforward import straightforward_loglikelihood

SLIDING = ("gemma3_text", "gemma3", "exaone4")
CELLS = [("kobest_hellaswag", 5), ("kobest_copa", 0)]


@pytest.fixture(scope="module")
def load(tiny_layout_dir):
    loaded = {}

    def get(arch):
        if arch not in loaded:
            path = tiny_layout_dir(arch)
            loaded[arch] = (
                AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval(),
                AutoTokenizer.from_pretrained(path),
            )
        return loaded[arch]

    return get


def _requests(kobest_dir, name, shots, limit=6):
    task = get_task(name)
    return build_requests(
        task, load_kobest(task.source, "test", kobest_dir), load_kobest(task.source, "train", kobest_dir), shots, limit
    )


def _largest_difference(a, b) -> float:
    return max(abs(x - y) for one, other in zip(a, b) for x, y in zip(one.loglikelihoods, other.loglikelihoods))


@pytest.mark.parametrize("arch", LAYOUTS)
@pytest.mark.parametrize("name, shots", CELLS)
def test_shared_and_packed_rows_score_as_the_reference_path(load, kobest_dir, arch, name, shots):
    model, tokenizer = load(arch)
    requests = _requests(kobest_dir, name, shots)
    assert max(len(tokenizer(r.context).input_ids) for r in requests) > TINY_SLIDING_WINDOW
    reference = RequestScorer(model, tokenizer).score(requests)
    shared = SharedContextScorer(model, tokenizer, batch_size=8, rescore_near_ties=False).score(requests)
    assert _largest_difference(shared, reference) < 1e-4
    first = requests[0]
    naive = [straightforward_loglikelihood(model, tokenizer, first.context, c)[0] for c in first.continuations]
    assert reference[0].loglikelihoods == pytest.approx(naive, rel=1e-5, abs=1e-4)


@pytest.mark.parametrize("arch", SLIDING)
def test_one_mask_for_every_layer_would_let_sliding_layers_see_too_far(load, kobest_dir, arch, monkeypatch):
    """What the per-layer-type masks fix: without them the sliding layers get the full-attention mask."""
    model, tokenizer = load(arch)
    requests = _requests(kobest_dir, "kobest_hellaswag", 5)
    reference = RequestScorer(model, tokenizer).score(requests)
    masks = attention.masks_per_layer_type(
        model.config, torch.ones(1, 1, 2, 2, dtype=torch.bool), torch.tensor([[0, 1]])
    )
    assert set(masks) == {attention.FULL, attention.SLIDING}
    monkeypatch.setattr(attention, "masks_per_layer_type", lambda config, allowed, positions: allowed)
    one_mask = SharedContextScorer(model, tokenizer, batch_size=8, rescore_near_ties=False).score(requests)
    assert _largest_difference(one_mask, reference) > 1e-3


def test_windowed_mask_hides_keys_a_window_or_more_back(load):
    model, _ = load("exaone4")
    positions = torch.tensor([[0, 1, 2, 3, 16, 17, 16, 17]])  # a context, then two continuations at 16
    allowed = torch.ones(1, 1, 8, 8, dtype=torch.bool).tril()
    masks = attention.masks_per_layer_type(model.config, allowed, positions)
    assert torch.equal(masks[attention.FULL], allowed)
    sliding = masks[attention.SLIDING][0, 0]
    assert sliding[4].tolist() == [False, True, True, True, True, False, False, False]  # 16 - 0 = 16: out
    assert sliding[7].tolist() == [False, False, True, True, True, True, True, True]
    llama, _ = load("llama")
    assert attention.masks_per_layer_type(llama.config, allowed, positions) is allowed


@pytest.fixture(scope="module")
def polyglot_models(polyglot_tokenizer):
    from polyplatypus.models.tiny import build_tiny_model

    return {
        arch: build_tiny_model(polyglot_tokenizer, arch, seed=5, hidden_size=32, layers=2, heads=4, max_positions=256)
        for arch in SLIDING
    }


@pytest.mark.parametrize("arch", SLIDING)
def test_sliding_window_layouts_match_lm_eval_hf(polyglot_models, polyglot_tokenizer, lm_eval_tasks, kobest_dir, arch):
    """lm-eval 0.4.13's ``hf`` engine (HFLM, batch 1) against our engine at batch 4: 3-shot contexts
    longer than the window and than the 256-token model (left truncation)."""
    pytest.importorskip("lm_eval")
    from tests.eval.test_lm_eval_parity import assert_same_as_lm_eval

    _, record, _ = assert_same_as_lm_eval(
        polyglot_models[arch], polyglot_tokenizer, "kobest_hellaswag_tsv", 3, 3, lm_eval_tasks, batch_size=4
    )
    assert record["truncated"] > 0


def test_a_model_whose_every_layer_slides_gets_the_windowed_mask_alone():
    from transformers import MistralConfig

    config = MistralConfig(num_hidden_layers=2, sliding_window=2)
    positions = torch.arange(4)[None]
    allowed = torch.ones(1, 1, 4, 4, dtype=torch.bool).tril()
    mask = attention.masks_per_layer_type(config, allowed, positions)
    assert torch.equal(mask[0, 0], torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]]).bool())
    config.sliding_window = None
    assert attention.masks_per_layer_type(config, allowed, positions) is allowed
