"""Decontamination: records built from KoBEST test documents are caught, unrelated ones pass."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from polyplatypus.data.decontam import (
    KOBEST_STANDALONE_FIELDS,
    SEGMENT_BREAKS,
    BenchmarkIndex,
    BenchmarkText,
    Contamination,
    DecontamConfig,
    kobest_texts,
    normalize_split,
    occurrence_distance,
)
from polyplatypus.data.kobest import load_kobest
from polyplatypus.data.normalize import folded_form, letters_form, letters_only, shingle_set
from polyplatypus.errors import DataError

from .edits import alter_whitespace, change_characters, swap_particle

CORPUS = Path(__file__).resolve().parents[2] / "src" / "polyplatypus" / "assets" / "corpus"
TASKS = ("boolq", "copa", "hellaswag", "sentineg", "wic")
EDITS = ("verbatim", "1 char", "particle", "2 chars")


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
        out.append(
            (
                f"다음 글을 읽고 질문에 예/아니오로 답하시오.\n{d['paragraph']}\n질문: {d['question']}",
                "boolq",
                i,
                "verbatim",
            )
        )
        out.append(
            (f"지문: {swap_particle(alter_whitespace(d['paragraph']))}\n위 글을 요약하세요.", "boolq", i, "edited")
        )
    for i in (3, 250, 777):
        d = copa[i]
        out.append(
            (
                f"전제: {d['premise']}\n선택지 1: {d['alternative_1']}\n선택지 2: {d['alternative_2']}\n"
                f"{d['question']}으로 알맞은 것은?",
                "copa",
                i,
                "verbatim",
            )
        )
        edited = f"{d['premise'].rstrip('.')} 그렇다면 어떻게 되었을까? ① {d['alternative_1']} ② {d['alternative_2']}"
        out.append((alter_whitespace(edited.replace(".", "")), "copa", i, "edited"))
    for i in (8, 300):
        d = hellaswag[i]
        out.append((f"다음 이야기에 이어질 문장을 고르시오.\n{d['context']}", "hellaswag", i, "verbatim"))
        out.append(
            (
                change_characters(swap_particle(d["context"]), 2) + " 다음에 일어날 일을 써 보세요.",
                "hellaswag",
                i,
                "edited",
            )
        )
    long_reviews = [d["doc_index"] for d in sentineg if len(letters_form(d["sentence"])) >= 12]
    for i in (long_reviews[0], long_reviews[50], long_reviews[-1]):
        d = sentineg[i]
        out.append(
            (f"다음 상품 리뷰가 긍정인지 부정인지 분류하세요.\n리뷰: {d['sentence']}", "sentineg", i, "verbatim")
        )
        out.append((f"리뷰 '{change_characters(d['sentence'], 2)}'의 감정은?", "sentineg", i, "edited"))
    short_review = next(d for d in sentineg if d["sentence"] == "완전 거북이배송")
    out.append(
        (
            f"다음 리뷰를 분류하시오.\n리뷰: {short_review['sentence']}",
            "sentineg",
            short_review["doc_index"],
            "verbatim",
        )
    )
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
        if how == "verbatim":
            assert match.similarity == 1.0
        if match.measure == "containment":
            assert match.similarity >= 0.5
        elif match.measure == "occurrence":
            assert match.edits <= kobest_index.edit_budget(match.text, match.letters)
    by_measure = Counter(c.measure for c in found)
    assert by_measure["containment"] and by_measure["occurrence"] and by_measure["segment"] == 1


# --- catch rates over the real test split -------------------------------------------------

TEMPLATES = {  # (what is planted, the text from the document, the record around it)
    "boolq": [
        (
            "document",
            lambda d: f"{d['paragraph']}\n질문: {d['question']}",
            "다음 글을 읽고 질문에 예/아니오로 답하시오.\n{}",
        ),
        ("question", lambda d: d["question"], "{} 예/아니오로만 답하시오."),
    ],
    "copa": [
        (
            "document",
            lambda d: f"{d['premise']}\n1. {d['alternative_1']}\n2. {d['alternative_2']}",
            "다음 문장 뒤에 올 알맞은 것을 고르시오.\n{}",
        ),
        ("premise", lambda d: d["premise"], "{} 이 문장의 원인을 쓰시오."),
    ],
    "hellaswag": [("context", lambda d: d["context"], "다음 이야기에 이어질 문장을 쓰시오.\n{}")],
    "sentineg": [("review", lambda d: d["sentence"], "다음 상품 리뷰가 긍정인지 부정인지 분류하세요.\n리뷰: {}")],
    "wic": [
        (
            "sentence",
            lambda d: d["context_1"].replace("[", "").replace("]", ""),
            "아래 문장에서 밑줄 친 단어의 뜻을 설명하시오.\n{}",
        )
    ],
}

# Measured on these 100 documents per task (the same seed every run), as caught/planted:
#   boolq document   100/100 100/100 100/100 100/100    copa document  100/100 100/100 98/99 99/100
#   boolq question    98/100  98/100  98/100  81/100    copa premise    72/100  72/100 71/98 23/100
#   hellaswag context 100/100 (each edit)                sentineg review 99/100 91/100 49/51 81/100
#   wic sentence      94/100  94/100  91/95   76/100
# (verbatim, 1 char, particle swap, 2 chars). Documents, paragraphs and contexts are caught
# whatever the edit; a short text alone is caught when it is long enough for its edit budget
# (test_short_texts_are_caught_by_length): the misses are COPA premises under 10 letters
# (감기에 걸렸다) and reviews under 8 (10) letters with one (two) edits.
EXPECTED_RATES = {
    ("boolq", "document"): (1.0, 1.0, 1.0, 1.0),
    ("boolq", "question"): (0.98, 0.98, 0.98, 0.81),
    ("copa", "document"): (1.0, 1.0, 0.98, 0.99),
    ("copa", "premise"): (0.72, 0.72, 0.72, 0.23),
    ("hellaswag", "context"): (1.0, 1.0, 1.0, 1.0),
    ("sentineg", "review"): (0.99, 0.91, 0.96, 0.81),
    ("wic", "sentence"): (0.94, 0.94, 0.95, 0.76),
}


def edited(text: str, how: str) -> str | None:
    try:
        return {
            "verbatim": lambda: text,
            "1 char": lambda: change_characters(text, 1),
            "particle": lambda: swap_particle(text),
            "2 chars": lambda: change_characters(text, 2),
        }[how]()
    except AssertionError:  # no particle to swap
        return None


def planted_sample(kobest_dir, per_task: int = 100, seed: int = 20240) -> list[dict]:
    """Records built from ``per_task`` test documents of each task, in every edit."""
    rows = []
    for task in TASKS:
        docs = load_kobest(task, "test", kobest_dir)
        for d in random.Random(seed).sample(docs, per_task):
            for kind, pick, template in TEMPLATES[task]:
                original = pick(d)
                for how in EDITS:
                    text = edited(original, how)
                    if text is not None:
                        rows.append(
                            {
                                "task": task,
                                "kind": kind,
                                "how": how,
                                "doc": d["doc_index"],
                                "original": original,
                                "record": template.format(text),
                            }
                        )
    return rows


@pytest.fixture(scope="module")
def planted_results(kobest_dir, kobest_index):
    rows = planted_sample(kobest_dir)
    found = {c.record: c for c in kobest_index.search([r["record"] for r in rows])}
    return rows, found


def test_catch_rates_over_all_tasks(planted_results):
    rows, found = planted_results
    total, caught = Counter(), Counter()
    for k, row in enumerate(rows):
        key = (row["task"], row["kind"], row["how"])
        total[key] += 1
        caught[key] += k in found
    rates = {key: caught[key] / total[key] for key in total}
    low = {
        key: (round(rates[key], 3), EXPECTED_RATES[key[:2]][EDITS.index(key[2])])
        for key in rates
        if rates[key] < EXPECTED_RATES[key[:2]][EDITS.index(key[2])]
    }
    assert not low, low
    assert all(total[key] >= 40 for key in total)  # particle swaps need a particle: most texts have one
    # a verbatim copy is matched to its own document (or to one with the same text)
    for k, row in enumerate(rows):
        if row["how"] == "verbatim" and k in found:
            match = found[k]
            if (match.text.task, match.text.split, match.text.doc_index) != (row["task"], "test", row["doc"]):
                assert match.similarity == 1.0 and match.text.split in ("test", "validation")


def test_short_texts_are_caught_by_length(kobest_index, planted_results):
    """The guarantee behind the rates: a short text alone is caught whenever its letters reach the
    minimum of its kind and its edits fit the budget (one edit for a 1-char change or a particle
    swap, two for two changed characters)."""
    rows, found = planted_results
    needed = {"verbatim": 0, "1 char": 1, "particle": 1, "2 chars": 2}
    checked = Counter()
    for k, row in enumerate(rows):
        if row["kind"] not in ("review", "premise", "question", "sentence"):
            continue
        letters = len(letters_form(row["original"]))
        field = "document" if row["kind"] == "review" else "premise"  # a standalone field
        text = BenchmarkText("kobest", row["task"], "test", row["doc"], field, row["original"], (row["original"],))
        budget = kobest_index.edit_budget(text, letters)
        segment = (
            row["kind"] == "review"
            and row["how"] == "verbatim"
            and kobest_index.config.segment_min_letters <= letters < kobest_index.config.min_letters
        )
        if segment or (budget is not None and needed[row["how"]] <= budget):
            assert k in found, row
            checked[row["kind"]] += 1
    assert min(checked.values()) >= 100


def test_unrelated_records_pass(kobest_index, sample_records):
    """The bundled instruction sample (with or without outputs) and the hand-written paragraphs
    of the bundled corpus are ordinary Korean: nothing is flagged."""
    texts = [r["instruction"] + "\n" + r["input"] for r in sample_records]
    texts += [r["instruction"] + "\n" + r["input"] + "\n" + r["output"] for r in sample_records]
    prose = sorted(p for p in CORPUS.glob("*.txt") if p.name[0] in "01")
    assert len(prose) >= 10
    paragraphs = [part.strip() for path in prose for part in path.read_text(encoding="utf-8").split("\n\n")]
    texts += [p for p in paragraphs if p]
    assert len(texts) > 600
    assert kobest_index.search(texts) == []


# --- the search finds exactly what the definitions say ------------------------------------


def occurrence_reference(pattern: str, forms: list[str]) -> np.ndarray:
    """Fewest edits from ``pattern`` to a substring of each form: the textbook dynamic program,
    one row per pattern letter, over all forms at once (joined by separators no alignment can
    afford to cross)."""
    gap = "\x00" * (len(pattern) + 1)
    codes = np.frombuffer(gap.join(forms).encode("utf-32-le"), dtype="<u4")
    starts = np.cumsum([0] + [len(f) + len(gap) for f in forms[:-1]])
    positions = np.arange(len(codes) + 1)
    row = np.zeros(len(codes) + 1, dtype=np.int64)  # an occurrence may start anywhere
    for i, char in enumerate(pattern, start=1):
        best = np.empty_like(row)
        best[0] = i
        best[1:] = np.minimum(row[:-1] + (codes != ord(char)), row[1:] + 1)
        row = np.minimum.accumulate(best - positions) + positions  # insertions in the pattern
    return np.minimum.reduceat(row, starts)  # each form's span (and the gap after it: no better)


def test_occurrence_distance_is_the_edit_distance_to_a_substring():
    rng = random.Random(3)
    for _ in range(400):
        pattern = "".join(rng.choice("가나다a") for _ in range(rng.randint(1, 9)))
        texts = ["".join(rng.choice("가나다라a") for _ in range(rng.randint(0, 25))) for _ in range(3)]
        assert [occurrence_distance(pattern, t) for t in texts] == occurrence_reference(pattern, texts).tolist()
    assert occurrence_distance("완전거북이배송", "리뷰완전거북이배송") == 0
    assert occurrence_distance("완전거북이배송", "완전거북이배달") == 1
    assert occurrence_distance("완전거북이배송", "완전히거북이배송이네") == 1
    assert occurrence_distance("가나다", "") == 3


def test_search_equals_all_pairs(kobest_dir, sample_records):
    """The indexes find exactly what checking every record against every text finds."""
    texts = kobest_texts(kobest_dir, tasks=["copa", "sentineg"], splits=["test"])
    index = BenchmarkIndex(texts, DecontamConfig(threshold=0.3))
    planted = [t for t, task, *_ in built_from_kobest(kobest_dir) if task in ("copa", "sentineg")]
    sentineg = load_kobest("sentineg", "test", kobest_dir)
    copa = load_kobest("copa", "test", kobest_dir)
    planted += [f"리뷰: {change_characters(d['sentence'], 1)}" for d in sentineg[:60]]
    planted += [f'"{d["sentence"]}" 이 리뷰는?' for d in sentineg[60:120]]
    planted += [f"{change_characters(d['premise'], 2)} 왜 그럴까?" for d in copa[:60]]
    training = planted + [r["instruction"] + "\n" + r["input"] + "\n" + r["output"] for r in sample_records]
    forms = [letters_form(t) for t in training]
    five_grams = [shingle_set(form, 5) for form in forms]
    scores: list[dict[int, float]] = [{} for _ in training]

    # containment, as before
    for i, text in enumerate(texts):
        theirs = set().union(*(shingle_set(letters_form(p), 5) for p in text.parts))
        needed = 4 if text.field == "document" else 10
        if len(theirs) < needed:
            continue
        for record, mine in enumerate(five_grams):
            shared = len(theirs & mine)
            if shared >= 4 and shared * 10 >= 3 * len(theirs):
                scores[record][i] = shared / len(theirs)
    # approximate occurrence of short texts, by the documented budgets
    for i, text in enumerate(texts):
        if len(text.parts) != 1:
            continue
        pattern = letters_form(text.text)
        if text.field == "document" and len(pattern) >= 8:
            budget = len(pattern) // 5
        elif text.field != "document" and text.field in KOBEST_STANDALONE_FIELDS[text.task] and len(pattern) >= 10:
            budget = len(pattern) * 15 // 100
        else:
            continue
        for record, distance in enumerate(occurrence_reference(pattern, forms).tolist()):
            if distance <= budget:
                scores[record][i] = max(scores[record].get(i, 0.0), 1 - distance / len(pattern))
    # whole segments for reviews of 4-7 letters
    short = {}
    for i, text in enumerate(texts):
        if text.field == "document" and len(text.parts) == 1 and 4 <= len(letters_form(text.text)) < 8:
            short.setdefault(letters_form(text.text), []).append(i)
    for record, raw in enumerate(training):
        for segment in SEGMENT_BREAKS.split(folded_form(raw)):
            for i in short.get(letters_only(segment), ()):
                scores[record][i] = 1.0

    def rank(item):
        i, score = item
        return score, len(letters_form("".join(texts[i].parts))), -i

    expected = {r: (max(s.items(), key=rank), len(s)) for r, s in enumerate(scores) if s}
    found = {c.record: ((texts.index(c.text), c.similarity), c.matches) for c in index.search(training)}
    assert found.keys() == expected.keys()
    for record in found:
        (text, similarity), matches = found[record]
        (want, want_similarity), want_matches = expected[record]
        assert (text, matches) == (want, want_matches) and similarity == pytest.approx(want_similarity)
    assert len(found) > len(planted) // 2
    assert {c.measure for c in index.search(training)} == {"containment", "occurrence", "segment"}


# --- the rules on toy texts ----------------------------------------------------------------


def toy(text: str, field: str = "document", index: int = 0, standalone: bool = True) -> BenchmarkText:
    return BenchmarkText("toy", "toy", "test", index, field, text, (text,), standalone)


def containment(found: Contamination) -> float | None:
    """The share of the text's n-grams in the record, for a containment match."""
    return found.similarity if found.measure == "containment" else None


