"""kohatespeech and kohatespeech_gen_bias against golden values from the reference harness's own code.

tests/golden/reference_hatespeech_tiny_gptneox{,_lm}.json were made by running
Beomi/ko-lm-evaluation-harness (commit b4bd6f6) offline on CPU in its own virtual environment, on
the committed fixtures (float32, batch size 1, limit 24, 0 and 5 shots), its own dataset script
reading the authors' TSVs; tests/golden/make_hatespeech_golden.py and tests/golden/README.md say
exactly how.
"""

import hashlib
import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from polyplatypus.data.task_data import load_documents
from polyplatypus.eval.metrics import accuracy, macro_f1, predict
from polyplatypus.eval.requests import build_requests
from polyplatypus.eval.scorer import RequestScorer
from polyplatypus.eval.shared_context import SharedContextScorer
from polyplatypus.tasks import get_task

ROOT = Path(__file__).parents[1]
GOLDEN_FILES = {
    "reference_hatespeech_tiny_gptneox.json": "tiny-gptneox",
    "reference_hatespeech_tiny_gptneox_lm.json": "tiny-gptneox-lm",
}
GOLDEN = {name: json.loads((ROOT / "golden" / name).read_text(encoding="utf-8")) for name in GOLDEN_FILES}
CASES = [(name, c["task"], c["shots"]) for name, golden in GOLDEN.items() for c in golden["cells"]]


@pytest.fixture(scope="module")
def models():
    return {
        name: (
            AutoModelForCausalLM.from_pretrained(ROOT / "fixtures" / fixture, dtype=torch.float32).eval(),
            AutoTokenizer.from_pretrained(ROOT / "fixtures" / fixture),
        )
        for name, fixture in GOLDEN_FILES.items()
    }


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_file_covers_both_tasks(name):
    golden = GOLDEN[name]
    assert sorted((c["task"], c["shots"]) for c in golden["cells"]) == [
        ("kohatespeech", 0),
        ("kohatespeech", 5),
        ("kohatespeech_gen_bias", 0),
        ("kohatespeech_gen_bias", 5),
    ]
    assert golden["provenance"]["model_fixture"].endswith(GOLDEN_FILES[name])
    assert any(d["truncated"] for c in golden["cells"] for d in c["docs"])  # 5-shot contexts are cut


@pytest.mark.parametrize("task_name", ["kohatespeech", "kohatespeech_gen_bias"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_documents_are_those_of_the_harness_dataset_script(hatespeech_dir, task_name, split):
    """Every row of dev.tsv (test) and train.tsv, as the harness's script and ClassLabels build them
    (quoted comments unquoted, "" -> "), hashed by the golden generator."""
    want = GOLDEN["reference_hatespeech_tiny_gptneox.json"]["provenance"]["split_documents"][split]
    docs = load_documents(get_task(task_name), split, {"korean_hate_speech": hatespeech_dir})
    encoded = [{k: d[k] for k in ("comments", "contain_gender_bias", "bias", "hate")} for d in docs]
    text = json.dumps(encoded, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert len(docs) == want["n"]
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == want["sha256"]
    assert any('"' in d["comments"] for d in docs)  # the quoting trap is in both files


@pytest.mark.parametrize("name,task_name,shots", CASES)
def test_matches_reference_harness(hatespeech_dir, models, name, task_name, shots):
    cell = next(c for c in GOLDEN[name]["cells"] if (c["task"], c["shots"]) == (task_name, shots))
    task = get_task(task_name)
    dirs = {"korean_hate_speech": hatespeech_dir}
    requests = build_requests(
        task,
        load_documents(task, task.eval_split, dirs),
        load_documents(task, task.fewshot_split, dirs),
        shots,
        limit=len(cell["docs"]),
    )
    assert [r.doc_index for r in requests] == [d["doc_index"] for d in cell["docs"]]
    for request, doc in zip(requests, cell["docs"]):
        assert request.context == doc["context"]
        assert list(request.continuations) == doc["continuations"]
        assert request.gold == doc["gold"]
    model, tokenizer = models[name]
    golds = [r.gold for r in requests]
    for scorer in (RequestScorer(model, tokenizer), SharedContextScorer(model, tokenizer, batch_size=4)):
        scored = scorer.score(requests)
        for result, doc in zip(scored, cell["docs"]):
            assert result.loglikelihoods == pytest.approx(doc["loglikelihoods"], rel=1e-5, abs=1e-4)
            assert result.truncated == doc["truncated"]
        preds = [predict(s.loglikelihoods) for s in scored]
        assert preds == [predict(d["loglikelihoods"]) for d in cell["docs"]]
        assert macro_f1(golds, preds) == pytest.approx(cell["macro_f1"], abs=1e-12)
        assert accuracy(golds, preds) == pytest.approx(cell["acc"], abs=1e-12)
