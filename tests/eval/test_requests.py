"""Request building: the reference's shuffle and few-shot draws, and the few-shot trap."""

import pytest

from polyplatypus.data.kobest import load_kobest
from polyplatypus.errors import ConfigError
from polyplatypus.eval.requests import build_requests
from polyplatypus.tasks import all_task_names, get_task
from tests.eval.straightforward import straightforward_contexts


@pytest.mark.parametrize("name", all_task_names())
@pytest.mark.parametrize("shots", [0, 5])
def test_contexts_match_an_independent_implementation(kobest_dir, name, shots):
    task = get_task(name)
    test, train = load_kobest(task.source, "test", kobest_dir), load_kobest(task.source, "train", kobest_dir)
    ours = build_requests(task, test, train, shots, limit=30)
    expected = straightforward_contexts(task, test, train, shots, 30)
    assert [r.doc_index for r in ours] == [d["doc_index"] for d, _ in expected]
    assert [r.context for r in ours] == [c for _, c in expected]


def test_limit_takes_a_prefix_of_the_shuffled_order(kobest_dir):
    task = get_task("kobest_sentineg")
    test, train = load_kobest("sentineg", "test", kobest_dir), load_kobest("sentineg", "train", kobest_dir)
    full = build_requests(task, test, train, 5)
    short = build_requests(task, test, train, 5, limit=10)
    assert len(full) == 397 and [r.context for r in short] == [r.context for r in full[:10]]


def test_boolq_fewshot_examples_say_both_yes_and_no(kobest_dir):
    """Reading TRUE/FALSE wrongly would make every BoolQ few-shot answer 아니오."""
    task = get_task("kobest_boolq")
    requests = build_requests(
        task, load_kobest("boolq", "test", kobest_dir), load_kobest("boolq", "train", kobest_dir), 5, limit=20
    )
    text = "".join(r.context for r in requests)
    # doc_to_text ends with "응답: " and the target starts with a space, hence two spaces.
    assert text.count("응답:  예\n\n") > 10
    assert text.count("응답:  아니오\n\n") > 10


def test_more_shots_than_training_documents_is_an_error():
    task = get_task("kobest_copa")
    docs = [
        {"doc_index": i, "premise": "가", "question": "원인", "alternative_1": "a", "alternative_2": "b", "label": 0}
        for i in range(3)
    ]
    with pytest.raises(ConfigError, match="5 shots asked but the train split has only 3"):
        build_requests(task, docs, docs, 5)