def test_containment_threshold_and_minimum():
    bench = [toy("가나다라마바사아자차카타"), toy("짧은말", index=1)]
    index = BenchmarkIndex(bench, DecontamConfig(threshold=0.5, ngram=5, min_ngrams=4))
    assert index.size == 1 and index.skipped_short == 1  # "짧은말": too short for any measure
    # the document has 8 five-grams: 4 contained is exactly 0.5 (caught), 3 is not
    found = index.search(
        [
            "가나다라마바사아",
            "가나다라마바사",
            "짧은말입니다",
            "전혀 다른 문장입니다",
            "앞에 붙은 말 가나다라마 바사아자차카타 뒤에 붙은 말",
        ]
    )
    assert [(c.record, c.shared_ngrams, containment(c)) for c in found] == [(0, 4, 0.5), (4, 8, 1.0)]
    # at least min_ngrams shared n-grams, even where the share would be enough
    strict = BenchmarkIndex(bench, DecontamConfig(threshold=0.25, ngram=5, min_ngrams=3))
    assert [c.record for c in strict.search(["가나다라마바", "가나다라마바사"])] == [1]


def test_edit_budgets_and_minimum_lengths():
    index = BenchmarkIndex([toy("가")])
    review, premise = toy("x"), toy("x", field="premise")
    alternative = toy("x", field="alternative_1", standalone=False)
    assert [index.edit_budget(review, n) for n in (7, 8, 9, 10, 14, 15, 29, 100, 101)] == [
        None,
        1,
        1,
        2,
        2,
        3,
        5,
        20,
        None,
    ]
    assert [index.edit_budget(premise, n) for n in (9, 10, 13, 14, 19, 20, 64)] == [None, 1, 1, 2, 2, 3, 9]
    assert index.edit_budget(alternative, 20) is None  # an answer choice only counts with its document


