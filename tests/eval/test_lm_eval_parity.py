"""lm-eval tasks scored by our engine are lm-eval 0.4.13's own results.

The reference is lm-eval itself: ``lm_eval.simple_evaluate`` with its ``hf`` engine (``HFLM``, batch
1, fp32, one process) on the same tiny model and the same task files. Per document, every
loglikelihood is within 1e-4 of it; the predictions and every metric (the task's
``process_results``, aggregation and lm-eval's group consolidation) are identical.

Covered: lm-eval's five kobest tasks over the shared KoBEST TSVs (and a size-weighted group over
them), a KMMLU-format group with few-shot from its dev split, a HAE-RAE-format task with few-shot
from its own test split, a CLIcK-format task, a user's KorNLI task over the shared TSVs; a
Polyglot-ko-layout model (no BOS) and a Llama-layout model whose tokenizer adds a BOS; contexts
longer than the model's window (left truncation).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("lm_eval")
os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_EVALUATE_OFFLINE="1")  # never the network

from tests.eval import lm_eval_fixtures as fx  # noqa: E402

KORNLI = Path(__file__).resolve().parents[3] / "shared" / "data" / "kornli"
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def task_folder(lm_eval_tasks, kobest_dir) -> Path:
    return lm_eval_tasks  # kobest_dir: the KoBEST tasks are there (skips, or fails in CI, without the data)


def bos_tokenizer(tokenizer_dir: Path):
    """The Polyglot-ko vocabulary with a tokenizer that prepends a BOS, as Llama-2-ko's does."""
    from tokenizers import Tokenizer, processors
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    bos = "<|sep|>"
    raw.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, raw.token_to_id(bos))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=raw, bos_token=bos, eos_token="<|endoftext|>", pad_token="<|pad|>", unk_token="<|unk|>"
    )


@pytest.fixture(scope="module")
def models(polyglot_neox, polyglot_tokenizer_dir):
    from polyplatypus.models.tiny import build_tiny_model

    tokenizer = bos_tokenizer(polyglot_tokenizer_dir)
    assert tokenizer("가").input_ids[0] == tokenizer.bos_token_id != tokenizer.eos_token_id
    llama = build_tiny_model(tokenizer, "llama", seed=5, hidden_size=32, layers=2, heads=4, max_positions=192)
    return {"polyglot": polyglot_neox, "llama": (llama, tokenizer)}


def reference(model, tokenizer, name, shots, limit, folder):
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    from polyplatypus.tasks.lm_eval_tasks import task_manager

    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=1)
    return simple_evaluate(
        model=lm,
        tasks=[name],
        num_fewshot=shots,
        limit=limit,
        log_samples=True,
        task_manager=task_manager([str(folder)]),
    )


def ours(model, tokenizer, name, shots, limit, folder, batch_size=1):
    from polyplatypus.eval.lm_eval_cells import score_lm_eval_cell
    from polyplatypus.tasks.lm_eval_tasks import build_cell

    cell = build_cell(f"lm_eval:{name}", shots, limit=limit, include_path=[str(folder)])
    return cell, *score_lm_eval_cell(model, tokenizer, cell, batch_size=batch_size)


def assert_same_as_lm_eval(model, tokenizer, name, shots, limit, folder, batch_size=1):
    expected = reference(model, tokenizer, name, shots, limit, folder)
    cell, record, samples, results = ours(model, tokenizer, name, shots, limit, folder, batch_size)
    compared = 0
    for task_name, logged in expected["samples"].items():
        mine = [s for s in samples if s["task"] == task_name]
        assert [s["doc_index"] for s in mine] == [s["doc_id"] for s in logged]
        for theirs, got in zip(logged, mine):
            assert [list(a) for a in theirs["arguments"]] == [[got["context"], c] for c in got["continuations"]]
            lls = [resp[0][0] for resp in theirs["resps"]]
            assert max(abs(a - b) for a, b in zip(lls, got["loglikelihoods"])) < TOLERANCE, (task_name, lls, got)
            assert [resp[0][1] for resp in theirs["resps"]] == got["is_greedy"]
            assert got["pred"] == max(range(len(lls)), key=lambda i: (lls[i], -i))
            for metric in theirs["metrics"]:
                if isinstance(theirs[metric], (int, float)):
                    assert got["metrics"][metric] == theirs[metric], (task_name, metric)
            compared += 1
    assert compared == len(samples) > 0
    assert results["results"] == expected["results"]
    assert results.get("groups") == expected.get("groups")
    assert results["n-shot"] == expected["n-shot"]
    assert_results_file_is_lm_evals(cell, record, expected)
    return cell, record, samples


