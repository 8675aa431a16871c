"""The generation engine gives lm-eval 0.4.13's ``hf`` text at batch size 1, at any batch size.

The reference is a real ``HFLM(batch_size=1).generate_until`` run. The model
(tests/fixtures/tiny-gptneox-gen) was trained briefly so that it ends reviews with a blank line
and prose paragraphs with EOS: one batch holds rows stopping by string, by EOS and by length.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from polyplatypus.errors import ConfigError

pytest.importorskip("lm_eval")

from lm_eval.api.instance import Instance  # noqa: E402
from lm_eval.models.huggingface import HFLM  # noqa: E402

from polyplatypus.eval import generation  # noqa: E402
from polyplatypus.eval.lm_eval_engine import SharedContextLM  # noqa: E402

MODEL = Path(__file__).parents[1] / "fixtures" / "tiny-gptneox-gen"
CORPUS = Path(__file__).parents[2] / "src" / "polyplatypus" / "assets" / "corpus"
REVIEW_KWARGS = {"until": ["\n\n", "배"], "max_gen_toks": 24}  # " 배" is generated as two byte pieces
PROSE_KWARGS = {"until": ["(부정)"], "max_gen_toks": 12, "do_sample": False}  # a three-token stop string


def paragraphs(prose: bool) -> list[str]:
    files = [p for p in sorted(CORPUS.glob("*.txt")) if p.name.startswith("2") != prose]
    return [t.strip() for p in files for t in p.read_text(encoding="utf-8").split("\n\n")[1:] if t.strip()]


def contexts() -> list[tuple[str, dict]]:
    """Task shapes: first_n shots (one shared prefix), random-order shots, 0-shot, 24 shots (cut from
    the left: the model holds 256 tokens), and prose openings under other kwargs."""
    rng = random.Random(3)
    reviews, prose = paragraphs(prose=False), paragraphs(prose=True)
    queries = [r[: rng.randint(2, len(r) - 4)] for r in reviews[200:240]]
    shapes = {
        "first_n": lambda q: "\n\n".join(reviews[:3] + [q]),
        "random": lambda q: "\n\n".join(rng.sample(reviews[:60], 3) + [q]),
        "zero": lambda q: q,
        "long": lambda q: "\n\n".join(reviews[60:84] + [q]),
    }
    requests = [(shape(q), dict(REVIEW_KWARGS)) for shape in shapes.values() for q in queries[:10]]
    return requests + [(p[:10], dict(PROSE_KWARGS)) for p in prose[::9][:16]]


def instances(pairs):
    return [Instance("generate_until", {}, pair, i) for i, pair in enumerate(pairs)]


@pytest.fixture(scope="module")
def requests():
    return instances(contexts())


@pytest.fixture(scope="module")
def hf_answers(requests):
    return HFLM(pretrained=str(MODEL), batch_size=1, dtype="float32", device="cpu").generate_until(
        requests, disable_tqdm=True
    )


def ours(batch_size, **kwargs):
    return SharedContextLM(pretrained=str(MODEL), batch_size=batch_size, dtype="float32", device="cpu", **kwargs)


@pytest.mark.parametrize("batch_size", [1, 8, "auto"])
def test_same_text_as_hf_at_batch_one(requests, hf_answers, batch_size):
    lm = ours(batch_size)
    seen = {}
    lm.on_generated = seen.__setitem__
    assert lm.generate_until(requests, disable_tqdm=True) == hf_answers
    assert seen == dict(enumerate(hf_answers))
    records = lm.last_generated
    assert [r.text for r in records] == hf_answers
    review_reasons = Counter(r.stop_reason for r, q in zip(records, requests) if q.args[1] == REVIEW_KWARGS)
    assert set(review_reasons) == {"stop", "eos", "length"}, review_reasons
    assert {r.stop_reason for r, q in zip(records, requests) if q.args[1] == PROSE_KWARGS} >= {"eos", "length"}
    assert all(
        r.n_tokens == (REVIEW_KWARGS if q.args[1] == REVIEW_KWARGS else PROSE_KWARGS)["max_gen_toks"]
        for r, q in zip(records, requests)
        if r.stop_reason == "length"
    )
    counters = lm.generation_counters
    assert counters.documents == len(requests)
    assert counters.positions_forwarded - counters.padding_positions <= 1.05 * counters.minimum_positions
    if batch_size == 1:
        assert counters.padding_positions == 0


def test_the_documents_cover_the_hard_cases(requests, hf_answers):
    lm = ours(8)
    lm.generate_until(requests, disable_tqdm=True)
    tokenizer = lm.tokenizer
    # rows stop at "배" whose bytes were generated in two tokens, neither a whole character
    split = tokenizer.encode(" 배", add_special_tokens=False)
    assert len(split) == 2 and all("\ufffd" in tokenizer.decode([t]) for t in split)
    assert any(r.stop_reason == "stop" and r.tokens[-2:] == split and "배" not in r.text for r in lm.last_generated)
    assert len(tokenizer.encode("(부정)", add_special_tokens=False)) > 1
    # left truncation is active: 24-shot contexts exceed max_length - max_gen_toks
    longest = max(len(tokenizer.encode(q.args[0])) for q in requests)
    assert longest > lm.max_length - REVIEW_KWARGS["max_gen_toks"]


def batch_one_asks(lm, monkeypatch) -> list[int]:
    """The new tokens each call of ``lm``'s batch-1 path (HFLM._model_generate) is asked for, as it runs."""
    asked = []
    batch_one = lm._model_generate

    def recorded(context, max_length, **kwargs):
        asked.append(max_length - context.shape[1])
        return batch_one(context=context, max_length=max_length, **kwargs)

    monkeypatch.setattr(lm, "_model_generate", recorded)
    return asked