def test_short_review_within_its_budget():
    review = "배송이 빠르고 튼튼해요"  # 10 letters: 2 edits allowed
    index = BenchmarkIndex([toy(review)])
    records = [
        f"리뷰: {review}",
        "배송이 빠르고 튼튼해서",
        "배송이 느리고 튼튼해서",
        "배송이 빠르고 아주 튼튼해요",
        "배송은 빠르고 튼튼했어요",
    ]
    found = {c.record: c for c in index.search(records)}
    assert sorted(found) == [0, 1, 3]  # 0, 1 and 2 edits; 3 edits is a different review
    assert (found[0].measure, found[0].edits, found[0].similarity) == ("containment", None, 1.0)
    assert (found[1].measure, found[1].edits, found[1].letters) == ("occurrence", 1, 10)
    assert found[3].edits == 2 and found[3].similarity == pytest.approx(0.8)
    assert found[1].describe() == {"measure": "occurrence", "similarity": 0.9, "edits": 1, "letters": 10}


def test_short_review_as_a_whole_segment():
    review = "완전 거북이배송"  # 7 letters: below min_letters, checked as a whole segment only
    index = BenchmarkIndex([toy(review), toy("좋아요", index=1)])
    assert index.segment_checked == [0] and index.occurrence_checked == [] and index.skipped_short == 1
    records = [
        "리뷰: 완전 거북이배송",
        '"완전  거북이 배송!"이라는 후기',
        "다음 리뷰를 분류하시오.\n완전 거북이배송\n",
        "완전 거북이배송이라 아쉬워요",
        "완전 거북이배달",
        "(완전 거북이배송)",
        "좋아요",
    ]
    found = index.search(records)
    assert [c.record for c in found] == [0, 1, 2, 5]
    assert all((c.measure, c.similarity, c.edits, c.letters) == ("segment", 1.0, 0, 7) for c in found)


