"""The tiny base model's pre-training data: corpus files, the token stream, held-out text."""

import pytest

from polyplatypus.errors import DataError
from polyplatypus.models.tiny import train_tokenizer
from polyplatypus.pipeline.pretrain import PARAGRAPH_SEPARATOR, _token_stream, read_corpus, read_corpus_documents

REVIEWS = ["배송이 빨라요 (긍정)", "포장이 허술해요 (부정)", "직원이 친절하지 않아요 (부정)"]
STORY = ["옛날 어느 마을에 나무꾼이 살았다.", "나무꾼은 날마다 산에 올랐다."]


@pytest.fixture(scope="module", params=["paragraphs", "blank lines merged"])
def tokenizer(request):
    texts = REVIEWS + STORY
    if request.param == "blank lines merged":  # a vocabulary with a token for "\n\n"
        texts = texts + ["\n\n".join(texts)] * 20
    return train_tokenizer(texts, vocab_size=300)


def test_corpus_files_are_documents_of_paragraphs(tmp_path):
    (tmp_path / "a.txt").write_text("\n\n".join(REVIEWS) + "\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("\r\n\r\n".join(STORY) + "\r\n\r\n\r\n", encoding="utf-8")
    (tmp_path / "c.txt").write_text("\n\n", encoding="utf-8")
    assert read_corpus_documents(tmp_path) == [REVIEWS, STORY]
    assert read_corpus(tmp_path) == REVIEWS + STORY
    assert read_corpus(tmp_path / "b.txt") == STORY
    with pytest.raises(DataError, match="the corpus is empty"):
        read_corpus(tmp_path / "c.txt")
    with pytest.raises(DataError, match="not found"):
        read_corpus(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .txt files"):
        read_corpus(tmp_path / "empty")


def test_token_stream_reads_like_a_few_shot_prompt(tokenizer):
    """Paragraphs of a file are joined by a blank line, as few-shot examples are, and each file
    ends with the end-of-text token; the stream is what tokenizing the joined text gives."""
    stream, starts = _token_stream(tokenizer, [REVIEWS, [], STORY])
    eos = tokenizer.eos_token_id
    joined = PARAGRAPH_SEPARATOR.join(REVIEWS)
    first = tokenizer(joined, add_special_tokens=False)["input_ids"]
    assert stream[: len(first) + 1] == first + [eos]
    assert stream.count(eos) == 2 and stream[-1] == eos
    assert tokenizer.decode(stream[: len(first)]) == joined
    assert len(starts) == len(REVIEWS) + len(STORY)
    for start, paragraph in zip(starts, REVIEWS + STORY):
        n = len(tokenizer(paragraph, add_special_tokens=False)["input_ids"])
        assert tokenizer.decode(stream[start : start + n]) == paragraph