def test_near_ties_are_redecided_by_hf_batch_one_path(monkeypatch, requests, hf_answers):
    calls = []

    def every_seventh_step_tied(top, runner_up, dtype):
        calls.append(1)
        return len(calls) % 7 == 0

    monkeypatch.setattr(generation, "logits_near_tie", every_seventh_step_tied)
    lm = ours(8)
    asked = batch_one_asks(lm, monkeypatch)
    assert lm.generate_until(requests, disable_tqdm=True) == hf_answers
    assert lm.generation_counters.redone > 5
    # the batch-1 path runs only up to the tied step, and the row goes on in the batch
    assert len(asked) == lm.generation_counters.redone and min(asked) < max(asked)


def test_rows_mostly_tied_twice_are_generated_whole_at_their_first_tie(monkeypatch, requests, hf_answers):
    """Every step a near tie (half precision comes close): the first rows are re-decided up to their
    first tie and then, at their second, generated whole by the batch-1 path; once most rows have
    had a second, later rows are generated whole at their first (one batch-1 prefill, not two).
    The text is hf's at batch 1 either way."""
    monkeypatch.setattr(generation, "logits_near_tie", lambda top, runner_up, dtype: True)
    lm = ours(8)
    asked = batch_one_asks(lm, monkeypatch)
    assert lm.generate_until(requests, disable_tqdm=True) == hf_answers
    up_to_a_step = [n for n in asked if n == 1]  # every first tie is at a row's first token here
    # the first rows admitted (batch 8) of each of the two groups of generation kwargs (an engine each)
    assert generation.SECOND_TIE_SAMPLE <= len(up_to_a_step) <= 2 * 8
    assert len(asked) <= len(requests) + len(up_to_a_step) < 2 * len(requests)


def test_when_every_row_meets_a_near_tie_later_documents_skip_the_batch(monkeypatch, requests, hf_answers):
    """Every step a near tie: once the first rows admitted (8 here, batch 8) have all met one, the
    later documents are generated whole by the batch-1 path at once, without being prefilled in the
    batch; the text is still hf's at batch 1."""
    monkeypatch.setattr(generation, "logits_near_tie", lambda top, runner_up, dtype: True)
    prefilled = []
    prefill = generation.PrefixCache.prefill

    def counting(self, documents):
        prefilled.extend(documents)
        return prefill(self, documents)

    monkeypatch.setattr(generation.PrefixCache, "prefill", counting)
    lm = ours(8)
    assert lm.generate_until(requests, disable_tqdm=True) == hf_answers
    # the first 8 of each of the two groups of generation kwargs (an engine each), then one in 8
    later = len(requests) - 2 * generation.ADMITTED_SAMPLE
    assert len(prefilled) <= 2 * generation.ADMITTED_SAMPLE + later // generation.RESAMPLE_EVERY + 2
    counters = lm.generation_counters
    assert counters.sent_whole + len(prefilled) == len(requests) and counters.sent_whole > later / 2
    # near ties counted only where met: in the rows admitted, at most two each (up to a step, then whole)
    assert len(prefilled) <= counters.redone <= 2 * len(prefilled)


