"""Scoring behaviour that depends on real token counts, with the real Polyglot-ko tokenizer.

The model is a tiny random GPT-NeoX with Polyglot-ko's vocabulary and a 256-token window, so
5-shot and 50-shot BoolQ contexts are cut where the real tokenizer cuts them: " 아니오" is two
tokens and " 예" one, so each answer keeps a different part of the context.
"""

import pytest

from polyplatypus.data.kobest import load_kobest
from polyplatypus.eval.requests import build_requests
from polyplatypus.eval.scorer import RequestScorer, encode_requests, minimum_tokens
from polyplatypus.eval.shared_context import SharedContextScorer, pack_document
from polyplatypus.tasks import get_task
from tests.eval.straightforward import straightforward_loglikelihood


def _requests(kobest_dir, name, shots, limit):
    task = get_task(name)
    return build_requests(
        task, load_kobest(task.source, "test", kobest_dir), load_kobest(task.source, "train", kobest_dir), shots, limit
    )


def test_token_counts_of_the_answers(polyglot_tokenizer):
    counts = {
        text: len(polyglot_tokenizer(text, add_special_tokens=False)["input_ids"])
        for text in (" 예", " 아니오", "아니오", " (긍정)", " (부정)")
    }
    assert counts == {" 예": 1, " 아니오": 2, "아니오": 2, " (긍정)": 3, " (부정)": 3}


@pytest.mark.parametrize("name,shots", [("kobest_hellaswag", 5), ("kobest_boolq", 5), ("kobest_copa", 0)])
def test_one_batched_call_tokenizes_like_one_call_per_text(kobest_dir, polyglot_tokenizer, name, shots):
    requests = _requests(kobest_dir, name, shots, limit=12)
    for request, doc in zip(requests, encode_requests(polyglot_tokenizer, requests)):
        assert doc.context == polyglot_tokenizer.encode(request.context, add_special_tokens=False)
        assert doc.continuations == [
            polyglot_tokenizer.encode(c, add_special_tokens=False) for c in request.continuations
        ]


def test_which_rows_need_a_mask(kobest_dir, polyglot_tokenizer):
    """BoolQ and WiC: only " 아니오" adds a token past the context, so their rows are plain causal;
    SentiNeg's three-token answers are two branches and need the mask."""
    max_length = 2048
    for name, causal in (("kobest_boolq", True), ("kobest_wic", True), ("kobest_sentineg", False)):
        for doc in encode_requests(polyglot_tokenizer, _requests(kobest_dir, name, 0, limit=5)):
            (row,) = pack_document(doc.context, doc.continuations, max_length)
            assert row.causal is causal


@pytest.mark.parametrize("shots", [5, 50])
def test_cut_boolq_contexts_differ_per_answer_and_scores_are_exact(kobest_dir, polyglot_neox, shots):
    model, tokenizer = polyglot_neox
    requests = _requests(kobest_dir, "kobest_boolq", shots, limit=4)
    encoded = encode_requests(tokenizer, requests)
    for doc in encoded:
        assert doc.truncated(256)
        assert len(pack_document(doc.context, doc.continuations, 256)) == 2  # each answer keeps its own cut
    naive = [[straightforward_loglikelihood(model, tokenizer, r.context, c) for c in r.continuations] for r in requests]
    for scorer in (RequestScorer(model, tokenizer, batch_size=3), SharedContextScorer(model, tokenizer, batch_size=3)):
        for want, got in zip(naive, scorer.score(requests)):
            assert got.loglikelihoods == pytest.approx([ll for ll, _ in want], rel=1e-5, abs=1e-4)
            assert got.truncated and all(t for _, t in want)
            assert got.forwarded_tokens <= got.minimum_tokens


@pytest.mark.parametrize(
    "name,shots", [("kobest_sentineg", 0), ("kobest_hellaswag", 0), ("kobest_copa", 5), ("kobest_wic", 5)]
)
def test_shared_scorer_exact_and_at_the_minimum(kobest_dir, polyglot_neox, name, shots):
    model, tokenizer = polyglot_neox
    requests = _requests(kobest_dir, name, shots, limit=6)
    reference = RequestScorer(model, tokenizer).score(requests)
    shared = SharedContextScorer(model, tokenizer, batch_size=4).score(requests)
    for ref, fast in zip(reference, shared):
        assert fast.loglikelihoods == pytest.approx(ref.loglikelihoods, rel=1e-5, abs=1e-4)
    # Unpadded (batch 1), the shared path forwards at most the minimum: a choice's last token is never an input.
    for doc, fast in zip(encode_requests(tokenizer, requests), SharedContextScorer(model, tokenizer).score(requests)):
        assert fast.forwarded_tokens <= minimum_tokens(doc.context, doc.continuations, 256) == fast.minimum_tokens


def test_eager_attention_gets_an_additive_mask(kobest_dir, polyglot_tokenizer):
    """Eager attention adds the mask to the scores, so the boolean mask SDPA takes is converted."""
    from polyplatypus.models.tiny import build_tiny_model

    model = build_tiny_model(
        polyglot_tokenizer, "gpt_neox", seed=3, hidden_size=32, layers=2, heads=4, max_positions=256
    )
    requests = _requests(kobest_dir, "kobest_copa", 0, limit=4)
    sdpa = SharedContextScorer(model, polyglot_tokenizer, batch_size=2).score(requests)
    model.set_attn_implementation("eager")
    eager = SharedContextScorer(model, polyglot_tokenizer, batch_size=2)
    assert not eager.boolean_mask
    for a, b in zip(sdpa, eager.score(requests)):
        assert b.loglikelihoods == pytest.approx(a.loglikelihoods, rel=1e-5, abs=1e-4)
