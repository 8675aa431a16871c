"""``polyplatypus tasks`` answers from a listing kept on disk, keyed by the lm-eval install and the
--include-path folders' files; each row has the task's output type, and a note says which types
eval runs."""

from __future__ import annotations

import pytest

from polyplatypus.cli import main
from polyplatypus.tasks import lm_eval_tasks as lmt
from polyplatypus.tasks.listing import _listing_key, cached_lm_eval_listing

pytest.importorskip("lm_eval")


def test_listing_is_built_once_then_read_back(lm_eval_tasks, tmp_path, monkeypatch):
    monkeypatch.setenv("POLYPLATYPUS_CACHE_DIR", str(tmp_path / "cache"))
    real, built, said = lmt.lm_eval_listing, [], []
    monkeypatch.setattr(lmt, "lm_eval_listing", lambda include_path=None: built.append(1) or real(include_path))
    first = cached_lm_eval_listing([str(lm_eval_tasks)], say=said.append)
    second = cached_lm_eval_listing([str(lm_eval_tasks)], say=said.append)
    assert first == second and len(built) == 1 and len(said) == 1 and "building lm-eval's task index" in said[0]
    types = {row.name: row.output_type for row in second}
    assert types["lm_eval:haerae_local"] == "multiple_choice"
    assert types["lm_eval:kmmlu_local_generative"] == "generate_until"
    assert types["lm_eval:kobest"] == ""  # a group: its tasks have the types


def test_the_key_follows_the_include_path_files_and_lm_eval(tmp_path, monkeypatch):
    import lm_eval

    folder = tmp_path / "mine"
    folder.mkdir()
    task = folder / "t.yaml"
    task.write_text("task: t\n")
    key = _listing_key([str(folder)])
    assert _listing_key([str(folder)]) == key and _listing_key(None) != key
    task.write_text("task: t\noutput_type: multiple_choice\n")
    assert _listing_key([str(folder)]) != key
    key = _listing_key([str(folder)])
    monkeypatch.setattr(lm_eval, "__file__", str(tmp_path / "another-install" / "lm_eval" / "__init__.py"))
    assert _listing_key([str(folder)]) != key  # another lm-eval install (the version itself is pinned)


def test_tasks_command_filters_and_names_the_types_eval_runs(lm_eval_tasks, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("POLYPLATYPUS_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["tasks", "--include-path", str(lm_eval_tasks), "--match", "kmmlu_local_gen"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "name\tsource\tversion\tmetrics\toutput_type"
    assert [line.split("\t")[0] for line in out[1:-1]] == ["lm_eval:kmmlu_local_generative"]
    assert out[1].endswith("\tgenerate_until")
    assert out[-1].startswith(f"(polyplatypus eval runs tasks of output type {', '.join(lmt.SCORED_OUTPUT_TYPES)}")