def assert_results_file_is_lm_evals(cell, record, expected):
    """The lm-eval-format results file eval writes for the cell (from its results.json record, as
    JSON) holds what simple_evaluate returned: the task's own metrics, versions, shots, counts."""
    import json

    from polyplatypus.eval.lm_eval_results import lm_eval_results

    stored = json.loads(
        json.dumps(
            {"model": "tiny", "model_path": "tiny", "task": cell.name, "shots": cell.shots, **record}, default=str
        )
    )
    (data,) = lm_eval_results([stored]).values()
    for part in ("results", "groups", "group_subtasks", "versions", "n-shot", "higher_is_better", "n-samples"):
        assert data.get(part) == expected.get(part), part
    for name, config in expected["configs"].items():
        for key in ("dataset_path", "dataset_name", "dataset_kwargs", "test_split", "metric_list", "metadata"):
            assert data["configs"][name].get(key) == config.get(key), (name, key)


def test_kobest_group_over_the_tsvs_matches_lm_eval(models, task_folder):
    model, tokenizer = models["polyglot"]
    cell, record, samples = assert_same_as_lm_eval(model, tokenizer, "kobest_tsv", 0, 4, task_folder)
    assert set(cell.tasks) == {f"kobest_{t}_tsv" for t in fx.KOBEST_FOLDERS}
    assert record["metrics"]["acc"] == pytest.approx(sum(s["pred"] == s["gold"] for s in samples) / len(samples))
    # each context forwarded once for all of its choices
    assert record["forwarded_tokens"] <= 1.05 * record["minimum_tokens"]


@pytest.mark.parametrize(
    "task", ["kobest_boolq_tsv", "kobest_copa_tsv", "kobest_hellaswag_tsv", "kobest_sentineg_tsv", "kobest_wic_tsv"]
)
def test_kobest_tasks_few_shot_with_truncation_match_lm_eval(models, task_folder, task):
    model, tokenizer = models["polyglot"]
    _, record, _ = assert_same_as_lm_eval(model, tokenizer, task, 3, 3, task_folder, batch_size=4)
    if task in ("kobest_boolq_tsv", "kobest_hellaswag_tsv"):
        assert record["truncated"] > 0  # 3-shot contexts exceed the 256-token window


def test_kmmlu_format_group_with_dev_shots_matches_lm_eval(models, task_folder):
    model, tokenizer = models["polyglot"]
    cell, record, _ = assert_same_as_lm_eval(model, tokenizer, "kmmlu_local", 5, None, task_folder)
    assert cell.num_fewshot == {"kmmlu_local_accounting": 5, "kmmlu_local_korean_history": 5}
    assert "kmmlu_local" in cell.groups and record["n"] == 14


def test_haerae_format_few_shot_from_its_test_split_matches_lm_eval(models, task_folder):
    for layout in ("polyglot", "llama"):
        model, tokenizer = models[layout]
        _, _, samples = assert_same_as_lm_eval(model, tokenizer, "haerae_local", 2, 5, task_folder)
        for sample in samples:  # the document itself is never one of its examples
            assert sample["context"].count(sample["context"].split("\n")[-3]) == 1


def test_click_format_matches_lm_eval_with_both_layouts(models, task_folder):
    for layout in ("polyglot", "llama"):
        model, tokenizer = models[layout]
        _, record, samples = assert_same_as_lm_eval(model, tokenizer, "click_local_economy", 3, None, task_folder)
        assert record["n"] == 7 and {len(s["continuations"]) for s in samples} == {4, 5}


def test_llama_layout_with_bos_matches_lm_eval(models, task_folder):
    model, tokenizer = models["llama"]
    _, record, _ = assert_same_as_lm_eval(model, tokenizer, "kobest_copa_tsv", 0, 4, task_folder)
    _, record, _ = assert_same_as_lm_eval(model, tokenizer, "kmmlu_local", 5, 0.5, task_folder, batch_size=3)
    assert record["n"] == 8  # a fraction below 1 is lm-eval's: ceil(0.5 * 7) per subject
    assert record["truncated"] > 0  # 5-shot KMMLU contexts exceed the 192-token window


@pytest.mark.skipif(not (KORNLI / "xnli.dev.ko.tsv").is_file(), reason="KorNLI data not in ../shared")
def test_users_kornli_task_matches_lm_eval(models, task_folder):
    model, tokenizer = models["polyglot"]
    cell, record, samples = assert_same_as_lm_eval(model, tokenizer, "kornli", 1, 6, task_folder)
    assert [s["continuations"] for s in samples][0] == [" 참", " 중립", " 거짓"]
    assert cell.versions["kornli"] == 1.0
