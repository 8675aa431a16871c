"""Evaluation cells are keyed by what made them: the model's content and the documents. The
three rules of docs/resume.md, side by side: another path under a label is refused (the mixing
check); changed content at the same path is recomputed with a message; cells written before
identities were recorded are recomputed once, with a message."""

from __future__ import annotations

import json
import shutil

import pytest

import polyplatypus
from polyplatypus.errors import OutputError
from polyplatypus.eval import runner
from polyplatypus.eval.store import IDENTITY_FIELDS
from polyplatypus.models.fingerprint import model_fingerprint
from tests.models.test_fingerprint import edit_one_tensor_in_place

TASK = "kobest_copa"


@pytest.fixture
def model(tmp_path, tiny_gptneox_dir):
    folder = tmp_path / "model"
    shutil.copytree(tiny_gptneox_dir, folder)
    return folder


def grid(model, out, kobest_dir, label="m"):
    return polyplatypus.evaluate(
        [f"{label}={model}"], [TASK], [0, 1], output=out, limit=3, progress=False, kobest_dir=kobest_dir
    )


def cells(out):
    return {p.name: json.loads(p.read_text()) for p in sorted((out / "cells" / "m").glob("*.json"))}


def test_changed_model_content_is_recomputed_with_a_message(model, tmp_path, kobest_dir, scored, capsys):
    out = tmp_path / "out"
    first = grid(model, out, kobest_dir)
    assert {c["model_fingerprint"] for c in cells(out).values()} == {model_fingerprint(model)}
    grid(model, out, kobest_dir)
    assert len(scored) == 2  # the second run reused both cells
    capsys.readouterr()

    edit_one_tensor_in_place(model / "model.safetensors")
    again = grid(model, out, kobest_dir)
    assert len(scored) == 4
    err = capsys.readouterr().err
    assert f"model m changed since these results ({model}): recomputing 2 cell(s)" in err
    assert {c["model_fingerprint"] for c in cells(out).values()} == {model_fingerprint(model)}
    assert [r["model_fingerprint"] for r in again] != [r["model_fingerprint"] for r in first]
    saved = json.loads((out / "results.json").read_text())["results"]
    assert [r["model_fingerprint"] for r in saved] == [r["model_fingerprint"] for r in again]


def test_another_path_under_the_label_is_refused(model, tmp_path, kobest_dir, tiny_gptneox_dir):
    out = tmp_path / "out"
    grid(model, out, kobest_dir)
    with pytest.raises(OutputError, match="model_path"):
        grid(tiny_gptneox_dir, out, kobest_dir)


def test_cells_without_identity_are_recomputed_once(model, tmp_path, kobest_dir, scored, capsys):
    out = tmp_path / "out"
    grid(model, out, kobest_dir)
    for path in (out / "cells" / "m").glob("*.json"):  # as written before identities were recorded
        cell = json.loads(path.read_text())
        for name in IDENTITY_FIELDS:
            cell.pop(name, None)
        path.write_text(json.dumps(cell))
    capsys.readouterr()
    grid(model, out, kobest_dir)
    assert len(scored) == 4
    assert (
        "2 cell(s) of model m were written before results recorded the model and data that made them: "
        "recomputing them once"
    ) in capsys.readouterr().err
    grid(model, out, kobest_dir)
    assert len(scored) == 4 and "recomputing" not in capsys.readouterr().err


def test_changed_documents_are_recomputed(model, tmp_path, kobest_dir, scored, capsys):
    data = tmp_path / "kobest"
    shutil.copytree(kobest_dir / "COPA", data / "COPA")
    out = tmp_path / "out"
    grid(model, out, data)
    train = data / "COPA" / "train.tsv"  # the 1-shot cell draws from it; it is one of the task's data files
    lines = train.read_text(encoding="utf-8").splitlines(keepends=True)
    assert "다" in lines[1]
    lines[1] = lines[1].replace("다", "요", 1)  # one word of the first training document
    train.write_text("".join(lines), encoding="utf-8")
    capsys.readouterr()
    grid(model, out, data)
    # both cells: the task's data files changed (its fingerprint); the 1-shot cell's own documents too
    assert scored[2:] == [(TASK, 0), (TASK, 1)]
    err = capsys.readouterr().err
    assert "the KoBEST data changed since these results of model m: recomputing 1 cell(s)" in err
    assert f"recomputing m {TASK} 0-shot: the stored cell was made with fingerprint" in err
    samples = json.loads((out / "cells" / "m" / f"{TASK}_1shot.json").read_text())
    assert samples["data_sha256"] == runner.documents_sha256("copa", ["test", "train"], data)