def test_batching_resumes_when_the_first_rows_near_ties_were_not_typical(monkeypatch, hf_answers, requests):
    """Near ties at the first step of the first 8 documents only (neighbours in token order can share
    one): the later documents skip the batch for a while, the ones still admitted meet no tie, and
    batching resumes; only the near ties met are counted as re-decided."""
    met = []

    def first_eight_tied(top, runner_up, dtype):
        met.append(len(met) < 8)
        return met[-1]

    monkeypatch.setattr(generation, "logits_near_tie", first_eight_tied)
    chosen = [i for i, r in enumerate(requests) if r.args[1] == REVIEW_KWARGS]  # one kwargs group: one engine
    reviews = [requests[i] for i in chosen]
    lm = ours(8)
    assert lm.generate_until(reviews, disable_tqdm=True) == [hf_answers[i] for i in chosen]
    counters = lm.generation_counters
    assert sum(met) == 8 == counters.redone
    assert 0 < counters.sent_whole < generation.RESAMPLE_EVERY < len(reviews) - 8


def test_near_ties_kept_take_the_batch_token_and_never_the_batch_one_path(monkeypatch, requests, hf_answers):
    """near_ties="keep": the same steps as above are near ties, each is counted per document and in
    all, and the batch's own token is taken (in fp32 it is the batch-1 path's here: the text is hf's)."""
    calls = []

    def every_seventh_step_tied(top, runner_up, dtype):
        calls.append(1)
        return len(calls) % 7 == 0

    monkeypatch.setattr(generation, "logits_near_tie", every_seventh_step_tied)
    lm = ours(8, near_ties="keep")
    monkeypatch.setattr(lm, "_model_generate", lambda **kwargs: pytest.fail("the batch-1 path was asked"))
    assert lm.generate_until(requests, disable_tqdm=True) == hf_answers
    counters = lm.generation_counters
    assert counters.near_ties_kept == len(calls) // 7 > 5 and counters.redone == 0
    assert sum(r.near_ties_kept for r in lm.last_generated) == counters.near_ties_kept


def test_repetition_penalty_and_thinking_strings_as_hf():
    pairs = [
        (p[:12], {"until": ["\n\n"], "max_gen_toks": 20, "repetition_penalty": 1.5})
        for p in paragraphs(prose=True)[::11][:12]
    ]
    want = HFLM(
        pretrained=str(MODEL), batch_size=1, dtype="float32", device="cpu", think_end_token="다."
    ).generate_until(instances(pairs), disable_tqdm=True)
    lm = ours(4, think_end_token="다.")
    assert lm.generate_until(instances(pairs), disable_tqdm=True) == want
    assert any("다." in r.generation for r in lm.last_generated)


@pytest.mark.parametrize(
    "kwargs, named",
    [
        ({"do_sample": True, "temperature": 0.7}, "do_sample.*set do_sample=False or temperature=0 in the task's"),
        ({"temperature": 0.7}, "lm-eval sets it where temperature > 0.*set do_sample=False or temperature=0"),
        ({"num_beams": 4}, r"num_beams=4 \(from the task's generation_kwargs or --gen-kwargs\).*; leave it out"),
        ({"max_length": 64}, "max_length.*use max_gen_toks"),
        ({"output_scores": True}, "'output_scores'.*it takes until, max_gen_toks"),
    ],
)
def test_unsupported_generation_settings_are_refused_by_name(kwargs, named):
    lm = ours(2)
    with pytest.raises(ConfigError, match=named):
        lm.generate_until(instances([("오늘은", {"until": ["\n\n"], "max_gen_toks": 8, **kwargs})]), disable_tqdm=True)


def test_model_generation_config_settings_are_refused_by_name():
    lm = ours(2)
    lm.model.generation_config.no_repeat_ngram_size = 3
    with pytest.raises(ConfigError, match="no_repeat_ngram_size=3 .*generation_config.json.*remove it there"):
        lm.generate_until(instances([("오늘은", {"until": ["\n\n"], "max_gen_toks": 8})]), disable_tqdm=True)


