"""Our evaluator against golden values from the reference harness's own code.

tests/golden/reference_tiny_gptneox.json was made once by running Beomi/ko-lm-evaluation-harness
(commit b4bd6f6, lm-evaluation-harness v0.3 fork) offline on CPU, in its own virtual
environment, on the committed fixtures tests/fixtures/tiny-gptneox and tiny-gptneox-lm (float32, batch size 1,
limit 24, 0 and 5 shots, all five KoBEST tasks, the local v1.0 TSVs in place of the hub);
tests/golden/make_reference_golden.py and tests/golden/README.md say exactly how. The *_bf16
files were made the same way with bf16 weights.
"""

import hashlib
import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from polyplatypus.data.kobest import load_kobest
from polyplatypus.eval.metrics import macro_f1, predict
from polyplatypus.eval.precision import error_bound, near_tie
from polyplatypus.eval.requests import build_requests
from polyplatypus.eval.scorer import RequestScorer, encode_requests
from polyplatypus.eval.shared_context import SharedContextScorer
from polyplatypus.tasks import get_task

ROOT = Path(__file__).parents[1]
# golden file -> fixture model it was made on (random weights; the same after a short LM pre-training)
GOLDEN_FILES = {
    "reference_tiny_gptneox.json": "tiny-gptneox",
    "reference_tiny_gptneox_lm.json": "tiny-gptneox-lm",
    "reference_tiny_gptneox_bf16.json": "tiny-gptneox",
    "reference_tiny_gptneox_lm_bf16.json": "tiny-gptneox-lm",
}
GOLDEN = {name: json.loads((ROOT / "golden" / name).read_text(encoding="utf-8")) for name in GOLDEN_FILES}
DTYPES = {name: getattr(torch, golden["provenance"]["dtype"]) for name, golden in GOLDEN.items()}
CASES = [
    (name, c["task"], c["shots"])
    for name, golden in GOLDEN.items()
    for c in golden["cells"]
    if DTYPES[name] == torch.float32
]
HALF_CASES = [
    (name, c["task"], c["shots"])
    for name, golden in GOLDEN.items()
    for c in golden["cells"]
    if DTYPES[name] != torch.float32
]


@pytest.fixture(scope="module")
def models():
    loaded = {}
    for name, fixture in GOLDEN_FILES.items():
        path = ROOT / "fixtures" / fixture
        loaded[name] = (
            AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[name]).eval(),
            AutoTokenizer.from_pretrained(path),
        )
    return loaded


def _cell_requests(kobest_dir, name, task_name, shots):
    cell = next(c for c in GOLDEN[name]["cells"] if (c["task"], c["shots"]) == (task_name, shots))
    task = get_task(task_name)
    requests = build_requests(
        task,
        load_kobest(task.source, "test", kobest_dir),
        load_kobest(task.source, "train", kobest_dir),
        shots,
        limit=len(cell["docs"]),
    )
    return cell, requests


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_file_covers_every_task_at_0_and_5_shots(name):
    cells = sorted((c["task"], c["shots"]) for c in GOLDEN[name]["cells"])
    assert cells == sorted(
        (t, k)
        for t in ("kobest_boolq", "kobest_copa", "kobest_hellaswag", "kobest_sentineg", "kobest_wic")
        for k in (0, 5)
    )
    assert any(d["truncated"] for c in GOLDEN[name]["cells"] for d in c["docs"])  # truncation is covered
    assert GOLDEN[name]["provenance"]["model_fixture"].endswith(GOLDEN_FILES[name])
    assert GOLDEN[name]["provenance"]["batch_size"] == 1


@pytest.mark.parametrize("name,task_name,shots", CASES)
def test_matches_reference_harness(kobest_dir, models, name, task_name, shots):
    cell = next(c for c in GOLDEN[name]["cells"] if (c["task"], c["shots"]) == (task_name, shots))
    task = get_task(task_name)
    requests = build_requests(
        task,
        load_kobest(task.source, "test", kobest_dir),
        load_kobest(task.source, "train", kobest_dir),
        shots,
        limit=len(cell["docs"]),
    )
    # Same documents in the same order, with byte-identical contexts and continuations.
    assert [r.doc_index for r in requests] == [d["doc_index"] for d in cell["docs"]]
    for request, doc in zip(requests, cell["docs"]):
        assert hashlib.sha256(request.context.encode("utf-8")).hexdigest() == doc["context_sha256"]
        assert list(request.continuations) == doc["continuations"]
        assert request.gold == doc["gold"]
    model, tokenizer = models[name]
    for scorer in (RequestScorer(model, tokenizer), SharedContextScorer(model, tokenizer, batch_size=4)):
        scored = scorer.score(requests)
        for result, doc in zip(scored, cell["docs"]):
            assert result.loglikelihoods == pytest.approx(doc["loglikelihoods"], rel=1e-5, abs=1e-4)
            assert result.truncated == doc["truncated"]
        preds = [predict(s.loglikelihoods) for s in scored]
        assert macro_f1([r.gold for r in requests], preds) == pytest.approx(cell["macro_f1"], abs=1e-12)


@pytest.mark.parametrize("name,task_name,shots", HALF_CASES)
def test_half_precision_predictions_equal_the_reference_harness(kobest_dir, models, name, task_name, shots):
    """bf16 goldens from the harness's own code (bf16 weights, log-softmax and sums in bf16, batch 1).

    The reference path reproduces each loglikelihood (to one bf16 step, so another CPU's kernels
    may round differently); the shared path differs from it by less than the error bound of
    polyplatypus.eval.precision, and after re-scoring its near-ties every prediction, and so the
    F1, equals the harness's.
    """
    cell, requests = _cell_requests(kobest_dir, name, task_name, shots)
    model, tokenizer = models[name]
    dtype = DTYPES[name]
    step = torch.finfo(dtype).eps
    for result, doc in zip(RequestScorer(model, tokenizer).score(requests), cell["docs"]):
        for got, want in zip(result.loglikelihoods, doc["loglikelihoods"]):
            assert abs(got - want) <= step * max(1.0, abs(want))
    scorer = SharedContextScorer(model, tokenizer, batch_size=4, rescore_near_ties=False)
    encoded = encode_requests(tokenizer, requests)
    raw = scorer.score(requests)
    for result, doc, enc in zip(raw, cell["docs"], encoded):
        for got, want, tokens in zip(result.loglikelihoods, doc["loglikelihoods"], enc.continuations):
            assert abs(got - want) <= error_bound(want, len(tokens), dtype)
    final = scorer.rescore(encoded, raw)
    assert all(
        r.rescored == near_tie(s.loglikelihoods, [len(c) for c in e.continuations], dtype)
        for r, s, e in zip(final, raw, encoded)
    )
    preds = [predict(s.loglikelihoods) for s in final]
    assert preds == [predict(doc["loglikelihoods"]) for doc in cell["docs"]]
    assert macro_f1([r.gold for r in requests], preds) == pytest.approx(cell["macro_f1"], abs=1e-12)
