"""One name, one definition per run; one label, one folder; every cell written inside --output."""

from __future__ import annotations

import pytest

import polyplatypus
from polyplatypus.errors import ConfigError, OutputError
from polyplatypus.eval.config import EvalConfig
from polyplatypus.eval.lm_eval_results import results_path
from polyplatypus.eval.models import ModelSpec
from polyplatypus.eval.store import ResultsStore, folder_settings
from polyplatypus.eval.tables import results_markdown
from polyplatypus.tasks.lm_eval_tasks import file_stem
from polyplatypus.tasks.registry import definitions_dir

SETTINGS = folder_settings(limit=None, dtype="auto", data_source="/data/kobest", scorer="shared")


def test_a_second_definition_under_one_name_is_refused_naming_both_files(tmp_path):
    mine = tmp_path / "my" / "kobest_boolq.yaml"
    mine.parent.mkdir()
    text = (definitions_dir() / "kobest_boolq.yaml").read_text(encoding="utf-8")
    mine.write_text(text.replace("질문: 다음 문장이", "질문: 이 문장이"), encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        EvalConfig.build(None, caller="test", models=["m"], tasks=f"kobest_boolq,{mine}")
    message = str(refused.value)
    assert "two definitions of task 'kobest_boolq'" in message
    assert str(definitions_dir() / "kobest_boolq.yaml") in message and str(mine) in message


@pytest.mark.parametrize(
    "tasks, message",
    [
        ("copa,kobest_copa", "tasks repeat: 'copa' and 'kobest_copa' are both kobest_copa"),
        ("kobest_copa,kobest_copa", "tasks repeat: 'kobest_copa' and 'kobest_copa'"),
    ],
)
def test_the_same_task_twice_is_refused_like_repeated_shots(tasks, message):
    with pytest.raises(ConfigError, match=message):
        EvalConfig.build(None, caller="test", models=["m"], tasks=tasks)


def test_labels_that_share_a_folder_are_refused_naming_both(tmp_path, no_model_loading):
    with pytest.raises(ConfigError, match=r"labels 'run:1' and 'run_1'.*cells/run_1"):
        polyplatypus.evaluate(
            models=["run:1=/models/a", "run_1=/models/b"], tasks="copa", shots="0", output=str(tmp_path / "out")
        )
    with pytest.raises(ConfigError, match=r"labels 'Run' and 'run'"):  # one folder on a case-insensitive disk
        polyplatypus.evaluate(models=["Run=/models/a", "run=/models/b"], tasks="copa", shots="0")


def test_a_stored_cell_of_another_label_in_the_folder_is_refused(tmp_path):
    store = ResultsStore(tmp_path)
    before, now = ModelSpec("run:1", "/models/m"), ModelSpec("run_1", "/models/m")
    key = ResultsStore.key(before, "kobest_copa", 0, SETTINGS)
    store.write_cell(before, "kobest_copa", 0, {"model": before.label, **key}, samples=None)
    store.refuse_mixing([before], SETTINGS)
    with pytest.raises(OutputError, match="made with model 'run:1'.*this run has model 'run_1'"):
        store.refuse_mixing([now], SETTINGS)


def test_results_md_escapes_a_bar_in_a_label():
    table = results_markdown([{"task": "kobest_copa", "model": "a|b", "shots": 0, "macro_f1": 0.5}])
    row = next(line for line in table.splitlines() if line.startswith("| a"))
    assert row == "| a\\|b | 0.5000 |"


def test_a_task_name_never_writes_outside_the_output(tmp_path):
    out = tmp_path / "deep" / "out"
    store = ResultsStore(out)
    spec = ModelSpec("tiny", "/models/m")
    stem = file_stem("lm_eval:x/../../escaped")
    store.write_cell(spec, stem, 0, {"model": "tiny"}, samples=[{"doc_index": 0}])
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert [str(p) for p in written] == [
        "deep/out/cells/tiny/lm_eval-x_.._.._escaped_0shot.json",
        "deep/out/samples/tiny/lm_eval-x_.._.._escaped_0shot.jsonl",
    ]
    assert store.read_cell(store.cell_path(spec, stem, 0))["model"] == "tiny"  # read back under the same name
    # a label becomes one folder name too, in the lm-eval results files as well
    assert ModelSpec("..", "/m").slug == "_." and ModelSpec("a/../..", "/m").slug == "a__..__.."
    import datetime

    path = results_path(out / "lm_eval", "..", 0, datetime.datetime(2026, 1, 1))
    assert path.parent.parent == out / "lm_eval" / "0-shot"


@pytest.mark.parametrize(
    "task, files",
    [
        ("haerae_twice", ("redefined/haerae_twice.yaml", "redefined/haerae_twice_again.yaml")),
        ("xcopa_et", ("redefined/xcopa_et.yaml", "lm_eval/tasks/xcopa/default_et.yaml")),  # lm-eval's own, redefined
    ],
)
def test_an_lm_eval_task_defined_twice_is_refused_naming_both_files(
    lm_eval_tasks, tmp_path, no_model_loading, task, files
):
    with pytest.raises(ConfigError, match=f"two definitions of task '{task}'") as refused:
        polyplatypus.evaluate(
            models=[f"m={tmp_path}"],
            tasks=f"lm_eval:{task}",
            shots="0",
            include_path=[str(lm_eval_tasks)],
            output=str(tmp_path / "out"),
        )
    assert all(name in str(refused.value) for name in files)
    assert not (tmp_path / "out").exists()


def test_an_lm_eval_task_asked_twice_is_refused(lm_eval_tasks, tmp_path, no_model_loading):
    with pytest.raises(ConfigError, match="tasks repeat: 'lm_eval:haerae_local' and 'lm_eval: haerae_local'"):
        polyplatypus.evaluate(
            models=[f"m={tmp_path}"],
            tasks="lm_eval:haerae_local,lm_eval: haerae_local",
            shots="0",
            include_path=[str(lm_eval_tasks)],
        )
