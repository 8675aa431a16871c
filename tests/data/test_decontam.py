"""Decontamination: records built from KoBEST test documents are caught, unrelated ones pass."""

from __future__ import annotations

import pytest

from polyplatypus.data.decontam import BenchmarkIndex, BenchmarkText, kobest_texts, normalize_split
from polyplatypus.data.kobest import load_kobest
from polyplatypus.data.normalize import letters_form, shingle_set
from polyplatypus.errors import DataError

from .edits import alter_whitespace, change_characters, swap_particle


@pytest.fixture(scope="module")
def kobest_index(kobest_dir) -> BenchmarkIndex:
    return BenchmarkIndex(kobest_texts(kobest_dir))


def built_from_kobest(kobest_dir) -> list[tuple[str, str, int, str]]:
    """(training text, task, doc_index, how) for records written around KoBEST test documents."""
    out = []
    boolq = load_kobest("boolq", "test", kobest_dir)
    copa = load_kobest("copa", "test", kobest_dir)
    hellaswag = load_kobest("hellaswag", "test", kobest_dir)
    sentineg = load_kobest("sentineg", "test", kobest_dir)
    wic = load_kobest("wic", "test", kobest_dir)
    for i in (0, 57, 901):
        d = boolq[i]
        out.append((f"다음 글을 읽고 질문에 예/아니오로 답하시오.\n{d['paragraph']}\n질문: {d['question']}", "boolq", i, "verbatim"))
        out.append((f"지문: {swap_particle(alter_whitespace(d['paragraph']))}\n위 글을 요약하세요.", "boolq", i, "edited"))
    for i in (3, 250, 777):
        d = copa[i]
        out.append((f"전제: {d['premise']}\n선택지 1: {d['alternative_1']}\n선택지 2: {d['alternative_2']}\n"
                    f"{d['question']}으로 알맞은 것은?", "copa", i, "verbatim"))
        edited = f"{d['premise'].rstrip('.')} 그렇다면 어떻게 되었을까? ① {d['alternative_1']} ② {d['alternative_2']}"
        out.append((alter_whitespace(edited.replace(".", "")), "copa", i, "edited"))
    for i in (8, 300):
        d = hellaswag[i]
        out.append((f"다음 이야기에 이어질 문장을 고르시오.\n{d['context']}", "hellaswag", i, "verbatim"))
        out.append((change_characters(swap_particle(d["context"]), 2) + " 다음에 일어날 일을 써 보세요.", "hellaswag", i,
                    "edited"))
    long_reviews = [d["doc_index"] for d in sentineg if len(letters_form(d["sentence"])) >= 12]
    for i in (long_reviews[0], long_reviews[50], long_reviews[-1]):
        d = sentineg[i]
        out.append((f"다음 상품 리뷰가 긍정인지 부정인지 분류하세요.\n리뷰: {d['sentence']}", "sentineg", i, "verbatim"))
    for i in (2, 640):
        d = wic[i]
        sentence = d["context_1"].replace("[", "").replace("]", "")
        out.append((f"'{d['word']}'의 뜻을 아래 문장에서 설명하시오: {sentence}", "wic", i, "one sentence"))
        out.append((f"예문: {alter_whitespace(sentence)}\n밑줄 친 단어의 품사는?", "wic", i, "edited"))
    return out


def test_records_built_from_kobest_are_caught(kobest_dir, kobest_index):
    planted = built_from_kobest(kobest_dir)
    found = kobest_index.search([text for text, *_ in planted])
    caught = {c.record: c for c in found}
    missed = [(how, task, doc, text[:60]) for k, (text, task, doc, how) in enumerate(planted) if k not in caught]
    assert not missed
    for k, (_, task, doc, how) in enumerate(planted):
        match = caught[k]
        assert (match.text.task, match.text.split, match.text.doc_index) == (task, "test", doc)
        assert match.containment >= 0.5
        if how == "verbatim":
            assert match.containment == 1.0


def test_unrelated_records_pass(kobest_index, sample_records):
    texts = [r["instruction"] + "\n" + r["input"] for r in sample_records]
    assert kobest_index.search(texts) == []


def test_search_equals_all_pairs(kobest_dir, sample_records):
    """The prefix index finds exactly what comparing every record with every text finds."""
    texts = kobest_texts(kobest_dir, tasks=["copa", "sentineg"], splits=["test"])
    index = BenchmarkIndex(texts, threshold=0.3)
    planted = [t for t, task, *_ in built_from_kobest(kobest_dir) if task in ("copa", "sentineg")]
    training = planted + [r["instruction"] + "\n" + r["input"] + "\n" + r["output"] for r in sample_records]
    expected = {}
    checked = [texts[i] for i in index.checked]
    sets = [set().union(*(shingle_set(letters_form(p), 5) for p in t.parts)) for t in checked]
    for record, text in enumerate(training):
        mine = shingle_set(letters_form(text), 5)
        scores = [len(s & mine) / len(s) for s in sets if len(s & mine) >= 4 and len(s & mine) * 10 >= 3 * len(s)]
        if scores:
            expected[record] = max(scores)
    found = {c.record: c.containment for c in index.search(training)}
    assert found == expected
    assert len(found) > len(planted) // 2


def test_containment_threshold_and_minimum():
    bench = [BenchmarkText("toy", "toy", "test", 0, "document", "가나다라마바사아자차카타", ("가나다라마바사아자차카타",)),
             BenchmarkText("toy", "toy", "test", 1, "document", "짧은말", ("짧은말",))]
    index = BenchmarkIndex(bench, threshold=0.5, ngram=5, min_ngrams=4)
    assert index.size == 1 and index.skipped_short == 1  # "짧은말" has one 5-gram: too short to check
    # the document has 8 five-grams: 4 contained is exactly 0.5 (caught), 3 is not
    found = index.search(["가나다라마바사아", "가나다라마바사", "짧은말입니다", "전혀 다른 문장입니다",
                          "앞에 붙은 말 가나다라마 바사아자차카타 뒤에 붙은 말"])
    assert [(c.record, c.shared_ngrams, c.containment) for c in found] == [(0, 4, 0.5), (4, 8, 1.0)]
    # at least min_ngrams shared n-grams, even where the share would be enough
    strict = BenchmarkIndex(bench, threshold=0.25, ngram=5, min_ngrams=3)
    assert [c.record for c in strict.search(["가나다라마바", "가나다라마바사"])] == [1]


def test_fields_and_documents(kobest_dir):
    texts = kobest_texts(kobest_dir, tasks=["copa"], splits=["dev"])
    assert {t.split for t in texts} == {"validation"}
    first = [t for t in texts if t.doc_index == 0]
    assert [t.field for t in first] == ["document", "premise", "alternative_1", "alternative_2"]
    index = BenchmarkIndex(texts)
    # a field is checked on its own only when it has field_min_ngrams n-grams (most COPA fields
    # are shorter: they count as part of their document)
    checked_fields = [texts[i] for i in index.checked if texts[i].field != "document"]
    assert all(len(shingle_set(letters_form(t.text), 5)) >= index.field_min_ngrams for t in checked_fields)
    assert 0 < len(checked_fields) < len([t for t in texts if t.field != "document"]) // 4
    documents = sum(1 for i in index.checked if texts[i].field == "document")
    assert documents + index.skipped_short == 500 and documents > 490
    with pytest.raises(DataError, match="unknown KoBEST task"):
        kobest_texts(kobest_dir, tasks=["nli"])
    with pytest.raises(DataError, match="unknown KoBEST split"):
        normalize_split("dev2")
