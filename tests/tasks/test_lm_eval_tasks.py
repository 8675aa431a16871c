"""lm_eval: names: found by lm-eval's TaskManager, built by its own machinery, and refused with a clear
error (file, line or field) before any model is loaded when they cannot be scored."""

from __future__ import annotations

import os
import sys

import pytest

pytest.importorskip("lm_eval")
os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_EVALUATE_OFFLINE="1")

from polyplatypus.errors import ConfigError, DataError  # noqa: E402
from polyplatypus.tasks import lm_eval_tasks as lmt  # noqa: E402


@pytest.fixture(scope="module")
def folder(lm_eval_tasks):
    return lm_eval_tasks


def test_unknown_task_suggests_close_names(folder):
    with pytest.raises(
        ConfigError, match=r"unknown lm-eval task 'lm_eval:kobest_boolg'.*did you mean.*lm_eval:kobest_boolq"
    ):
        lmt.resolve_name("lm_eval:kobest_boolg", [str(folder)])
    with pytest.raises(ConfigError, match="lm_eval:kmmlu_local"):
        lmt.resolve_name("lm_eval:kmmlu_locall", [str(folder)])
    assert lmt.resolve_name(" lm_eval:haerae_local", [str(folder)]) == "lm_eval:haerae_local"


def test_malformed_user_yaml_is_reported_with_its_line(tmp_path):
    (tmp_path / "ok.yaml").write_text("task: fine\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "broken.yaml").write_text(
        "task: broken\ndoc_to_choice: [a, b\nmetric_list: []\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"broken\.yaml:3: not valid YAML"):
        lmt.check_include_path([tmp_path])


def test_missing_include_and_missing_folder_are_reported(tmp_path):
    (tmp_path / "child.yaml").write_text("include: nowhere.yaml\ntask: child\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"child\.yaml: .*nowhere\.yaml"):
        lmt.check_include_path([tmp_path])
    with pytest.raises(ConfigError, match="no such folder"):
        lmt.check_include_path([tmp_path / "absent"])


def test_missing_data_file_is_a_data_error_naming_task_and_file(folder):
    with pytest.raises(DataError, match=r"lm_eval:kornli_missing .*missing\.yaml.*data file not found.*nowhere"):
        lmt.build_cell("lm_eval:kornli_missing", 0, include_path=[str(folder)])


def test_generative_task_is_built_with_lm_evals_generation_requests(folder):
    cell = lmt.build_cell("lm_eval:kmmlu_local_generative", 0, include_path=[str(folder)])
    (instances,) = cell.instances.values()
    assert cell.generative and {inst.request_type for inst in instances} == {"generate_until"}
    assert instances[0].args[1]["until"]  # lm-eval's default stop sequence for the task


def test_more_shots_than_the_fewshot_split_is_refused_naming_task_and_size(folder):
    with pytest.raises(ConfigError, match=r"kmmlu_local_accounting: 6 shots asked but its few-shot split 'dev' has 5"):
        lmt.build_cell("lm_eval:kmmlu_local", 6, include_path=[str(folder)])
    # drawing from the evaluation split itself needs one more document than the shots
    with pytest.raises(ConfigError, match=r"haerae_local: 8 shots .*'test' has 8 documents \(one is the document"):
        lmt.build_cell("lm_eval:haerae_local", 8, include_path=[str(folder)])
    assert lmt.build_cell("lm_eval:haerae_local", 7, limit=1, include_path=[str(folder)]).num_fewshot == {
        "haerae_local": 7
    }


def test_a_task_fixing_zero_shots_wins_and_the_cell_says_so(folder):
    cell = lmt.build_cell("lm_eval:kmmlu_local_zero_only", 5, limit=2, include_path=[str(folder)])
    assert cell.num_fewshot == {"kmmlu_local_zero_only": 0} and cell.fixed_shots == ["kmmlu_local_zero_only"]
    assert all("\n\n" not in inst.args[0] for inst in cell.all_instances())


def test_requests_and_fingerprint_are_lm_evals_and_stable(folder):
    first = lmt.build_cell("lm_eval:kmmlu_local", 2, limit=3, include_path=[str(folder)])
    again = lmt.build_cell("lm_eval:kmmlu_local", 2, limit=3, include_path=[str(folder)])
    assert first.fingerprint == again.fingerprint
    assert [i.args for i in first.all_instances()] == [i.args for i in again.all_instances()]
    assert first.versions["kmmlu_local_accounting"] == 2.0 and first.versions["kmmlu_local"] == "2.0"
    assert (
        lmt.build_cell("lm_eval:kmmlu_local", 3, limit=3, include_path=[str(folder)]).fingerprint != first.fingerprint
    )
    # lm-eval's --limit: the first N documents, in the split's order
    assert sorted({i.doc_id for i in first.instances["kmmlu_local_accounting"]}) == [0, 1, 2]


def test_fingerprint_changes_with_the_data(folder):
    name = "lm_eval:haerae_changing_data"
    before = lmt.build_cell(name, 1, limit=2, include_path=[str(folder)]).fingerprint
    data = folder / "changing" / "haerae_changing_data-test.jsonl"
    data.write_text(data.read_text(encoding="utf-8").replace("가람", "가람들", 1), encoding="utf-8")
    assert lmt.build_cell(name, 1, limit=2, include_path=[str(folder)]).fingerprint != before


def test_without_lm_eval_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "lm_eval", None)
    with pytest.raises(ConfigError, match=r"pip install 'polyplatypus\[lm-eval\]'"):
        lmt.require_lm_eval()


def test_listing_names_source_version_and_metrics(folder):
    rows = {row.name: row for row in lmt.lm_eval_listing([str(folder)])}
    assert rows["lm_eval:kobest_boolq"].version == "1.0" and rows["lm_eval:kobest_boolq"].metrics == "acc,f1"
    assert "lm-eval 0.4.13" in rows["lm_eval:kobest_boolq"].source
    assert str(folder) in rows["lm_eval:haerae_local"].source and rows["lm_eval:haerae_local"].metrics == "acc,acc_norm"
    assert rows["lm_eval:kmmlu_local"].source.startswith("group")


def test_task_documents_gives_evaluation_and_fewshot_documents(folder):
    found = lmt.task_documents("lm_eval:kmmlu_local", [str(folder)])
    assert set(found) == {"kmmlu_local_accounting", "kmmlu_local_korean_history"}
    assert len(found["kmmlu_local_accounting"]["eval"]) == 7 and len(found["kmmlu_local_accounting"]["fewshot"]) == 5
    assert found["kmmlu_local_accounting"]["eval"][0]["question"] == "재무제표에서 자산 총계와 같은 것은?"


def test_eval_with_an_lm_eval_name_but_no_lm_eval_exits_2_saying_how_to_install(monkeypatch, tmp_path, capsys):
    from polyplatypus.cli import main

    monkeypatch.setitem(sys.modules, "lm_eval", None)
    assert (
        main(["eval", "--model", str(tmp_path / "m"), "--tasks", "lm_eval:kmmlu", "--output", str(tmp_path / "o")]) == 2
    )
    assert "pip install 'polyplatypus[lm-eval]'" in capsys.readouterr().err


def test_document_source_gives_decontamination_every_document(folder):
    from polyplatypus.data import decontam
    from polyplatypus.tasks.texts import DocumentSource

    source = lmt.document_source("kmmlu_local", [str(folder)])  # as data curate hands it, prefix stripped
    assert isinstance(source, DocumentSource) and source.name == "lm_eval:kmmlu_local"
    documents = list(source.documents())
    expected = lmt.task_documents("lm_eval:kmmlu_local", [str(folder)])
    assert len(documents) == sum(len(docs) for splits in expected.values() for docs in splits.values())
    first_task, splits = next(iter(expected.items()))
    assert documents[0].task == f"lm_eval:{first_task}" and documents[0].split == "eval"
    assert dict(documents[0].fields)["question"] == splits["eval"][0]["question"]
    texts = decontam.task_texts([source])  # what data curate indexes
    assert {t.benchmark for t in texts} == {"lm_eval"} and len(texts) >= len(documents)
    with pytest.raises(ConfigError, match="did you mean"):
        lmt.document_source("kmmlu_locl", [str(folder)])


def test_data_source_describes_the_datasets_the_task_configs_name(tmp_path):
    from lm_eval.config.task import TaskConfig

    kmmlu = [
        TaskConfig(task=f"kmmlu_{s.lower()}", dataset_path="HAERAE-HUB/KMMLU", dataset_name=s)
        for s in ("Accounting", "Law", "Accounting")
    ]
    assert lmt.describe_datasets(kmmlu) == "hub:HAERAE-HUB/KMMLU (Accounting, Law)"
    files = TaskConfig(
        task="t",
        dataset_path="csv",
        dataset_kwargs={"delimiter": "\t", "data_files": {"test": "/d/a.tsv", "dev": ["/d/b.tsv"]}},
    )
    local = TaskConfig(task="u", dataset_path=str(tmp_path))  # a dataset folder on disk is no hub id
    assert (
        lmt.describe_datasets([files, local, kmmlu[0]])
        == f"csv: /d/a.tsv, /d/b.tsv; {tmp_path}; hub:HAERAE-HUB/KMMLU (Accounting)"
    )


def test_a_built_cell_names_its_data_files(folder):
    cell = lmt.build_cell("lm_eval:haerae_local", 0, limit=2, include_path=[str(folder)])
    assert cell.data_source == f"json: {folder / 'haerae' / 'haerae_local-test.jsonl'}"
