"""Decontamination against tasks by name: their evaluation and few-shot documents, the task named
for each removal; and the interface another kind of task (lm-eval's) implements."""

import json
from pathlib import Path

import pytest

from polyplatypus.cli import main
from polyplatypus.data import decontam
from polyplatypus.data.curate import curate, format_summary
from polyplatypus.data.task_data import ReferenceTaskDocuments, load_documents
from polyplatypus.errors import ConfigError
from polyplatypus.pipeline.config import resolve_builtin
from polyplatypus.tasks import get_task
from polyplatypus.tasks.texts import DocumentSource, TaskDocument

SAMPLE = resolve_builtin("builtin:instructions/ko_platypus_sample.jsonl")
KOBEST_SAMPLE = resolve_builtin("builtin:kobest_sample")


def _records(tmp_path, instructions):
    path = tmp_path / "extra.jsonl"
    rows = [{"id": f"x{i}", "instruction": text, "input": "", "output": "네."} for i, text in enumerate(instructions)]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_reference_task_documents_are_its_eval_and_fewshot_splits(hatespeech_dir):
    source = ReferenceTaskDocuments(get_task("kohatespeech"), {"korean_hate_speech": hatespeech_dir})
    assert isinstance(source, DocumentSource) and source.benchmark == "korean_hate_speech"
    documents = list(source.documents())
    assert [d.split for d in documents] == ["test"] * 471 + ["train"] * 7896
    assert documents[0] == TaskDocument(
        "kohatespeech", "test", 0, (("comments", "송중기 시대극은 믿고본다. 첫회 신선하고 좋았다."),), ("comments",)
    )
    texts = decontam.task_texts([source])
    assert len(texts) == len(documents)  # one field: the document is its only text


def test_curate_removes_hatespeech_and_named_kobest_documents(tmp_path, hatespeech_dir):
    dev = load_documents(get_task("kohatespeech"), "test", {"korean_hate_speech": hatespeech_dir})
    train = load_documents(get_task("kohatespeech"), "train", {"korean_hate_speech": hatespeech_dir})
    copa_train = load_documents(get_task("kobest_copa"), "train", {"kobest": KOBEST_SAMPLE})[3]
    long_dev = next(d for d in dev if len(d["comments"]) > 40)
    long_train = next(d for d in train if len(d["comments"]) > 40)
    extra = _records(
        tmp_path,
        [
            f"다음 댓글이 혐오 표현인지 판단하세요: {long_dev['comments']}",
            f"댓글: {long_train['comments']}",
            f"{copa_train['premise']} 그 결과는? {copa_train['alternative_1']} / {copa_train['alternative_2']}",
            "오늘 저녁 메뉴를 추천해 주세요.",
        ],
    )
    report = curate(
        [str(extra)],
        tmp_path / "out.jsonl",
        decontaminate="kohatespeech,kobest_copa",
        hatespeech_dir=hatespeech_dir,
        kobest_dir=KOBEST_SAMPLE,
        dedup_threshold=None,
        origin_field=None,
    )
    removed = {item["removed"]["id"]: item["benchmark"] for item in report["contaminated"]}
    assert set(removed) == {"x0", "x1", "x2"}
    assert (removed["x0"]["benchmark"], removed["x0"]["task"], removed["x0"]["split"], removed["x0"]["doc_index"]) == (
        "korean_hate_speech",
        "kohatespeech",
        "test",
        long_dev["doc_index"],
    )
    assert (removed["x1"]["task"], removed["x1"]["split"]) == ("kohatespeech", "train")
    assert (removed["x2"]["task"], removed["x2"]["split"], removed["x2"]["doc_index"]) == ("kobest_copa", "train", 3)
    settings = report["settings"]["decontamination"]
    assert settings["benchmarks"] == ["kohatespeech", "kobest_copa"]
    assert settings["task_sources"] == {
        "kohatespeech": str(hatespeech_dir.resolve()),
        "kobest_copa": str(Path(KOBEST_SAMPLE).resolve()),
    }
    summary = format_summary(report)
    assert "decontamination: kohatespeech (evaluation and few-shot documents" in summary
    assert "kohatespeech/test#" in summary


def test_names_are_checked_and_lm_eval_goes_through_the_interface(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"unknown benchmark 'mmlu'.*kohatespeech.*lm_eval:<task>"):
        curate([SAMPLE], tmp_path / "o.jsonl", decontaminate="mmlu")

    class FakeLmEvalTask:
        name, benchmark = "lm_eval:toy", "lm_eval"

        def documents(self):
            yield TaskDocument(
                "lm_eval:toy",
                "test",
                0,
                (("question", "나무늘보는 하루에 몇 시간을 자는가 궁금합니다"),),
                ("question",),
            )

    from polyplatypus.tasks import lm_eval_tasks  # the real source is tested in tests/tasks/test_lm_eval_tasks.py

    monkeypatch.setattr(lm_eval_tasks, "document_source", lambda name: FakeLmEvalTask() if name == "toy" else None)
    extra = _records(tmp_path, ["나무늘보는 하루에 몇 시간을 자는가 궁금합니다", "고양이는 왜 상자를 좋아하나요?"])
    report = curate([str(extra)], tmp_path / "o.jsonl", decontaminate="lm_eval:toy", dedup_threshold=None)
    assert [(c["removed"]["id"], c["benchmark"]["task"]) for c in report["contaminated"]] == [("x0", "lm_eval:toy")]
    assert report["settings"]["decontamination"]["task_sources"] == {"lm_eval:toy": "lm_eval"}


def test_kobest_keyword_keeps_its_meaning(kobest_dir):
    texts = decontam.kobest_texts(kobest_dir, splits=("test",), tasks=("copa",))
    copa = load_documents(get_task("kobest_copa"), "test", {"kobest": kobest_dir})
    assert len(texts) == 4 * len(copa)  # the document and its three fields, as before
    assert {(t.benchmark, t.task) for t in texts} == {("kobest", "copa")}
    assert [t.field for t in texts[:4]] == ["document", "premise", "alternative_1", "alternative_2"]
    assert [t.standalone for t in texts[1:4]] == [True, False, False]


def test_cli_flag(tmp_path, hatespeech_dir, capsys):
    code = main(
        [
            "data",
            "curate",
            "--data",
            str(_records(tmp_path, ["안녕하세요 반갑습니다 오늘도 좋은 하루"])),
            "--decontaminate",
            "kohatespeech_gen_bias",
            "--hatespeech-dir",
            str(hatespeech_dir),
            "--output",
            str(tmp_path / "c.jsonl"),
        ]
    )
    assert code == 0
    assert "kohatespeech_gen_bias (evaluation and few-shot documents" in capsys.readouterr().out
