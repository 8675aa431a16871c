"""Prompts, targets and scored continuations, written out literally from the reference's kobest.py."""

import pytest

from polyplatypus.errors import ConfigError
from polyplatypus.tasks import all_task_names, get_task


def test_boolq():
    task = get_task("kobest_boolq")
    doc = {"paragraph": "P", "question": "Q", "label": 1}
    assert task.doc_to_text(doc) == "내용: P\n질문: 다음 문장이 내용에 있는 사실과 일치하는가?\n문장: Q\n응답: "
    assert task.doc_to_target(doc) == " 예"
    assert task.doc_to_target({**doc, "label": 0}) == " 아니오"
    assert task.continuations(doc) == [" 아니오", " 예"]


def test_copa_connectors_and_bare_alternatives():
    task = get_task("copa")
    cause = {"premise": "비가 왔다.", "question": "원인", "alternative_1": "A", "alternative_2": "B", "label": 1}
    effect = {**cause, "question": "결과 "}
    assert task.doc_to_text(cause) == "비가 왔다. 왜냐하면"
    assert task.doc_to_text(effect) == "비가 왔다. 그래서"
    assert task.doc_to_target(cause) == " B"
    assert task.continuations(cause) == ["A", "B"]
    assert task.strip_context


def test_hellaswag_sentineg_wic():
    hs = get_task("kobest_hellaswag")
    doc = {"context": "C", "ending_1": "e1", "ending_2": "e2", "ending_3": "e3", "ending_4": "e4", "label": 2}
    assert hs.doc_to_text(doc) == "C"
    assert hs.doc_to_target(doc) == " e3"
    assert hs.continuations(doc) == [" e1", " e2", " e3", " e4"]
    assert "acc_norm" in hs.metrics
    sn = get_task("kobest_sentineg")
    assert sn.doc_to_text({"sentence": "S", "label": 0}) == "S"
    assert sn.doc_to_target({"sentence": "S", "label": 0}) == " (부정)"
    assert sn.continuations({"sentence": "S", "label": 0}) == [" (부정)", " (긍정)"]
    wic = get_task("kobest_wic")
    doc = {"word": "W", "context_1": "A", "context_2": "B", "label": 1}
    assert (
        wic.doc_to_text(doc)
        == "문장1: A\n문장2: B\n질문: 문장1과 문장2에서 쓰인 단어 [W]가 같은 뜻으로 쓰였나?\n응답: "
    )
    assert wic.doc_to_target(doc) == "예"
    assert wic.continuations(doc) == ["아니오", "예"]


def test_registry():
    # registration order is the model card's: the default task list of eval and recipes, and the
    # order of the report's tables
    assert all_task_names() == ["kobest_copa", "kobest_hellaswag", "kobest_boolq", "kobest_sentineg", "kobest_wic"]
    with pytest.raises(ConfigError, match="unknown task 'kobest_klue'.*kobest_boolq"):
        get_task("kobest_klue")
