"""An evaluation folder is complete or absent, never mixed, held by one process, and checked before
any model loads: nothing is lost, nothing is mixed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import polyplatypus
from polyplatypus.cli import main
from polyplatypus.eval import runner, store
from polyplatypus.eval.config import EvalConfig

TASK = "kobest_copa"


class Killed(BaseException):
    """Stands for the process dying at that point (BaseException: nothing catches it)."""


def grid(model, out, **kwargs):
    return polyplatypus.evaluate([f"m={model}"], [TASK], [0, 1], output=out, limit=4, progress=False, **kwargs)


def paths(out, shots):
    return out / "cells" / "m" / f"{TASK}_{shots}shot.json", out / "samples" / "m" / f"{TASK}_{shots}shot.jsonl"


def test_killed_between_the_samples_and_the_cell_file(tmp_path, kobest_dir, tiny_gptneox_dir, monkeypatch, scored):
    out = tmp_path / "out"
    monkeypatch.setenv("POLYPLATYPUS_KOBEST_DIR", str(kobest_dir))
    real_write = store.atomic_write_json

    def dies_at_the_second_cell(path, data):
        if path.name == f"{TASK}_1shot.json":
            raise Killed
        real_write(path, data)

    monkeypatch.setattr(store, "atomic_write_json", dies_at_the_second_cell)
    with pytest.raises(Killed):
        grid(tiny_gptneox_dir, out, log_samples=True)
    cell0, samples0 = paths(out, 0)
    cell1, samples1 = paths(out, 1)
    assert cell0.is_file() and samples0.is_file()
    assert samples1.is_file() and not cell1.exists()  # samples first, the cell (the marker) last
    orphan = samples1.with_name(f".{samples1.name}.k1ll3d.tmp")  # what a kill -9 inside a write leaves
    orphan.write_text('{"doc_index": 0')

    monkeypatch.setattr(store, "atomic_write_json", real_write)
    scored.clear()
    records = grid(tiny_gptneox_dir, out, log_samples=True)
    assert scored == [(TASK, 1)]  # only the unfinished cell
    assert not orphan.exists()
    for shots, record in zip((0, 1), records):
        cell_path, samples_path = paths(out, shots)
        cell = json.loads(cell_path.read_text())
        lines = samples_path.read_text().splitlines()
        assert len(lines) == record["n"] == 4
        assert [json.loads(line)["pred"] for line in lines] == cell["preds"]
        assert cell["samples_sha256"] == hashlib.sha256(samples_path.read_bytes()).hexdigest()
    assert json.loads((out / "results.json").read_text())["results"] == records


def test_killed_before_the_samples_are_written(tmp_path, kobest_dir, tiny_gptneox_dir, monkeypatch, scored):
    out = tmp_path / "out"
    monkeypatch.setenv("POLYPLATYPUS_KOBEST_DIR", str(kobest_dir))
    real_write = store.atomic_write_jsonl

    def dies(path, rows):
        raise Killed

    monkeypatch.setattr(store, "atomic_write_jsonl", dies)
    with pytest.raises(Killed):
        grid(tiny_gptneox_dir, out, log_samples=True)
    assert not any(p.exists() for p in paths(out, 0))  # nothing of the cell
    monkeypatch.setattr(store, "atomic_write_jsonl", real_write)
    scored.clear()
    grid(tiny_gptneox_dir, out, log_samples=True)
    assert scored == [(TASK, 0), (TASK, 1)]
    assert all(p.is_file() for shots in (0, 1) for p in paths(out, shots))


def test_samples_are_part_of_what_a_rerun_checks(tmp_path, kobest_dir, tiny_gptneox_dir, monkeypatch, scored):
    out = tmp_path / "out"
    monkeypatch.setenv("POLYPLATYPUS_KOBEST_DIR", str(kobest_dir))
    first = grid(tiny_gptneox_dir, out)
    assert not (out / "samples").exists()
    scored.clear()
    again = grid(tiny_gptneox_dir, out, log_samples=True)
    assert [(r["macro_f1"], r["acc"]) for r in again] == [
        (r["macro_f1"], r["acc"]) for r in first
    ]  # the same numbers ...
    assert scored == [(TASK, 0), (TASK, 1)]  # ... recomputed, since their samples were asked for
    assert all(p.is_file() for shots in (0, 1) for p in paths(out, shots))

    scored.clear()
    grid(tiny_gptneox_dir, out, log_samples=True)
    assert scored == []  # cells and samples complete: nothing to do
    _, samples1 = paths(out, 1)
    samples1.write_text(samples1.read_text().splitlines()[0] + "\n")  # a damaged samples file
    grid(tiny_gptneox_dir, out, log_samples=True)
    assert scored == [(TASK, 1)]
    assert len(samples1.read_text().splitlines()) == 4
    scored.clear()
    grid(tiny_gptneox_dir, out)  # samples not asked for: the finished cells are enough
    assert scored == []


def test_different_settings_into_one_folder_are_refused(tmp_path, kobest_dir, tiny_gptneox_dir, tiny_llama_dir, capsys):
    out = tmp_path / "out"
    common = [
        "eval",
        "--tasks",
        TASK,
        "--shots",
        "0",
        "--kobest-dir",
        str(kobest_dir),
        "--output",
        str(out),
        "--no-progress",
        "--log-samples",
    ]
    assert main([*common, "--model", f"m={tiny_gptneox_dir}", "--limit", "4"]) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()

    assert main([*common, "--model", f"m={tiny_gptneox_dir}", "--limit", "2"]) == 2
    err = capsys.readouterr().err
    assert f"{out} holds results made with limit 4" in err and "this run has limit 2" in err
    assert main([*common, "--model", f"m={tiny_gptneox_dir}", "--limit", "4", "--scorer", "reference"]) == 2
    assert "made with scorer 'shared'" in capsys.readouterr().err
    assert main([*common, "--model", f"m={tiny_llama_dir}", "--limit", "4"]) == 2  # another model, same label
    assert f"made with model_path {str(tiny_gptneox_dir)!r}" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # nothing touched

    # a new model or shot count with the same settings is added to the folder
    assert main([*common, "--model", f"llama={tiny_llama_dir}", "--limit", "4"]) == 0
    assert (out / "cells" / "llama").is_dir()

    # the recipe's eval stage owns its folder: it drops the cells made otherwise, then evaluates
    removed = runner.discard_cells_made_otherwise(
        EvalConfig(models=[f"m={tiny_gptneox_dir}"], output=str(out), kobest_dir=str(kobest_dir), limit=2)
    )
    assert sorted(p.parent.name for p in removed) == ["llama", "m"]
    assert not list((out / "cells").rglob("*.json")) and not list((out / "samples").rglob("*.jsonl"))


def test_output_checked_before_any_model_loads(tmp_path, kobest_dir, tiny_gptneox_dir, capsys, no_model_loading):
    def run(output):
        return main(
            [
                "eval",
                "--model",
                str(tiny_gptneox_dir),
                "--tasks",
                TASK,
                "--shots",
                "0",
                "--limit",
                "2",
                "--kobest-dir",
                str(kobest_dir),
                "--output",
                str(output),
                "--no-progress",
            ]
        )

    a_file = tmp_path / "results.txt"
    a_file.write_text("keep me")
    assert run(a_file) == 2
    assert (
        f"--output {a_file}: an existing file (7 bytes) is there, where a folder is needed" in capsys.readouterr().err
    )
    assert run(a_file / "sub") == 2
    assert f"{a_file} is an existing file (7 bytes), not a folder" in capsys.readouterr().err
    assert a_file.read_text() == "keep me"

    model_files = sorted(p.name for p in tiny_gptneox_dir.iterdir())
    assert run(tiny_gptneox_dir) == 2  # an evaluation into a model folder
    err = capsys.readouterr().err
    assert f"{tiny_gptneox_dir}: the folder holds a model: config.json" in err and "not the output of an earlier" in err
    assert sorted(p.name for p in tiny_gptneox_dir.iterdir()) == model_files  # nothing written, no lock left

    if Path("/proc/1").is_dir():  # not writable, even by root
        assert run("/proc/1/results") == 2
        assert "cannot write in /proc/1" in capsys.readouterr().err


def test_a_second_evaluation_into_a_held_folder_is_refused(
    tmp_path, kobest_dir, tiny_gptneox_dir, capsys, other_process_holding, monkeypatch
):
    out = tmp_path / "out"
    holder = other_process_holding(out, "eval")
    args = [
        "eval",
        "--model",
        str(tiny_gptneox_dir),
        "--tasks",
        TASK,
        "--shots",
        "0",
        "--limit",
        "2",
        "--kobest-dir",
        str(kobest_dir),
        "--output",
        str(out),
        "--no-progress",
    ]
    with monkeypatch.context() as patch:
        patch.setattr(runner, "load_model", lambda *a, **k: pytest.fail("a model was loaded"))
        assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{out} is in use by polyplatypus eval (pid {holder.pid}" in err
    assert not (out / "cells").exists()
    holder.kill()  # dies without releasing: the next run takes the lock over
    holder.wait()
    assert main(args) == 0
    assert (out / "results.json").is_file() and not (out / ".polyplatypus.lock").exists()
