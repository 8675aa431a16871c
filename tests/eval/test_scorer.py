"""Both scorers against the naive one-call-per-request implementation, on real KoBEST documents.

The GPT-NeoX fixture has a maximum length of 384, so 5-shot BoolQ, HellaSwag and WiC contexts
are cut from the left and truncation is exercised; the Llama model covers the other layout.
"""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from polyplatypus.data.kobest import load_kobest
from polyplatypus.eval.requests import build_requests
from polyplatypus.eval.scorer import RequestScorer
from polyplatypus.eval.shared_context import (
    PAD_BRANCH,
    PAD_SEGMENT,
    SharedContextScorer,
    allowed_pairs,
    pack_document,
)
from polyplatypus.tasks import all_task_names, get_task
from tests.eval.straightforward import straightforward_loglikelihood

LIMIT = 6


def _load(path):
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval(), AutoTokenizer.from_pretrained(path)


@pytest.fixture(scope="module")
def neox(tiny_gptneox_dir):
    return _load(tiny_gptneox_dir)


@pytest.fixture(scope="module")
def llama(tiny_llama_dir):
    return _load(tiny_llama_dir)


def _requests(kobest_dir, name, shots, limit=LIMIT):
    task = get_task(name)
    return build_requests(
        task, load_kobest(task.source, "test", kobest_dir), load_kobest(task.source, "train", kobest_dir), shots, limit
    )


@pytest.mark.parametrize("arch", ["neox", "llama"])
@pytest.mark.parametrize("name", all_task_names())
@pytest.mark.parametrize("shots", [0, 5])
def test_scorers_match_naive_implementation(request, kobest_dir, arch, name, shots):
    model, tokenizer = request.getfixturevalue(arch)
    requests = _requests(kobest_dir, name, shots)
    naive = [[straightforward_loglikelihood(model, tokenizer, r.context, c) for c in r.continuations] for r in requests]
    for scorer in (RequestScorer(model, tokenizer), SharedContextScorer(model, tokenizer, batch_size=3)):
        scored = scorer.score(requests)
        for want, got in zip(naive, scored):
            assert got.loglikelihoods == pytest.approx([ll for ll, _ in want], rel=1e-5, abs=1e-4)
            assert got.truncated == any(t for _, t in want)


def test_truncation_is_exercised(kobest_dir, neox):
    model, tokenizer = neox
    scored = RequestScorer(model, tokenizer).score(_requests(kobest_dir, "kobest_boolq", 5))
    assert all(s.truncated for s in scored)
    scored = RequestScorer(model, tokenizer).score(_requests(kobest_dir, "kobest_copa", 0))
    assert not any(s.truncated for s in scored)


@pytest.mark.parametrize("name", ["kobest_hellaswag", "kobest_boolq"])
def test_batched_equals_unbatched(kobest_dir, neox, name):
    model, tokenizer = neox
    requests = _requests(kobest_dir, name, 0, limit=12)
    for cls in (RequestScorer, SharedContextScorer):
        one = cls(model, tokenizer, batch_size=1).score(requests)
        many = cls(model, tokenizer, batch_size=5).score(requests)
        for a, b in zip(one, many):
            assert b.loglikelihoods == pytest.approx(a.loglikelihoods, rel=1e-5, abs=1e-4)


def test_shared_context_forwards_each_context_once(kobest_dir, neox):
    model, tokenizer = neox
    requests = _requests(kobest_dir, "kobest_hellaswag", 0, limit=10)
    reference = RequestScorer(model, tokenizer).score(requests)
    shared = SharedContextScorer(model, tokenizer, batch_size=1).score(requests)
    for ref, fast in zip(reference, shared):
        assert fast.forwarded_tokens <= fast.minimum_tokens  # the last token of each choice is never an input
        assert ref.forwarded_tokens > 2 * fast.forwarded_tokens  # four choices re-encode the context


def test_packed_row_layout():
    (row,) = pack_document([1, 2, 3], [[7, 8], [9]], max_length=100)
    assert row.tokens == [1, 2, 3, 7]
    assert row.positions == [0, 1, 2, 3]
    assert row.branch_of == [-1, -1, -1, 0]
    assert row.targets == [(0, [2, 3], [7, 8]), (1, [2], [9])]
    # Truncated: the windows keep different context when continuation lengths differ.
    first, second = pack_document([1, 2, 3, 4], [[7, 8], [9]], max_length=4)
    assert (first.tokens, first.positions) == ([2, 3, 4, 7], [0, 1, 2, 3])
    assert (second.tokens, second.positions) == ([1, 2, 3, 4], [0, 1, 2, 3])


