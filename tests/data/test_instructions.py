"""load_instructions: formats, field handling, and errors that name file, record and field."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from polyplatypus.data.instructions import load_instructions, source_kind
from polyplatypus.errors import DataError

RECORDS = [
    {
        "instruction": "다음 문장을 영어로 번역하세요.",
        "input": "오늘은 날씨가 맑다.",
        "output": "The weather is clear today.",
        "data_source": "guanaco",
        "id": 7,
    },
    {"instruction": "1부터 10까지의 합을 구하시오.", "output": "55", "data_source": "MATH/PRM-800K"},
    {"instruction": "광합성이 일어나는 세포 소기관은?", "input": None, "output": "엽록체", "extra": {"a": [1, 2]}},
]


def write_jsonl(path, rows, blank_lines=False):
    lines = []
    for row in rows:
        lines.append(row if isinstance(row, str) else json.dumps(row, ensure_ascii=False))
        if blank_lines:
            lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def check_records(records):
    assert [r["instruction"] for r in records] == [r["instruction"] for r in RECORDS]
    assert [r["input"] for r in records] == ["오늘은 날씨가 맑다.", "", ""]
    assert records[0]["id"] == 7 and records[0]["data_source"] == "guanaco"
    assert records[2]["extra"] == {"a": [1, 2]}
    assert list(records[0])[:3] == ["instruction", "input", "output"]


def test_jsonl_json_parquet_agree(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    jsonl = write_jsonl(tmp_path / "a.jsonl", RECORDS, blank_lines=True)
    plain = tmp_path / "a.json"
    plain.write_text(json.dumps(RECORDS, ensure_ascii=False), encoding="utf-8")
    rows = [{k: r.get(k) for k in ("instruction", "input", "output", "data_source")} for r in RECORDS]
    parquet = tmp_path / "a.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)

    check_records(load_instructions(jsonl))
    check_records(load_instructions(str(plain)))
    from_parquet = load_instructions(parquet)
    assert [r["input"] for r in from_parquet] == ["오늘은 날씨가 맑다.", "", ""]
    assert from_parquet[1]["data_source"] == "MATH/PRM-800K" and from_parquet[2]["data_source"] is None


def test_json_file_holding_json_lines(tmp_path):
    path = write_jsonl(tmp_path / "lines.json", RECORDS)
    check_records(load_instructions(path))


@pytest.mark.parametrize(
    "record, field, reason",
    [
        ({"output": "x"}, "instruction", "missing instruction"),
        ({"instruction": "질문", "output": "  "}, "output", "empty output"),
        ({"instruction": 3, "output": "x"}, "instruction", "non-string instruction"),
        ({"instruction": "질문", "input": ["a"], "output": "x"}, "input", "non-string input"),
        ({"instruction": "질문", "output": None}, "output", "missing output"),
    ],
)
def test_invalid_record_names_file_record_and_field(tmp_path, record, field, reason):
    path = write_jsonl(tmp_path / "bad.jsonl", [RECORDS[0], RECORDS[1], record, RECORDS[2]])
    with pytest.raises(DataError) as caught:
        load_instructions(path)
    error = caught.value
    assert (error.record, error.field) == (3, field)
    assert str(path) in str(error) and "record 3" in str(error) and repr(field) in str(error)

    skipped = Counter()
    records = load_instructions(path, skip_invalid=True, skipped=skipped)
    assert len(records) == 3 and skipped == Counter({reason: 1})


def test_invalid_json_line_gives_line_number(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(RECORDS[0]) + '\n\n{"instruction": "x",\n' + json.dumps(RECORDS[1]) + "\n")
    with pytest.raises(DataError, match="line 3") as caught:
        load_instructions(path)
    assert caught.value.record == 2
    skipped = Counter()
    assert len(load_instructions(path, skip_invalid=True, skipped=skipped)) == 2
    assert skipped == Counter({"invalid JSON line": 1})


def test_non_object_rows(tmp_path):
    path = tmp_path / "list.json"
    path.write_text(json.dumps([RECORDS[0], "just a string", 5]), encoding="utf-8")
    with pytest.raises(DataError, match="expected an object") as caught:
        load_instructions(path)
    assert caught.value.record == 2
    skipped = Counter()
    assert len(load_instructions(path, skip_invalid=True, skipped=skipped)) == 1
    assert skipped == Counter({"not an object": 2})


@pytest.mark.parametrize(
    "content, message", [("", "empty file"), ("  \n\n", "empty file"), ("[]", "empty"), ('{"a": 1}', "list of objects")]
)
def test_file_level_errors(tmp_path, content, message):
    path = tmp_path / ("x.jsonl" if content.strip() in ("",) else "x.json")
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message) as caught:
        load_instructions(path, skip_invalid=True)
    assert caught.value.path == path


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_instructions(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match="does not exist"):
        load_instructions("data/extra.jsonl")
    csv = tmp_path / "data.csv"
    csv.write_text("instruction,output\n질문,답\n", encoding="utf-8")
    with pytest.raises(DataError, match="unknown file type '.csv'"):
        load_instructions(csv)


def test_source_kind(tmp_path):
    assert source_kind("kyujinpy/KOpen-platypus") == "hub"
    assert source_kind("hub:kyujinpy/KOpen-platypus") == "hub"
    assert source_kind("extra.jsonl") == "file"
    assert source_kind("./KOpen-platypus") == "file"
    (tmp_path / "owner").mkdir()
    assert source_kind(tmp_path / "owner") == "file"


def test_hub_source_uses_train_split(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(name, split=None):
        calls.append((name, split))
        return datasets.Dataset.from_list(
            [{"instruction": "질문", "input": None, "output": "답", "data_source": "airoboros"}]
        )

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    records = load_instructions("kyujinpy/KOpen-platypus")
    assert calls == [("kyujinpy/KOpen-platypus", "train")]
    assert records == [{"instruction": "질문", "input": "", "output": "답", "data_source": "airoboros"}]


def test_hub_failure_is_data_error(monkeypatch):
    import datasets

    def failing(name, split=None):
        raise FileNotFoundError(f"Dataset {name} doesn't exist")

    monkeypatch.setattr(datasets, "load_dataset", failing)
    with pytest.raises(DataError, match="cannot load hub dataset"):
        load_instructions("someone/missing-set")


def test_fields_keep_the_order_they_came_in(tmp_path):
    rows = [
        {"id": 1, "output": "무궁화", "instruction": "한국의 국화는?", "tags": ["a"]},
        {"input": None, "id": 2, "instruction": "질문", "output": "답"},
    ]
    records = load_instructions(write_jsonl(tmp_path / "order.jsonl", rows))
    assert [list(r) for r in records] == [
        ["id", "output", "instruction", "input", "tags"],
        ["input", "id", "instruction", "output"],
    ]
    assert records[0]["input"] == "" and records[1]["input"] == ""


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_invalid_utf8_names_the_line(tmp_path, bom):
    good = json.dumps({"instruction": "질문", "output": "답"}, ensure_ascii=False).encode("utf-8")
    path = tmp_path / "broken.jsonl"
    path.write_bytes(bom + good + b"\n" + good + b"\n\n" + good[:-5] + b"\xff\xfe" + good[-5:] + b"\n" + good + b"\n")
    with pytest.raises(DataError, match=r"broken.jsonl: not UTF-8 text on line 4 \(invalid start byte at byte \d+\)"):
        load_instructions(path)
