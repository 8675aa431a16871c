"""Every cell records its task's fingerprint; a changed prompt or data file recomputes the cell."""

import json
import shutil

import pytest

import polyplatypus
from polyplatypus.data.task_data import task_fingerprint
from polyplatypus.eval import runner
from polyplatypus.pipeline.config import resolve_builtin
from polyplatypus.tasks import get_task
from polyplatypus.tasks.registry import definitions_dir

SAMPLE = resolve_builtin("builtin:kobest_sample")


@pytest.fixture
def sample_copy(tmp_path):
    folder = tmp_path / "kobest"
    shutil.copytree(SAMPLE, folder)
    return folder


def _edit_first_row(path, column="Text"):
    """Append "!" to one column of the first data row."""
    text = path.read_text(encoding="utf-8")
    header, first, rest = text.split("\n", 2)
    fields = first.split("\t")
    fields[header.rstrip("\r").split("\t").index(column)] += "!"
    path.write_text("\n".join([header, "\t".join(fields), rest]), encoding="utf-8")


def _task_copy(tmp_path, name, old, new):
    text = (definitions_dir() / f"{name}.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "tasks" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_fingerprint_covers_prompt_choices_draw_data(tmp_path, sample_copy):
    task = get_task("kobest_sentineg")
    base = task_fingerprint(task, {"kobest": sample_copy})
    assert base.startswith("sha256:") and base == task_fingerprint(task, {"kobest": sample_copy})
    # the same definition read from a copy of its file
    same = get_task(str(_task_copy(tmp_path, "kobest_sentineg", "version: 1", "version: 1")))
    assert task_fingerprint(same, {"kobest": sample_copy}) == base
    changed = {
        "prompt": _task_copy(tmp_path / "p", "kobest_sentineg", 'prompt: "{sentence}"', 'prompt: "{sentence}."'),
        "choices": _task_copy(tmp_path / "c", "kobest_sentineg", '"(긍정)"]', '"(긍정적)"]'),
        "prefix": _task_copy(tmp_path / "t", "kobest_sentineg", 'continuation_prefix: " "', 'continuation_prefix: ""'),
        "version": _task_copy(tmp_path / "v", "kobest_sentineg", "version: 1", "version: 2"),
    }
    prints = {what: task_fingerprint(get_task(str(path)), {"kobest": sample_copy}) for what, path in changed.items()}
    assert len({base, *prints.values()}) == 1 + len(changed)
    # the data: one edited test row, then one edited few-shot (train) row
    _edit_first_row(sample_copy / "SentiNeg" / "test.tsv")
    after_test = task_fingerprint(task, {"kobest": sample_copy})
    _edit_first_row(sample_copy / "SentiNeg" / "train.tsv")
    after_train = task_fingerprint(task, {"kobest": sample_copy})
    assert len({base, after_test, after_train}) == 3


def test_changed_data_or_prompt_recomputes_cells_with_a_message(
    tmp_path, sample_copy, tiny_gptneox_dir, monkeypatch, capsys
):
    out = tmp_path / "results"
    args = dict(output=out, kobest_dir=sample_copy, limit=4, progress=False)
    first = polyplatypus.evaluate([str(tiny_gptneox_dir)], ["kobest_sentineg"], [0], **args)
    cell_path = out / "cells" / "tiny-gptneox" / "kobest_sentineg_0shot.json"
    cell = json.loads(cell_path.read_text())
    assert (
        cell["task_fingerprint"]
        == first[0]["task_fingerprint"]
        == task_fingerprint(get_task("kobest_sentineg"), {"kobest": sample_copy})
    )

    real_load = runner.load_model
    loads = []

    def counting(*a, **k):
        loads.append(a)
        return real_load(*a, **k)

    monkeypatch.setattr(runner, "load_model", counting)
    polyplatypus.evaluate([str(tiny_gptneox_dir)], ["kobest_sentineg"], [0], **args)
    assert loads == [] and "recomputing" not in capsys.readouterr().err  # unchanged: reused

    _edit_first_row(sample_copy / "SentiNeg" / "test.tsv")
    second = polyplatypus.evaluate([str(tiny_gptneox_dir)], ["kobest_sentineg"], [0], **args)
    err = capsys.readouterr().err
    assert len(loads) == 1
    assert "recomputing tiny-gptneox kobest_sentineg 0-shot" in err and first[0]["task_fingerprint"] in err
    assert second[0]["task_fingerprint"] != first[0]["task_fingerprint"]
    assert json.loads(cell_path.read_text())["task_fingerprint"] == second[0]["task_fingerprint"]

    edited = _task_copy(tmp_path, "kobest_sentineg", 'prompt: "{sentence}"', 'prompt: "리뷰: {sentence}"')
    third = polyplatypus.evaluate([str(tiny_gptneox_dir)], [str(edited)], [0], **args)
    assert len(loads) == 2 and "recomputing" in capsys.readouterr().err
    assert third[0]["task"] == "kobest_sentineg"
    samples_prompt = third[0]["task_fingerprint"]
    assert samples_prompt not in (first[0]["task_fingerprint"], second[0]["task_fingerprint"])
