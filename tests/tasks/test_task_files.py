"""Task files: every shipped one loads; a malformed one is an error naming the file and line."""

import re
import shutil

import pytest

import polyplatypus
from polyplatypus.cli import main
from polyplatypus.data.task_data import load_documents
from polyplatypus.errors import DataError
from polyplatypus.pipeline.config import resolve_builtin
from polyplatypus.tasks import get_task, task_names
from polyplatypus.tasks.definition import TaskDefinitionError, load_task_file
from polyplatypus.tasks.registry import definitions_dir

SAMPLE = resolve_builtin("builtin:kobest_sample")


def _copy(tmp_path, name, old=None, new=None):
    text = (definitions_dir() / f"{name}.yaml").read_text(encoding="utf-8")
    if old is not None:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _line_of(path, snippet):
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if snippet in line)


def _refused(tmp_path, name, old, new, line_snippet, message):
    """A copy of a shipped task file with ``old`` made ``new`` is refused, naming the line of
    ``line_snippet`` (``message``: the rest of the error, a regular expression)."""
    path = _copy(tmp_path, name, old, new)
    with pytest.raises(TaskDefinitionError, match=rf"line {_line_of(path, line_snippet)}: {message}"):
        load_task_file(path)
    return path


def test_every_shipped_file_loads_and_the_registry_reads_them_in_order():
    names = task_names()
    assert names == [
        "kobest_copa",
        "kobest_hellaswag",
        "kobest_boolq",
        "kobest_sentineg",
        "kobest_wic",
        "kohatespeech",
        "kohatespeech_gen_bias",
    ]
    for name in names:
        task = load_task_file(definitions_dir() / f"{name}.yaml")
        assert task.name == name and task.version >= 1 and task.metrics[:2] == ("macro_f1", "acc")


def test_hatespeech_prompts_are_the_reference_harness_s():
    hate = get_task("kohatespeech")
    doc = {"comments": "C", "contain_gender_bias": 1, "bias": 2, "hate": 2}
    assert hate.doc_to_text(doc) == "문장: C"
    assert hate.doc_to_target(doc) == " 혐오"
    assert hate.continuations(doc) == [" 없음", " 공격적", " 혐오"]
    bias = get_task("kohatespeech_gen_bias")
    assert bias.doc_to_text(doc) == "문장: C 성적 편향이 있습니까?"
    assert bias.doc_to_target(doc) == " 예" and bias.doc_to_target({**doc, "contain_gender_bias": 0}) == " 아니오"
    assert bias.continuations(doc) == [" 아니오", " 예"]
    assert (hate.eval_split, hate.fewshot_split) == ("test", "train")
    assert hate.data.splits == {"train": "train.tsv", "test": "dev.tsv"}


def test_missing_field_names_the_file(tmp_path):
    path = _copy(tmp_path, "kobest_boolq", "title: BoolQ\n", "")
    with pytest.raises(TaskDefinitionError, match=rf"{re.escape(str(path))}: missing required field 'title'"):
        load_task_file(path)
    path = _copy(tmp_path, "kobest_boolq", "  folder: BoolQ\n", "")
    with pytest.raises(
        TaskDefinitionError,
        match=rf"{re.escape(str(path))}, line {_line_of(path, 'data:')}: "
        r"missing required field 'data.folder'",
    ):
        load_task_file(path)


def test_unknown_field_names_the_line_and_suggests(tmp_path):
    _refused(
        tmp_path, "kobest_boolq", "prompt:", "promt:", "promt:", r"unknown key 'promt' \(did you mean 'prompt'\?\)"
    )
    _refused(tmp_path, "kobest_copa", "source: kobest", "source: klue", "source: klue", "data.source")
    _refused(tmp_path, "kobest_copa", "hook: copa_connector", "hook: connector", "hook:", "unknown hook 'connector'")


def test_template_naming_an_unknown_column(tmp_path):
    _refused(
        tmp_path,
        "kobest_boolq",
        "{paragraph}",
        "{paragrph}",
        "prompt:",
        r"template names the field \{paragrph\}, which no column or hook gives",
    )
    _refused(
        tmp_path,
        "kobest_hellaswag",
        '"{ending_4}"',
        '"{ending_5}"',
        "choices:",
        r"template names the field \{ending_5\}",
    )
    _refused(
        tmp_path, "kobest_sentineg", 'prompt: "{sentence}"', 'prompt: "{sentence"', "prompt:", "not a valid template"
    )


def test_label_out_of_range_in_the_file_and_in_the_data(tmp_path):
    _refused(
        tmp_path,
        "kohatespeech",
        "choices: [없음, 공격적, 혐오]",
        "choices: [없음, 혐오]",
        "    hate:",
        "label 'hate' takes 3 values but there are only 2 choices",
    )
    data = tmp_path / "kobest"
    shutil.copytree(SAMPLE, data)
    test_file = data / "SentiNeg" / "test.tsv"
    lines = test_file.read_text(encoding="utf-8").split("\n")
    header = lines[0].rstrip("\r").split("\t")
    fields = lines[2].split("\t")
    fields[header.index("Label")] = "2"
    lines[2] = "\t".join(fields)
    test_file.write_text("\n".join(lines), encoding="utf-8")
    task = get_task("kobest_sentineg")
    with pytest.raises(
        DataError,
        match=r"test.tsv, record 2, field 'label': gold label 2 is out of range for 2 "
        r"choices \(kobest_sentineg: label 'label', .*kobest_sentineg.yaml, line \d+\)",
    ):
        load_documents(task, "test", {"kobest": data})


def test_missing_data_file_names_the_task_file(tmp_path):
    (tmp_path / "SentiNeg").mkdir()
    with pytest.raises(
        DataError,
        match=r"SentiNeg/test.tsv.*missing KoBEST file.*kobest_sentineg: data.splits at "
        r".*kobest_sentineg.yaml, line \d+",
    ):
        load_documents(get_task("kobest_sentineg"), "test", {"kobest": tmp_path})


def test_cli_refuses_a_bad_task_file_before_loading_a_model(tmp_path, monkeypatch, capsys, tiny_gptneox_dir):
    from polyplatypus.eval import runner

    monkeypatch.setattr(runner, "load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    path = _copy(tmp_path, "kobest_boolq", "{question}", "{questoin}")
    code = main(
        [
            "eval",
            "--model",
            str(tiny_gptneox_dir),
            "--tasks",
            str(path),
            "--shots",
            "0",
            "--kobest-dir",
            str(SAMPLE),
            "--output",
            str(tmp_path / "out"),
        ]
    )
    assert code == 2
    assert f"{path}, line {_line_of(path, 'prompt:')}: template names the field {{questoin}}" in capsys.readouterr().err
    # a good copy of a task file evaluates like the shipped task
    good = _copy(tmp_path / "good", "kobest_boolq") if (tmp_path / "good").mkdir() is None else None
    monkeypatch.undo()
    ours = polyplatypus.evaluate([str(tiny_gptneox_dir)], [str(good)], [0], kobest_dir=SAMPLE, limit=3, progress=False)
    shipped = polyplatypus.evaluate(
        [str(tiny_gptneox_dir)], ["kobest_boolq"], [0], kobest_dir=SAMPLE, limit=3, progress=False
    )
    assert ours[0]["macro_f1"] == shipped[0]["macro_f1"]
    assert ours[0]["task_fingerprint"] == shipped[0]["task_fingerprint"]
