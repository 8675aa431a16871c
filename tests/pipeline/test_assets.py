"""The bundled data: the Korean corpus and the KoBEST-format sample."""

import csv
import re
from pathlib import Path

import pytest

from polyplatypus.data.kobest import SOURCES, SPLIT_FILES, load_kobest
from polyplatypus.pipeline.config import resolve_builtin
from polyplatypus.pipeline.pretrain import read_corpus

SAMPLE = Path(resolve_builtin("builtin:kobest_sample"))
CORPUS = Path(resolve_builtin("builtin:corpus"))
# Header rows of KoBEST v1.0 as its authors released it (see ../shared/data/kobest/README.md).
HEADERS = {
    ("BoolQ", "*"): ["ID", "Text", "Question", "Answer"],
    ("COPA", "*"): ["ID", "sentence", "question", "1", "2", "Answer"],
    ("HellaSwag", "*"): ["context", "choice1", "choice2", "choice3", "choice4", "label"],
    ("SentiNeg", "train"): ["ID", "Text", "Label"],
    ("SentiNeg", "dev"): ["ID", "Label", "Text"],
    ("SentiNeg", "test"): ["ID", "Label_origin", "Text_origin", "Label", "Text", "Category_neg"],
    ("WiC", "*"): [
        "ID",
        "Target",
        "SENTENCE1",
        "Dictionary 1",
        "Link 1",
        "SENTENCE2",
        "Dictionary 2",
        "Link2",
        "ANSWER",
    ],
}


def header(folder: str, split: str) -> list[str]:
    return HEADERS.get((folder, split)) or HEADERS[(folder, "*")]


def sample_texts() -> set[str]:
    texts = set()
    for task in SOURCES:
        for split in SPLIT_FILES:
            for doc in load_kobest(task, split, SAMPLE):
                texts |= {v for k, v in doc.items() if isinstance(v, str)}
    return texts


@pytest.mark.parametrize("task", sorted(SOURCES))
def test_sample_follows_the_kobest_layout(task):
    source = SOURCES[task]
    for split, filename in SPLIT_FILES.items():
        path = SAMPLE / source.directory / filename
        raw = path.read_bytes()
        assert raw.count(b"\r\n") == raw.count(b"\n"), "KoBEST files end lines with CRLF"
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle, delimiter="\t"))
        assert rows[0] == header(source.directory, filename.removesuffix(".tsv"))
        assert all(len(row) == len(rows[0]) for row in rows)
        docs = load_kobest(task, split, SAMPLE)
        labels = {doc["label"] for doc in docs}
        assert labels <= ({0, 1, 2, 3} if task == "hellaswag" else {0, 1}) and len(labels) >= 2
    train = load_kobest(task, "train", SAMPLE)
    assert len(train) >= 51, "50-shot prompts need 50 training documents besides none"
    assert 10 <= len(load_kobest(task, "validation", SAMPLE)) <= 12
    assert 28 <= len(load_kobest(task, "test", SAMPLE)) <= 30


