"""The run directory: checked before any stage runs, held by one process, tidied on a re-run."""

import json

import pytest

from polyplatypus.cli import main
from polyplatypus.errors import OutputError, OutputInUseError
from polyplatypus.pipeline import stages
from polyplatypus.pipeline.config import validate_config
from polyplatypus.pipeline.stages import STAGES, run_pipeline
from tests.pipeline.test_stage_outputs import RECIPE, fake_stages


@pytest.fixture
def calls(monkeypatch):
    calls: list[str] = []
    for stage, function in fake_stages(calls).items():
        monkeypatch.setitem(stages.STAGE_FUNCTIONS, stage, function)
    return calls


def run(run_dir):
    return run_pipeline(validate_config(RECIPE, "recipe.yaml"), run_dir, progress=False, log=lambda message: None)


def test_run_dir_that_is_a_file_or_holds_something_else(tmp_path, calls, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    assert main(["run", "tiny-cpu", "--run-dir", str(a_file), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"--run-dir {a_file}: an existing file (4 bytes) is there, where a folder is needed" in err
    assert "Traceback" not in err and a_file.read_text() == "mine"

    evaluation = tmp_path / "results"
    (evaluation / "cells").mkdir(parents=True)
    (evaluation / "results.json").write_text("{}")
    with pytest.raises(OutputError, match=r"holds an evaluation \(polyplatypus eval\).*`polyplatypus run`"):
        run(evaluation)
    assert sorted(p.name for p in evaluation.iterdir()) == ["cells", "results.json"]
    assert calls == []


def test_a_second_run_is_refused_and_a_rerun_tidies_leftovers(tmp_path, calls, other_process_holding):
    run_dir = tmp_path / "run"
    run(run_dir)
    assert calls == list(STAGES)
    holder = other_process_holding(run_dir, "run")
    calls.clear()
    with pytest.raises(OutputInUseError, match=rf"{run_dir} is in use by polyplatypus run \(pid {holder.pid}"):
        run(run_dir)
    assert calls == []
    holder.kill()
    holder.wait()

    leftovers = [run_dir / ".pipeline.json.a1b2c3.tmp", run_dir / "stages" / ".eval.json.d4e5f6.tmp"]
    for path in leftovers:
        path.write_text("{")
    state = run(run_dir)  # the dead holder's lock is taken over
    assert {info["status"] for info in state["stages"].values()} == {"skipped (complete)"}
    assert not any(path.exists() for path in leftovers)
    assert not (run_dir / ".polyplatypus.lock").exists()


def test_eval_stage_recomputes_cells_made_with_an_earlier_limit(tmp_path, kobest_dir, tiny_gptneox_dir):
    """`polyplatypus eval` refuses to mix settings in one folder; the recipe owns RUN/eval, so a
    changed eval.limit replaces the earlier cells instead of stopping the run."""

    def recipe(limit):
        return validate_config(
            {
                "name": "limits",
                "base": {"model": str(tiny_gptneox_dir), "label": "tiny"},
                "eval": {
                    "models": ["base"],
                    "tasks": ["kobest_copa"],
                    "shots": [0],
                    "limit": limit,
                    "kobest_dir": str(kobest_dir),
                },
                "report": {"enabled": False},
            }
        )

    run_dir = tmp_path / "run"
    for limit in (2, 3):
        state = run_pipeline(recipe(limit), run_dir, progress=False, log=lambda message: None)
        assert state["stages"]["eval"]["status"] == "done"
        cells = list((run_dir / "eval" / "cells").rglob("*.json"))
        assert [json.loads(p.read_text())["limit"] for p in cells] == [limit]
        assert json.loads((run_dir / "eval" / "results.json").read_text())["results"][0]["n"] == limit
