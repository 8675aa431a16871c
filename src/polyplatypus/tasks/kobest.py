"""The five KoBEST tasks as data: prompt, answer choices, scored continuations, metrics.

Prompts, targets and continuations are those of the reference ko-lm-evaluation-harness
(Beomi's fork of lm-evaluation-harness v0.3, ``lm_eval/tasks/kobest.py``); mind the spaces.
"""

from __future__ import annotations

from polyplatypus.tasks.registry import ChoiceTask, register

# Registered in the model card's order (COPA, HellaSwag, BoolQ, SentiNeg, WiC): the registry's
# order is the default task list and the order of every results table.


def _boolq_text(doc: dict) -> str:
    return f"내용: {doc['paragraph']}\n질문: 다음 문장이 내용에 있는 사실과 일치하는가?\n문장: {doc['question']}\n응답: "


def _copa_text(doc: dict) -> str:
    connector = {"원인": "왜냐하면", "결과": "그래서"}[doc["question"].strip()]
    return f"{doc['premise']} {connector}"


def _wic_text(doc: dict) -> str:
    return (
        f"문장1: {doc['context_1']}\n문장2: {doc['context_2']}\n"
        f"질문: 문장1과 문장2에서 쓰인 단어 [{doc['word']}]가 같은 뜻으로 쓰였나?\n응답: "
    )


KOBEST_COPA = register(ChoiceTask(
    name="kobest_copa",
    source="copa",
    title="COPA",
    doc_to_text=_copa_text,
    doc_to_choices=lambda doc: [doc["alternative_1"], doc["alternative_2"]],
    target_prefix=" ",
    # The reference scores the bare alternatives after the whole context stripped of
    # surrounding whitespace (``rf.loglikelihood(ctx.strip(), alternative)``).
    continuation_prefix="",
    strip_context=True,
))

KOBEST_HELLASWAG = register(ChoiceTask(
    name="kobest_hellaswag",
    source="hellaswag",
    title="HellaSwag",
    doc_to_text=lambda doc: doc["context"],
    doc_to_choices=lambda doc: [doc[f"ending_{i}"] for i in range(1, 5)],
    target_prefix=" ",
    continuation_prefix=" ",
    length_normalized=True,
))

KOBEST_BOOLQ = register(ChoiceTask(
    name="kobest_boolq",
    source="boolq",
    title="BoolQ",
    doc_to_text=_boolq_text,
    doc_to_choices=lambda doc: ["아니오", "예"],
    target_prefix=" ",
    continuation_prefix=" ",
))

KOBEST_SENTINEG = register(ChoiceTask(
    name="kobest_sentineg",
    source="sentineg",
    title="SentiNeg",
    doc_to_text=lambda doc: doc["sentence"],
    doc_to_choices=lambda doc: ["(부정)", "(긍정)"],
    target_prefix=" ",
    continuation_prefix=" ",
))

KOBEST_WIC = register(ChoiceTask(
    name="kobest_wic",
    source="wic",
    title="WiC",
    doc_to_text=_wic_text,
    doc_to_choices=lambda doc: ["아니오", "예"],
    target_prefix="",
    continuation_prefix="",
))