def test_sample_specific_formats():
    wic = load_kobest("wic", "test", SAMPLE)
    assert all(f"[{doc['word']}]" in doc["context_1"] and f"[{doc['word']}]" in doc["context_2"] for doc in wic)
    with open(SAMPLE / "SentiNeg" / "test.tsv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert all(row["Label"] != row["Label_origin"] and row["Text"] != row["Text_origin"] for row in rows)
    assert {row["Category_neg"] for row in rows} == {"1", "2", "3"}
    with open(SAMPLE / "BoolQ" / "test.tsv", encoding="utf-8", newline="") as handle:
        answers = {row["Answer"] for row in csv.DictReader(handle, delimiter="\t")}
    assert answers == {"True", "False"}


def test_sample_splits_do_not_share_text():
    for task in SOURCES:
        seen = {}
        for split in SPLIT_FILES:
            texts = {
                v
                for doc in load_kobest(task, split, SAMPLE)
                for k, v in doc.items()
                if isinstance(v, str) and len(v) > 12 and k not in ("word",)
            }
            for other, previous in seen.items():
                # HellaSwag endings are reused as wrong choices only within a split
                assert not (texts & previous), f"{task}: {split} and {other} share text"
            seen[split] = texts


def test_corpus_is_korean_text_of_sensible_size():
    paragraphs = read_corpus(CORPUS)
    text = "\n".join(paragraphs)
    size = sum(p.stat().st_size for p in CORPUS.glob("*.txt"))
    assert 30_000 < size < 300_000
    assert len(paragraphs) > 100
    hangul = len(re.findall(r"[가-힣]", text))
    assert hangul / len(text) > 0.6


def _sentences(text: str) -> set[str]:
    return {s.strip() for s in re.split(r"(?<=[.?!])\s+|\n", text) if len(s.strip()) >= 12}


def test_corpus_shares_no_sentence_with_the_sample():
    corpus = _sentences("\n".join(read_corpus(CORPUS)))
    sample = set()
    for text in sample_texts():
        sample |= _sentences(text)
    assert not (corpus & sample)


def test_sample_and_corpus_are_not_copied_from_kobest(kobest_dir):
    real = set()
    for task in SOURCES:
        for split in SPLIT_FILES:
            for doc in load_kobest(task, split, kobest_dir):
                real |= {v.strip() for v in doc.values() if isinstance(v, str) and len(v) > 12}
    ours = {t.strip() for t in sample_texts() if len(t) > 12}
    assert len(ours) > 300
    assert not (ours & real)
    real_sentences = set()
    for text in real:
        real_sentences |= _sentences(text)
    corpus = _sentences("\n".join(read_corpus(CORPUS)))
    assert len(corpus) > 500
    assert not (corpus & real_sentences)


def _corpus_units() -> list[str]:
    """What the corpus could leak: every line (a review, a prose paragraph, a reading passage),
    reviews without their label."""
    return [
        re.sub(r" \((긍정|부정)\)$", "", line) for paragraph in read_corpus(CORPUS) for line in paragraph.splitlines()
    ]


def test_corpus_contains_no_sample_test_or_dev_document():
    """No line of the corpus contains a test or dev document of the bundled sample, verbatim or
    nearly: not half of its character 5-grams (the decontamination index's rule) nor all of its
    words in order; nor any text of the sample (any split) of eight letters or more."""
    from .make_corpus import LeakFilter

    units = _corpus_units()
    leaks = LeakFilter().leaks(units)
    assert not leaks, [(units[i], text) for i, text in list(leaks.items())[:5]]


def test_the_leak_check_finds_near_copies():
    from .make_corpus import LeakFilter

    passage = load_kobest("boolq", "test", SAMPLE)[0]["paragraph"]
    units = [
        "서비스가 정말로 만족스럽지 않아요",  # a sample test sentence with a word added
        passage[: len(passage) * 2 // 3],  # two thirds of a test passage
        "별로 만족스럽지 않아요",  # most of a test sentence's 5-grams
        "생각보다 훨씬 튼튼하네요 또 살게요",  # a sample train sentence inside a line
        "동네 도서관이 새로 문을 열었다.",
    ]
    assert sorted(LeakFilter().leaks(units)) == [0, 1, 2, 3]


def test_review_drills_are_labelled_and_balanced():
    paragraphs = read_corpus(CORPUS / "20_review_drills.txt")[1:]  # after the heading
    assert len(paragraphs) > 2500
    labels = [re.fullmatch(r"[^\n]+ \((긍정|부정)\)", p).group(1) for p in paragraphs]
    assert abs(labels.count("긍정") - labels.count("부정")) < 0.05 * len(labels)
    negated = [p for p in paragraphs if re.search(r"(^| )안 |지 (않|못)", p)]
    assert len(negated) > len(paragraphs) // 3
    # negation does not give the label away: both labels are common among negated reviews
    assert min(sum("(긍정)" in p for p in negated), sum("(부정)" in p for p in negated)) > len(negated) // 4


def test_review_drills_are_reproducible():
    import random

    from .make_corpus import HEADERS, SEED, build, render

    for name, paragraphs in build(random.Random(SEED), quiet=True).items():
        assert (CORPUS / name).read_text(encoding="utf-8") == render(name, paragraphs), (
            f"{name} is out of date: run python tests/pipeline/make_corpus.py"
        )
    assert set(HEADERS) == {p.name for p in CORPUS.glob("2*.txt")}
