"""Our evaluator against golden values from the reference harness's own code.

tests/golden/reference_tiny_gptneox.json was made once by running Beomi/ko-lm-evaluation-harness
(commit b4bd6f6, lm-evaluation-harness v0.3 fork) offline on CPU, in its own virtual
environment, on the committed fixture tests/fixtures/tiny-gptneox (float32, batch size 1,
limit 24, 0 and 5 shots, all five KoBEST tasks, the local v1.0 TSVs in place of the hub);
tests/golden/make_reference_golden.py and tests/golden/README.md say exactly how.
"""

import hashlib
import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from polyplatypus.data.kobest import load_kobest
from polyplatypus.eval.metrics import macro_f1, predict
from polyplatypus.eval.requests import build_requests
from polyplatypus.eval.scorer import RequestScorer
from polyplatypus.eval.shared_context import SharedContextScorer
from polyplatypus.tasks import get_task

GOLDEN = json.loads((Path(__file__).parents[1] / "golden" / "reference_tiny_gptneox.json").read_text(encoding="utf-8"))
CELLS = {(c["task"], c["shots"]): c for c in GOLDEN["cells"]}


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_gptneox_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_gptneox_dir, dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(tiny_gptneox_dir)


def test_golden_file_covers_every_task_at_0_and_5_shots():
    assert sorted(CELLS) == sorted((t, k) for t in ("kobest_boolq", "kobest_copa", "kobest_hellaswag",
                                                     "kobest_sentineg", "kobest_wic") for k in (0, 5))
    assert any(d["truncated"] for c in GOLDEN["cells"] for d in c["docs"])  # truncation is covered


@pytest.mark.parametrize("task_name,shots", sorted(CELLS))
def test_matches_reference_harness(kobest_dir, model_and_tokenizer, task_name, shots):
    cell = CELLS[(task_name, shots)]
    task = get_task(task_name)
    requests = build_requests(task, load_kobest(task.source, "test", kobest_dir),
                              load_kobest(task.source, "train", kobest_dir), shots, limit=len(cell["docs"]))
    # Same documents in the same order, with byte-identical contexts and continuations.
    assert [r.doc_index for r in requests] == [d["doc_index"] for d in cell["docs"]]
    for request, doc in zip(requests, cell["docs"]):
        assert hashlib.sha256(request.context.encode("utf-8")).hexdigest() == doc["context_sha256"]
        assert list(request.continuations) == doc["continuations"]
        assert request.gold == doc["gold"]
    model, tokenizer = model_and_tokenizer
    for scorer in (RequestScorer(model, tokenizer), SharedContextScorer(model, tokenizer, batch_size=4)):
        scored = scorer.score(requests)
        for result, doc in zip(scored, cell["docs"]):
            assert result.loglikelihoods == pytest.approx(doc["loglikelihoods"], rel=1e-5, abs=1e-4)
            assert result.truncated == doc["truncated"]
        preds = [predict(s.loglikelihoods) for s in scored]
        assert macro_f1([r.gold for r in requests], preds) == pytest.approx(cell["macro_f1"], abs=1e-12)
