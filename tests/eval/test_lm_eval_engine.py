"""SharedContextLM used from lm-eval itself: simple_evaluate(model=<our LM>) gives lm-eval's HF
engine's results, rolling loglikelihoods are HFLM's own, and the registered name loads a model."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("lm_eval")
os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_EVALUATE_OFFLINE="1")

from tests.eval import lm_eval_fixtures as fx  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine-tasks")
    fx.write_haerae_task(root)
    return root


def _evaluate(lm, folder):
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    # only this folder's tasks: indexing lm-eval's own thousands of files is not needed here
    return simple_evaluate(
        model=lm,
        tasks=["haerae_local"],
        num_fewshot=1,
        limit=4,
        log_samples=True,
        task_manager=TaskManager(include_path=str(folder), include_defaults=False),
    )


def test_simple_evaluate_with_our_lm_equals_hflm(polyglot_neox, folder):
    from lm_eval.models.huggingface import HFLM

    from polyplatypus.eval.lm_eval_engine import SharedContextLM

    model, tokenizer = polyglot_neox
    ours = _evaluate(SharedContextLM(pretrained=model, tokenizer=tokenizer, batch_size=4), folder)
    theirs = _evaluate(HFLM(pretrained=model, tokenizer=tokenizer, batch_size=1), folder)
    assert ours["results"] == theirs["results"]
    for mine, ref in zip(ours["samples"]["haerae_local"], theirs["samples"]["haerae_local"]):
        assert mine["arguments"] == ref["arguments"]
        assert [r[0][0] for r in mine["resps"]] == pytest.approx([r[0][0] for r in ref["resps"]], abs=1e-4)


def test_answers_come_back_in_request_order_with_greedy_flags(polyglot_neox):
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from polyplatypus.eval.lm_eval_engine import SharedContextLM

    model, tokenizer = polyglot_neox
    pairs = [
        ("가나다 라마", " 바사"),
        ("하늘은 ", "파랗다"),
        ("가나다 라마", " 아"),
        ("", "빈 문맥"),
        ("하늘은 ", "높다"),
    ]
    requests = [Instance("loglikelihood", {}, pair, i) for i, pair in enumerate(pairs)]
    ours = SharedContextLM(pretrained=model, tokenizer=tokenizer).loglikelihood(requests)
    theirs = HFLM(pretrained=model, tokenizer=tokenizer).loglikelihood(requests)
    assert [g for _, g in ours] == [g for _, g in theirs]
    assert [ll for ll, _ in ours] == pytest.approx([ll for ll, _ in theirs], abs=1e-4)


def test_rolling_loglikelihood_is_left_to_hflm(polyglot_neox):
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from polyplatypus.eval.lm_eval_engine import SharedContextLM

    model, tokenizer = polyglot_neox
    text = "대한민국의 수도는 서울이다. " * 40  # longer than the 256-token window: several rolling windows
    requests = [Instance("loglikelihood_rolling", {}, (text,), 0)]
    lm = SharedContextLM(pretrained=model, tokenizer=tokenizer)
    assert lm.loglikelihood_rolling(requests) == pytest.approx(
        HFLM(pretrained=model, tokenizer=tokenizer).loglikelihood_rolling(requests), abs=1e-4
    )
    assert lm.last_scored is None  # never went through the shared-context path


def test_registered_name_loads_a_model_folder(tiny_gptneox_dir, folder):
    import lm_eval.api.registry

    import polyplatypus.eval.lm_eval_engine  # noqa: F401  (registers "polyplatypus")

    lm = lm_eval.api.registry.get_model("polyplatypus").create_from_arg_string(
        f"pretrained={tiny_gptneox_dir},device=cpu", {"batch_size": 2}
    )
    assert type(lm).__name__ == "SharedContextLM" and lm.batch_size == 2
    results = _evaluate(lm, folder)
    assert results["results"]["haerae_local"]["sample_len"] == 4


def test_requests_sharing_a_context_become_one_document_with_distinct_continuations():
    from polyplatypus.eval.lm_eval_engine import group_by_context

    requests = [
        (("q", " A"), [5, 6], [7]),
        (("q", " B"), [5, 6], [8]),
        (("r", " A"), [9], [7]),
        (("q", " A"), [5, 6], [7]),
    ]  # the last: an identical document's request
    documents, places = group_by_context(requests)
    assert [(d.context, d.continuations) for d in documents] == [([5, 6], [[7], [8]]), ([9], [[7]])]
    assert places == [(0, 0), (0, 1), (1, 0), (0, 0)]
