"""curate() and `polyplatypus data curate/stats` on the bundled sample with planted problems."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from polyplatypus.cli import main
from polyplatypus.data.curate import curate, format_summary
from polyplatypus.data.decontam import DecontamConfig
from polyplatypus.data.instructions import load_instructions
from polyplatypus.data.kobest import load_kobest
from polyplatypus.data.normalize import dedup_form, letters_form
from polyplatypus.data.templates import get_template
from polyplatypus.data.tokenize import tokenize_records
from polyplatypus.errors import ConfigError, DataError
from polyplatypus.pipeline.config import resolve_builtin

from .edits import alter_whitespace, change_characters, swap_particle

SAMPLE = resolve_builtin("builtin:instructions/ko_platypus_sample.jsonl")


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def plant(sample_records, kobest_dir) -> tuple[list[dict], dict[str, str]]:
    """Extra records (and what should happen to each, by id) built from the sample and KoBEST."""
    by_length = sorted(sample_records, key=lambda r: (-len(dedup_form(r["instruction"] + r["input"])), r["id"]))
    medium = [r for r in sample_records if 45 <= len(dedup_form(r["instruction"] + r["input"])) < 80]
    copa = load_kobest("copa", "test", kobest_dir)[42]
    boolq = load_kobest("boolq", "test", kobest_dir)[7]
    review = next(
        d["sentence"] for d in load_kobest("sentineg", "test", kobest_dir) if len(letters_form(d["sentence"])) == 12
    )
    rows, expect = [], {}

    def add(tag, record, fate):
        rows.append({**record, "id": tag, "tags": ["planted", fate]})
        expect[tag] = fate

    add("chars", {**medium[0], "instruction": change_characters(medium[0]["instruction"], 1)}, "near")
    add("particle", {**medium[1], "instruction": swap_particle(medium[1]["instruction"])}, "near")
    add("spacing", {**medium[2], "instruction": alter_whitespace(medium[2]["instruction"])}, "near")
    longest = by_length[0]
    add("two-edits", {**longest, "input": change_characters(swap_particle(longest["input"]), 1)}, "near")
    add(
        "exact",
        {**medium[3], "instruction": "  " + medium[3]["instruction"].replace(" ", "\u3000 ", 1) + "\n"},
        "exact",
    )
    add(
        "copa",
        {
            "instruction": f"전제: {copa['premise']}\n1) {copa['alternative_1']}\n2) {copa['alternative_2']}",
            "input": "",
            "output": "2",
            "data_source": "synthetic",
        },
        "contaminated",
    )
    add(
        "boolq",
        {
            "instruction": "다음 글을 읽고 물음에 답하시오.",
            "input": swap_particle(alter_whitespace(boolq["paragraph"])),
            "output": "예",
            "data_source": "synthetic",
        },
        "contaminated",
    )
    add(
        "review",
        {
            "instruction": "다음 리뷰가 긍정인지 부정인지 쓰시오.",
            "input": change_characters(review, 1),
            "output": "부정",
            "data_source": "synthetic",
        },
        "contaminated",
    )
    add(
        "short-review",
        {
            "instruction": "리뷰: 완전 거북이배송\n이 리뷰의 감정은?",
            "input": "",
            "output": "부정",
            "data_source": "synthetic",
        },
        "contaminated",
    )
    add(
        "distinct-1",
        {
            "instruction": "한국의 사계절 가운데 장마가 드는 계절과 그 시기를 알려 주세요.",
            "input": "",
            "output": "여름입니다. 보통 6월 하순부터 7월 하순까지 장마가 이어집니다.",
        },
        "kept",
    )
    add(
        "distinct-2",
        {
            "instruction": "파이썬에서 딕셔너리를 값 기준으로 내림차순 정렬하는 코드를 작성하세요.",
            "input": "",
            "output": "sorted(d.items(), key=lambda kv: kv[1], reverse=True)",
        },
        "kept",
    )
    # heavily edited: a different question now (Jaccard well below the threshold), so it stays
    add("heavy", {**medium[4], "instruction": change_characters(medium[4]["instruction"], 8)}, "kept")
    return rows, expect


@pytest.fixture()
def planted_source(tmp_path, sample_records, kobest_dir):
    rows, expect = plant(sample_records, kobest_dir)
    rows.insert(3, {"instruction": "출력이 빠진 레코드", "input": ""})  # invalid: no output
    return write_jsonl(tmp_path / "extra.jsonl", rows), expect


def test_curate_removes_planted_problems_and_keeps_the_rest(tmp_path, planted_source, sample_records, kobest_dir):
    extra, expect = planted_source
    output = tmp_path / "out" / "curated.jsonl"
    report = curate([SAMPLE, str(extra)], output, decontaminate="kobest", kobest_dir=kobest_dir, skip_invalid=True)

    curated = load_instructions(output)
    ids = [r["id"] for r in curated]
    # every sample record is kept, in input order, followed by the distinct extra records
    assert ids[: len(sample_records)] == [r["id"] for r in sample_records]
    assert ids[len(sample_records) :] == [k for k, fate in expect.items() if fate == "kept"]
    # every field kept as it came, plus the origin
    first_extra = curated[len(sample_records)]
    assert first_extra["tags"] == ["planted", "kept"] and first_extra["origin"] == str(extra)
    assert curated[0]["origin"] == SAMPLE and curated[0]["data_source"] == sample_records[0]["data_source"]

    removed = {}
    for kind in ("exact_duplicates", "near_duplicates", "contaminated"):
        for item in report[kind]:
            assert item["removed"]["source"] == str(extra)
            removed[item["removed"]["id"]] = (kind, item)
    assert {k: v[0] for k, v in removed.items()} == {
        k: {"near": "near_duplicates", "exact": "exact_duplicates", "contaminated": "contaminated"}[fate]
        for k, fate in expect.items()
        if fate != "kept"
    }
    # near and exact duplicates point at the sample record they copy, which is in the output
    for tag in ("chars", "particle", "spacing", "two-edits", "exact"):
        kept = removed[tag][1]["kept"]
        assert kept["source"] == SAMPLE and kept["id"] in ids
    assert removed["spacing"][1]["similarity"] == 1.0
    assert all(0.8 <= item["similarity"] <= 1.0 for item in report["near_duplicates"])
    copa = removed["copa"][1]
    assert (copa["benchmark"]["task"], copa["benchmark"]["split"], copa["benchmark"]["doc_index"]) == (
        "copa",
        "test",
        42,
    )
    assert (copa["measure"], copa["similarity"]) == ("containment", 1.0) and copa["shared_ngrams"] > 10
    boolq = removed["boolq"][1]["benchmark"]
    assert (boolq["task"], boolq["doc_index"]) == ("boolq", 7) and removed["boolq"][1]["similarity"] >= 0.5
    review = removed["review"][1]
    assert (review["measure"], review["edits"], review["benchmark"]["task"]) == ("occurrence", 1, "sentineg")
    assert removed["short-review"][1]["measure"] == "segment"

    # every record read is counted in: the invalid one too
    extra_counts = report["sources"][1]
    assert extra_counts == {
        "source": str(extra),
        "records_in": len(expect) + 1,
        "skipped_invalid": {"missing output": 1},
        "exact_duplicates": 1,
        "contaminated": 4,
        "near_duplicates": 4,
        "records_out": 3,
    }
    for counts in report["sources"]:
        assert counts["records_in"] == sum(counts["skipped_invalid"].values()) + sum(
            counts[k] for k in ("exact_duplicates", "contaminated", "near_duplicates", "records_out")
        )
    assert report["totals"]["records_in"] == len(sample_records) + len(expect) + 1
    assert report["totals"]["skipped_invalid"] == 1
    assert report["totals"]["records_out"] == len(curated) == len(sample_records) + 3
    assert report["data_sources"]["synthetic"] == {"records_in": 4, "records_out": 0}

    on_disk = json.loads((tmp_path / "out" / "curated.jsonl.report.json").read_text(encoding="utf-8"))
    assert on_disk == {k: v for k, v in report.items() if k not in ("report_path", "timings")}
    summary = format_summary(report)
    assert "contaminated" not in summary or "copa/test#42" in summary
    assert "copa/test#42" in summary and "4 removed" in summary
    assert f"curated {len(sample_records) + len(expect) + 1} records into {len(curated)}" in summary


def test_earlier_sources_win(tmp_path, planted_source, sample_records):
    extra, expect = planted_source
    report = curate([str(extra), SAMPLE], tmp_path / "curated.jsonl", skip_invalid=True)
    kept_ids = {r["id"] for r in load_instructions(tmp_path / "curated.jsonl")}
    # now the planted copies come first and the sample's originals go
    assert {"chars", "particle", "spacing", "two-edits", "exact"} <= kept_ids
    for item in report["near_duplicates"] + report["exact_duplicates"]:
        assert item["removed"]["source"] == SAMPLE and item["kept"]["source"] == str(extra)
    assert report["settings"]["decontamination"] is None and report["totals"]["contaminated"] == 0


def test_near_dedup_off_and_threshold(tmp_path, planted_source):
    extra, _ = planted_source
    off = curate([SAMPLE, str(extra)], tmp_path / "a.jsonl", dedup_threshold=None, skip_invalid=True)
    assert off["totals"]["near_duplicates"] == 0 and off["totals"]["exact_duplicates"] == 1
    strict = curate([SAMPLE, str(extra)], tmp_path / "b.jsonl", dedup_threshold=1.0, skip_invalid=True)
    assert [i["removed"]["id"] for i in strict["near_duplicates"]] == ["spacing"]


def test_same_output_on_every_run(tmp_path, planted_source, kobest_dir):
    """Two processes with different hash seeds write byte-identical output and report."""
    extra, _ = planted_source
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / f"run{seed}" / "curated.jsonl"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "polyplatypus.cli",
                "data",
                "curate",
                "--data",
                SAMPLE,
                "--data",
                str(extra),
                "--decontaminate",
                "kobest",
                "--kobest-dir",
                str(kobest_dir),
                "--skip-invalid",
                "--quiet",
                "--output",
                str(out),
                "--report",
                str(tmp_path / "report.json"),
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        outputs.append((out.read_bytes(), (tmp_path / "report.json").read_bytes().replace(str(out).encode(), b"OUT")))
    assert outputs[0] == outputs[1]


def test_cli_curate_prints_a_summary(tmp_path, planted_source, kobest_dir, capsys, monkeypatch):
    extra, _ = planted_source
    monkeypatch.setenv("POLYPLATYPUS_KOBEST_DIR", str(kobest_dir))  # found as in `eval`
    code = main(
        [
            "data",
            "curate",
            "--data",
            SAMPLE,
            "--data",
            str(extra),
            "--decontaminate",
            "kobest",
            "--kobest-splits",
            "test,dev",
            "--skip-invalid",
            "--output",
            str(tmp_path / "c.jsonl"),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "curated" in out and "extra.jsonl" in out and "KoBEST test+validation" in out
    report = json.loads((tmp_path / "c.jsonl.report.json").read_text(encoding="utf-8"))
    assert report["settings"]["decontamination"]["kobest_source"] == str(Path(kobest_dir).resolve())
    assert report["totals"]["contaminated"] == 4


def test_report_records_every_decontamination_setting(tmp_path, planted_source, kobest_dir):
    """The report's decontamination block holds each field of the settings object with the value
    the run used (none of them at its default here), as in the file."""
    extra, _ = planted_source
    given = {
        "threshold": 0.6,
        "ngram": 4,
        "min_ngrams": 5,
        "field_min_ngrams": 11,
        "edit_rate": 0.1,
        "min_letters": 9,
        "field_edit_rate": 0.1,
        "field_min_letters": 12,
        "segment_min_letters": 5,
        "fields": ["instruction"],
    }
    assert set(given) == set(DecontamConfig.model_fields)
    assert all(DecontamConfig.model_fields[name].default != value for name, value in given.items())
    report = curate(
        [SAMPLE, str(extra)],
        tmp_path / "c.jsonl",
        decontaminate="kobest",
        kobest_dir=kobest_dir,
        kobest_splits="test",
        skip_invalid=True,
        **{f"decontam_{k}": v for k, v in given.items()},
    )
    block = report["settings"]["decontamination"]
    assert {name: block[name] for name in given} == given
    assert block["splits"] == ["test"] and block["edit_max_letters"] == 100
    written = json.loads((tmp_path / "c.jsonl.report.json").read_text(encoding="utf-8"))
    assert written["settings"] == report["settings"]


def test_cli_names_the_invalid_record(tmp_path, planted_source, capsys):
    extra, _ = planted_source
    code = main(["data", "curate", "--data", SAMPLE, "--data", str(extra), "--output", str(tmp_path / "c.jsonl")])
    assert code == 2
    err = capsys.readouterr().err
    assert str(extra) in err and "record 4" in err and "'output'" in err
    assert not (tmp_path / "c.jsonl").exists()


def test_bad_settings(tmp_path):
    with pytest.raises(ConfigError, match=".jsonl or .json"):
        curate([SAMPLE], tmp_path / "out.csv")
    with pytest.raises(ConfigError, match="unknown benchmark"):
        curate([SAMPLE], tmp_path / "out.jsonl", decontaminate="mmlu")
    with pytest.raises(DataError, match="does not exist"):
        curate([SAMPLE, str(tmp_path / "missing.jsonl")], tmp_path / "out.jsonl")
    with pytest.raises(SystemExit):
        main(["data", "curate", "--data", SAMPLE, "--output", "x.jsonl", "--dedup-threshold", "1.5"])


def test_hub_source_keeps_its_id_as_origin(tmp_path, monkeypatch):
    import datasets

    rows = [
        {
            "instruction": "서울의 옛 이름 중 하나를 말해 보세요.",
            "input": None,
            "output": "한양",
            "data_source": "guanaco",
        },
        {
            "instruction": "서울의 옛 이름 중 하나를 말해 보세요. ",
            "input": "",
            "output": "한성",
            "data_source": "guanaco",
        },
    ]
    monkeypatch.setattr(datasets, "load_dataset", lambda name, split=None: datasets.Dataset.from_list(rows))
    monkeypatch.setattr("polyplatypus.data.curate.check_hub_needs", lambda *a, **k: None)  # load_dataset is the hub
    report = curate(["kyujinpy/KOpen-platypus"], tmp_path / "o.jsonl")
    curated = load_instructions(tmp_path / "o.jsonl")
    assert curated == [
        {
            "instruction": rows[0]["instruction"],
            "input": "",
            "output": "한양",
            "data_source": "guanaco",
            "origin": "kyujinpy/KOpen-platypus",
        }
    ]
    assert report["exact_duplicates"][0]["kept"] == {
        "source": "kyujinpy/KOpen-platypus",
        "record": 1,
        "instruction": rows[0]["instruction"],
    }


def training_lengths(records, tokenizer, template_name):
    """(prompt, full) token lengths of each training example, built by hand as
    data/tokenize.py builds it: the template's prompt, the output, then EOS."""
    template = get_template(template_name)
    prompt, full = [], []
    for r in records:
        text = template.prompt(r["instruction"], r["input"])
        prompt.append(len(tokenizer(text)["input_ids"]))
        ids = tokenizer(text + r["output"])["input_ids"]
        full.append(len(ids) + (ids[-1] != tokenizer.eos_token_id))
    return prompt, full