def test_no_room_for_the_context_is_refused():
    lm = ours(2)
    with pytest.raises(ConfigError, match="max_gen_toks 256 leaves no room"):
        lm.generate_until(instances([("오늘은", {"until": ["\n\n"], "max_gen_toks": 256})]), disable_tqdm=True)


def test_minimum_positions_count_each_distinct_prefix_once():
    assert generation.minimum_prefix_positions([[1, 2, 3], [1, 2, 4], [1, 2, 3], [5]]) == 3 + 1 + 1


def test_prefill_groups_keep_what_neighbours_share():
    a, b, c = [1] * 40 + [2], [1] * 40 + [3], [1] * 40 + [4]
    # three documents sharing 40 positions prefill together; unrelated ones form their own run
    assert generation.prefill_groups([a, b, c, [5] * 30, [6] * 30]) == [[0, 1, 2], [3, 4]]
    # a first document sharing most with the kept cache is not re-forwarded for an unrelated next one
    assert generation.prefill_groups([b, [5] * 30], kept=a) == [[0], [1]]
    assert generation.prefill_groups([[5] * 30, [6] * 30], kept=a) == [[0, 1]]


def test_prefill_groups_bound_right_padding():
    # long contexts: 60 padding positions on 840 real ones (7%) cost more than another forward
    assert generation.prefill_groups([[1] * 400, [2] * 460]) == [[0], [1]]
    # within the small allowance (3% plus 32 positions) they are prefilled together
    assert generation.prefill_groups([[1] * 400, [2] * 420]) == [[0, 1]]
    # short contexts: 10 padding positions are cheaper than a forward of their own
    assert generation.prefill_groups([[5] * 10, [6] * 20]) == [[0, 1]]


def test_a_refilled_slot_keeps_no_finished_row_columns():
    import torch
    from transformers import AutoModelForCausalLM, DynamicCache

    model = AutoModelForCausalLM.from_pretrained(MODEL).eval()

    def prefilled(ids):
        cache = DynamicCache(config=model.config)
        model(input_ids=torch.tensor([ids]), cache=cache, use_cache=True)
        return cache

    batch = generation.DecodeBatch(model)
    batch.put(generation.Row(doc=0, context=list(range(5, 25)), tokens=[7]), prefilled(list(range(5, 25))))
    batch.step()
    # the finished 20-token row's slot takes a 6-token document: its 21 columns are dropped
    batch.put(generation.Row(doc=1, context=list(range(5, 11)), tokens=[7]), prefilled(list(range(5, 11))), slot=0)
    assert batch.width == 6 and batch.starts == [0]
    assert batch.cache.layers[0].keys.shape[2] == 6


def test_the_first_row_placed_owns_its_cache():
    """The decode batch's first row is copied out of the prefill cache: the prefix cache goes on being
    cropped and extended for the next documents, which must not reach the row being decoded."""
    import torch
    from transformers import AutoModelForCausalLM, DynamicCache

    model = AutoModelForCausalLM.from_pretrained(MODEL).eval()
    cache = DynamicCache(config=model.config)
    model(input_ids=torch.tensor([list(range(5, 25))]), cache=cache, use_cache=True)
    batch = generation.DecodeBatch(model)
    batch.put(generation.Row(doc=0, context=list(range(5, 25)), tokens=[7]), cache)
    placed = batch.cache.layers[0].keys.clone()
    cache.layers[0].keys.zero_()
    assert torch.equal(batch.cache.layers[0].keys, placed)


def test_auto_rows_count_the_room_each_row_keeps(monkeypatch):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(MODEL).eval()
    per_position = generation.kv_bytes_per_position(model)
    width = 1000
    row_bytes = generation.reserved_capacity(width) * per_position  # 1,125 positions: an eighth more
    monkeypatch.setattr(generation, "free_memory_bytes", lambda device: 10 * row_bytes / generation.MEMORY_FRACTION)
    assert generation.auto_rows(model, width) == 10
    monkeypatch.setattr(generation, "free_memory_bytes", lambda device: 10 * row_bytes / generation.MEMORY_FRACTION - 1)
    assert generation.auto_rows(model, width) == 9