def test_fields_and_documents(kobest_dir):
    texts = kobest_texts(kobest_dir, tasks=["copa"], splits=["dev"])
    assert {t.split for t in texts} == {"validation"}
    first = [t for t in texts if t.doc_index == 0]
    assert [t.field for t in first] == ["document", "premise", "alternative_1", "alternative_2"]
    assert [t.standalone for t in first[1:]] == [True, False, False]
    index = BenchmarkIndex(texts)
    # containment: a field counts on its own only with field_min_ngrams n-grams (most COPA fields
    # are shorter: they count as part of their document)
    checked_fields = [texts[i] for i in index.checked if texts[i].field != "document"]
    assert all(len(shingle_set(letters_form(t.text), 5)) >= index.config.field_min_ngrams for t in checked_fields)
    assert 0 < len(checked_fields) < len([t for t in texts if t.field != "document"]) // 4
    documents = sum(1 for i in index.checked if texts[i].field == "document")
    assert documents + index.skipped_short == 500 and documents > 490
    # occurrence: premises of at least 10 letters, never the alternatives
    occurrence = [texts[i] for i in index.occurrence_checked]
    assert {t.field for t in occurrence} == {"premise"}
    premises = [t for t in texts if t.field == "premise"]
    assert len(occurrence) == sum(1 for t in premises if 10 <= len(letters_form(t.text)) <= 100) > 250
    with pytest.raises(DataError, match="unknown KoBEST task"):
        kobest_texts(kobest_dir, tasks=["nli"])
    with pytest.raises(DataError, match="unknown KoBEST split"):
        normalize_split("dev2")
    with pytest.raises(ValueError, match="edit_rate"):
        DecontamConfig(edit_rate=1.0)
