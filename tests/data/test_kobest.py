"""KoBEST reading: the same documents as the hub's loading script (pandas read_csv defaults)."""

import csv

import pandas as pd
import pytest

from polyplatypus.data.kobest import SOURCES, SPLIT_FILES, load_kobest
from polyplatypus.errors import DataError


def _hub_like(kobest_dir, task, split):
    """Independent path: what the hub script does (pandas defaults, dropna, column mapping)."""
    source = SOURCES[task]
    frame = pd.read_csv(kobest_dir / source.directory / SPLIT_FILES[split], sep="\t").dropna()
    docs = []
    for _, row in frame.iterrows():
        doc = {}
        for field, column, kind in source.fields:
            value = row[column]
            if kind == "bool":
                doc[field] = 0 if (value is False or str(value) in ("False", "FALSE", "false")) else 1
            elif kind == "choice":
                doc[field] = int(value) - 1
            elif kind == "int":
                doc[field] = int(value)
            else:
                doc[field] = str(value)
        docs.append(doc)
    return docs


@pytest.mark.parametrize("task", sorted(SOURCES))
@pytest.mark.parametrize("split", ["train", "validation", "test"])
def test_documents_match_the_hub_loading_script(kobest_dir, task, split):
    ours = load_kobest(task, split, kobest_dir)
    expected = _hub_like(kobest_dir, task, split)
    assert len(ours) == len(expected)
    for doc, want in zip(ours, expected):
        assert {k: v for k, v in doc.items() if k != "doc_index"} == want
    assert [d["doc_index"] for d in ours] == list(range(len(ours)))


def test_boolq_train_upper_case_answers_give_both_labels(kobest_dir):
    raw = (kobest_dir / "BoolQ" / "train.tsv").read_text(encoding="utf-8")
    assert "\tTRUE" in raw and "\tFALSE" in raw  # the trap: all upper-case in this split
    labels = [d["label"] for d in load_kobest("boolq", "train", kobest_dir)]
    assert 0.4 < sum(labels) / len(labels) < 0.6


def test_quoted_fields_are_unquoted_like_csv(kobest_dir):
    path = kobest_dir / "BoolQ" / "train.tsv"
    with open(path, encoding="utf-8", newline="") as handle:
        raw_rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    docs = load_kobest("boolq", "train", kobest_dir)
    quoted = [i for i, row in enumerate(raw_rows) if row[1].startswith('"') or row[2].startswith('"')]
    assert len(quoted) == 12  # the kobest README: 12 BoolQ train rows change
    for i in quoted:
        assert (docs[i]["paragraph"], docs[i]["question"]) != (raw_rows[i][1], raw_rows[i][2])
    untouched = [i for i in range(len(raw_rows)) if i not in quoted]
    assert all(docs[i]["paragraph"] == raw_rows[i][1] for i in untouched)


def _write(tmp_path, name, text):
    path = tmp_path / "COPA" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_file_is_named(tmp_path):
    (tmp_path / "COPA").mkdir()
    with pytest.raises(DataError, match=r"COPA/test.tsv"):
        load_kobest("copa", "test", tmp_path)


def test_malformed_row_names_file_record_and_line(tmp_path):
    _write(tmp_path, "test.tsv", "ID\tsentence\tquestion\t1\t2\tAnswer\n1\t가\t결과\t나\t다\t1\n2\t가\t결과\t나\n")
    with pytest.raises(DataError, match=r"test.tsv, record 2: expected 6 tab-separated fields, found 4 \(line 3\)"):
        load_kobest("copa", "test", tmp_path)


def test_bad_answer_value_names_the_column(tmp_path):
    _write(tmp_path, "dev.tsv", "ID\tsentence\tquestion\t1\t2\tAnswer\n1\t가\t결과\t나\t다\t3\n")
    with pytest.raises(DataError, match=r"dev.tsv, record 1, field 'Answer': expected 1 or 2"):
        load_kobest("copa", "validation", tmp_path)


def test_missing_column_is_reported(tmp_path):
    _write(tmp_path, "train.tsv", "ID\tsentence\tquestion\t1\t2\n1\t가\t결과\t나\t다\n")
    with pytest.raises(DataError, match=r"lacks column\(s\) \['Answer'\]"):
        load_kobest("copa", "train", tmp_path)


def test_unknown_task_and_environment_override(tmp_path, monkeypatch, kobest_dir):
    with pytest.raises(DataError, match="unknown KoBEST task"):
        load_kobest("klue", "test", kobest_dir)
    monkeypatch.setenv("POLYPLATYPUS_KOBEST_DIR", str(kobest_dir))
    assert len(load_kobest("copa", "test")) == 1000
    monkeypatch.setenv("POLYPLATYPUS_KOBEST_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="does not exist"):
        load_kobest("copa", "test")


def test_unreachable_hub_says_how_to_work_offline(monkeypatch):
    import datasets

    from polyplatypus.data import kobest

    def unreachable(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'skt/kobest_v1' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.delenv("POLYPLATYPUS_KOBEST_DIR", raising=False)
    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    kobest._load_cached.cache_clear()
    with pytest.raises(DataError, match=r"from the hub: Couldn't reach.*--kobest-dir or \$POLYPLATYPUS_KOBEST_DIR"):
        load_kobest("copa", "test")


def test_script_dataset_falls_back_to_the_parquet_conversion(monkeypatch):
    import datasets

    from polyplatypus.data import kobest

    calls = []
    rows = [
        {
            "premise": "비가 왔다.",
            "question": "결과",
            "alternative_1": "우산을 썼다.",
            "alternative_2": "눈이 왔다.",
            "label": 0,
        }
    ]

    def fake_load(path, name, split, revision=None):
        calls.append(revision)
        if revision is None:
            raise RuntimeError("Dataset scripts are no longer supported, but found kobest_v1.py")
        return rows

    monkeypatch.delenv("POLYPLATYPUS_KOBEST_DIR", raising=False)
    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    kobest._load_cached.cache_clear()
    docs = load_kobest("copa", "test")
    assert calls == [None, "refs/convert/parquet"]
    assert docs == [{"doc_index": 0, **rows[0]}]
    kobest._load_cached.cache_clear()


def test_documents_sha256_follows_the_file_content(tmp_path, kobest_dir):
    import hashlib
    import shutil

    from polyplatypus.data.kobest import documents_sha256

    copy = tmp_path / "kobest"
    shutil.copytree(kobest_dir / "COPA", copy / "COPA")
    before = documents_sha256("copa", ["test", "train"], copy)
    # independent: sha256 over "copa/<split>\0<sha256 of the file>\n"
    expected = hashlib.sha256()
    for split, name in (("test", "test.tsv"), ("train", "train.tsv")):
        expected.update(f"copa/{split}\0{hashlib.sha256((copy / 'COPA' / name).read_bytes()).hexdigest()}\n".encode())
    assert before == expected.hexdigest()
    assert documents_sha256("copa", ["test"], copy) != before  # the few-shot split counts when used
    test_file = copy / "COPA" / "test.tsv"
    test_file.write_bytes(test_file.read_bytes().replace("원인".encode(), "결과".encode(), 1))
    assert documents_sha256("copa", ["test", "train"], copy) != before


def test_an_edited_split_file_is_read_again(tmp_path, kobest_dir):
    import shutil

    copy = tmp_path / "kobest"
    shutil.copytree(kobest_dir / "COPA", copy / "COPA")
    first = load_kobest("copa", "test", copy)
    path = copy / "COPA" / "test.tsv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:-1]), encoding="utf-8")  # the last document removed
    assert len(load_kobest("copa", "test", copy)) == len(first) - 1