def test_mask_of_a_packed_row():
    """Context [c c], continuation 0 [a a], continuation 1 [b], one pad: each continuation sees the
    context and its own earlier tokens; the pad sees itself only; no row is empty."""
    branch = torch.tensor([[-1, -1, 0, 0, 1, PAD_BRANCH]])
    want = torch.tensor(
        [
            [1, 0, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0],
            [1, 1, 1, 0, 0, 0],
            [1, 1, 1, 1, 0, 0],
            [1, 1, 0, 0, 1, 0],
            [0, 0, 0, 0, 0, 1],
        ],
        dtype=torch.bool,
    )
    assert torch.equal(allowed_pairs(branch)[0, 0], want)
    (row,) = pack_document([5, 6], [[7, 7, 9], [8, 9]], max_length=100)
    assert row.branch_of == [-1, -1, 0, 0, 1] and not row.causal
    (row,) = pack_document([5, 6], [[7, 7, 9], [8]], max_length=100)
    assert row.causal  # only one continuation has tokens past the context: no mask needed


def test_mask_of_a_line_holding_two_rows():
    """Row 0 = context [c] + continuation [a], row 1 = context [d d] + continuation [e], two pads:
    nothing of one row is visible from the other, and each row's context restarts its view."""
    branch = torch.tensor([[-1, 0, -1, -1, 0, PAD_BRANCH, PAD_BRANCH]])
    segment = torch.tensor([[0, 0, 1, 1, 1, PAD_SEGMENT, PAD_SEGMENT]])
    want = torch.tensor(
        [
            [1, 0, 0, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0, 0],
            [0, 0, 1, 0, 0, 0, 0],
            [0, 0, 1, 1, 0, 0, 0],
            [0, 0, 1, 1, 1, 0, 0],
            [0, 0, 0, 0, 0, 1, 0],
            [0, 0, 0, 0, 0, 1, 1],
        ],
        dtype=torch.bool,
    )
    assert torch.equal(allowed_pairs(branch, segment)[0, 0], want)


@pytest.mark.parametrize("name", ["kobest_boolq", "kobest_hellaswag", "kobest_copa"])
def test_packed_lines_score_as_one_row_each(kobest_dir, neox, name, monkeypatch):
    """Rows of very different lengths at batch 8: lines hold several rows end to end; every
    loglikelihood equals batch 1's (fp32 tolerance: other batch shapes, other kernels) and far
    fewer tokens are forwarded than when each row is padded to its batch's longest."""
    from polyplatypus.eval import batching

    model, tokenizer = neox
    requests = _requests(kobest_dir, name, 0, limit=16)  # 0-shot: rows far from the fixture's 384 cut
    one = SharedContextScorer(model, tokenizer, batch_size=1).score(requests)
    packed = SharedContextScorer(model, tokenizer, batch_size=8).score(requests)
    for a, b in zip(one, packed):
        assert b.loglikelihoods == pytest.approx(a.loglikelihoods, rel=1e-5, abs=1e-4)
    minimum = sum(doc.minimum_tokens for doc in one)
    assert sum(doc.forwarded_tokens for doc in packed) <= 1.05 * minimum
    monkeypatch.setattr(batching, "PACK_ABOVE_PADDING", float("inf"))  # every batch plain padded rows
    padded_rows = SharedContextScorer(model, tokenizer, batch_size=8).score(requests)
    assert sum(doc.forwarded_tokens for doc in padded_rows) > sum(doc.forwarded_tokens for doc in packed)


def test_bfloat16_scores_agree_within_one_bf16_step(kobest_dir):
    """In bf16 the reference sums log-probabilities in bf16, so the two scorers may differ by the
    rounding of that sum: at most one bf16 step (a relative 2**-7). Measured on CPU; the same
    bound is the stated tolerance for bf16 on GPUs."""
    from pathlib import Path

    path = Path(__file__).parents[1] / "fixtures" / "tiny-gptneox-lm"
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    for name in ("kobest_sentineg", "kobest_copa", "kobest_boolq"):
        requests = _requests(kobest_dir, name, 0, limit=20)
        reference = RequestScorer(model, tokenizer).score(requests)
        shared = SharedContextScorer(model, tokenizer, batch_size=4).score(requests)
        for a, b in zip(reference, shared):
            for x, y in zip(a.loglikelihoods, b.loglikelihoods):
                assert abs(x - y) <= 2**-7 * max(1.0, abs(x))