def test_stats_command_with_tokenizer(tmp_path, tiny_gptneox_dir, tiny_tokenizer, capsys, sample_records):
    code = main(
        [
            "data",
            "stats",
            SAMPLE,
            "--tokenizer",
            str(tiny_gptneox_dir),
            "--json",
            str(tmp_path / "s.json"),
            "--cutoffs",
            "64,128",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert f"{len(sample_records)} records" in out and "token lengths" in out and ">128" in out
    assert "alpaca template" in out
    stats = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    tokens = stats["tokens"]
    prompt, full = training_lengths(sample_records, tiny_tokenizer, "alpaca")
    assert tokens["prompt_template"] == "alpaca"
    assert tokens["full"]["max"] == max(full) and tokens["prompt"]["max"] == max(prompt)
    assert tokens["full"]["mean"] == round(sum(full) / len(full), 1)
    assert tokens["output"]["mean"] == round((sum(full) - sum(prompt)) / len(full), 1)
    assert tokens["full"]["share_over"]["128"] == round(sum(n > 128 for n in full) / len(full), 4)
    # exactly what training sees: the examples tokenize_records builds, before any cutoff
    examples = tokenize_records(sample_records, tiny_tokenizer, get_template("alpaca"), cutoff_len=10**6)
    assert [len(e.input_ids) for e in examples] == full
    # the template is most of a short record: the raw fields alone are far shorter
    raw = [
        len(tiny_tokenizer(r["instruction"] + "\n" + r["input"] + "\n" + r["output"])["input_ids"])
        for r in sample_records
    ]
    assert tokens["full"]["mean"] > sum(raw) / len(raw) + 30
    assert stats["by_data_source"]["MATH/PRM-800K"] == sum(r["data_source"] == "MATH/PRM-800K" for r in sample_records)

    code = main(
        [
            "data",
            "stats",
            SAMPLE,
            "--tokenizer",
            str(tiny_gptneox_dir),
            "--prompt-template",
            "korean",
            "--json",
            str(tmp_path / "k.json"),
        ]
    )
    assert code == 0
    korean = json.loads((tmp_path / "k.json").read_text(encoding="utf-8"))["tokens"]
    assert korean["prompt_template"] == "korean"
    assert korean["full"]["max"] == max(training_lengths(sample_records, tiny_tokenizer, "korean")[1])
    assert main(["data", "stats", SAMPLE, "--tokenizer", str(tiny_gptneox_dir), "--prompt-template", "nope"]) == 2
    assert "unknown prompt template" in capsys.readouterr().err


def test_curate_report_has_token_lengths(tmp_path, tiny_tokenizer, sample_records):
    report = curate([SAMPLE], tmp_path / "o.jsonl", tokenizer=tiny_tokenizer)
    tokens = report["stats"]["tokens"]
    assert tokens["prompt"]["count"] == report["totals"]["records_out"]
    assert tokens["prompt"]["p50"] <= tokens["full"]["p50"] <= tokens["full"]["max"]
    assert tokens["full"]["max"] == max(training_lengths(sample_records, tiny_tokenizer, "alpaca")[1])
    assert report["settings"]["prompt_template"] == "alpaca"
    assert "token lengths" in format_summary(report)
    korean = curate([SAMPLE], tmp_path / "k.jsonl", tokenizer=tiny_tokenizer, prompt_template="korean")
    assert korean["stats"]["tokens"]["prompt_template"] == "korean"
    assert korean["stats"]["tokens"]["full"]["max"] == max(
        training_lengths(sample_records, tiny_tokenizer, "korean")[1]
    )


def test_fields_keep_their_order_and_origin_goes_last(tmp_path):
    rows = [
        {
            "id": "a1",
            "instruction": "부산의 대표 음식을 하나 말해 보세요.",
            "output": "돼지국밥",
            "data_source": "guanaco",
        },
        {"output": "세종대왕", "instruction": "훈민정음을 만든 왕은?", "input": None, "id": "a2"},
        {"id": "a3", "instruction": "한국의 국화는?", "input": "", "output": "무궁화", "origin": "koalpaca.jsonl"},
    ]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    curate([str(source)], tmp_path / "out.jsonl")
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    keys = [list(json.loads(line)) for line in lines]
    assert keys == [
        ["id", "instruction", "input", "output", "data_source", "origin"],
        ["output", "instruction", "input", "id", "origin"],
        ["id", "instruction", "input", "output", "origin", "origin_source"],
    ]
    written = [json.loads(line) for line in lines]
    assert [r["origin"] for r in written] == [str(source), str(source), "koalpaca.jsonl"]
    assert written[2]["origin_source"] == str(source)  # where this run read it: never lost
    # curated again: every origin is kept and the curated file is recorded as the source
    curate([str(tmp_path / "out.jsonl")], tmp_path / "again.jsonl")
    again = [json.loads(line) for line in (tmp_path / "again.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["origin"] for r in again] == [str(source), str(source), "koalpaca.jsonl"]
    assert {r["origin_source"] for r in again} == {str(tmp_path / "out.jsonl")}
