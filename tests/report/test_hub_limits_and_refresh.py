"""The Hub files never overstate: a limited run names its split slice and count, a later report
removes the Hub files an earlier one wrote (never a user's), and --baseline matches whole path
components and says what it matched."""

from __future__ import annotations

import json

import pytest
import yaml
from huggingface_hub import ModelCard, parse_eval_result_entries

from polyplatypus.cli import main
from polyplatypus.errors import ConfigError
from polyplatypus.report.card import write_report
from polyplatypus.report.hub import evaluated_split, remove_stale_hub_files


def report(folder, out, *extra) -> int:
    return main(["report", str(folder), "--output", str(out), "--format", "md", "--resamples", "20", *extra])


def test_a_limited_run_is_never_the_whole_test_split(make_results, tmp_path, capsys):
    folder = make_results(tmp_path / "results", {"tuned": ("org/tuned", 0.7)}, shots=(0,), n=50, limit=50)
    out = tmp_path / "out"
    assert report(folder, out, "--card-model", "tuned") == 0
    printed = capsys.readouterr().out
    results = ModelCard.load(out / "README.md").data.eval_results
    assert results and {r.dataset_split for r in results} == {"test[:50]"}
    assert {json.dumps(r.dataset_args) for r in results} == {json.dumps({"limit": 50, "documents": 50})}
    entries = parse_eval_result_entries(yaml.safe_load((out / ".eval_results" / "kobest_copa.yaml").read_text()))
    assert all("50 documents of the test split only (--limit 50" in e.notes for e in entries)
    assert "not a score on the whole split" in printed


@pytest.mark.parametrize(
    "limit,n,expected",
    [
        (None, 1000, ("test", {}, False)),
        (5000, 1000, ("test", {}, False)),  # the limit is above the split's size: the whole split
        (50, 50, ("test[:50]", {"limit": 50, "documents": 50}, True)),
    ],
)
def test_evaluated_split(limit, n, expected):
    split, args, note = evaluated_split("kobest_copa", {"limit": limit, "n": n})
    assert (split, args, note is not None) == expected


def test_lm_eval_fraction_limit_names_the_count_and_the_task_s_split():
    record = {"limit": 0.1, "n": 12, "lm_eval": {"configs": {"kmmlu_x": {"test_split": "dev"}}}}
    split, args, note = evaluated_split("lm_eval:kmmlu_x", record)
    assert split == "dev[:12]" and args == {"limit": 0.1, "documents": 12} and "in the split's order" in note


def test_a_later_report_removes_the_hub_files_it_wrote_before_and_keeps_the_user_s(make_results, tmp_path, capsys):
    folder = make_results(tmp_path / "results", {"tuned": ("org/tuned", 0.7)}, shots=(0,))
    out = tmp_path / "out"
    assert report(folder, out, "--card-model", "tuned") == 0
    ours = sorted((out / ".eval_results").glob("*.yaml"))
    assert len(ours) == 5 and (out / "README.md").is_file()
    mine = out / ".eval_results" / "mine.yaml"
    mine.write_text(yaml.safe_dump([{"dataset": {"id": "x/y", "task_id": "t"}, "value": 1.0, "notes": "by hand"}]))
    edited = ours[0]
    edited.write_text(edited.read_text().replace("scored by polyplatypus", "checked by me"))
    capsys.readouterr()

    assert report(folder, out) == 0  # no --card-model now: the old Hub files would disagree with the card
    err = capsys.readouterr().err
    assert not (out / "README.md").exists()
    assert sorted((out / ".eval_results").glob("*.yaml")) == sorted([mine, edited])  # the user's stay
    assert f"removed {out / 'README.md'}" in err and "no longer part of this one" in err


def test_stale_task_files_go_and_the_kept_ones_stay(make_results, tmp_path):
    folder = make_results(tmp_path / "results", {"tuned": ("org/tuned", 0.7)}, shots=(0,))
    out = tmp_path / "out"
    assert report(folder, out, "--card-model", "tuned") == 0
    keep = [out / "README.md", out / ".eval_results" / "kobest_copa.yaml"]
    removed = remove_stale_hub_files(out, keep)
    assert len(removed) == 4 and sorted(out.rglob("*.yaml")) == keep[1:] and keep[0].is_file()


def test_baseline_matches_whole_path_components_and_says_which(make_results, tmp_path, capsys):
    folder = make_results(tmp_path / "results", {"tuned": ("runs/database", 0.7), "other": ("org/y", 0.6)}, shots=(0,))
    with pytest.raises(ConfigError, match="--baseline 'base' matches no model label"):
        write_report([folder], tmp_path / "out", baseline="base", formats=("md",), resamples=20)
    folder2 = make_results(
        tmp_path / "results2", {"tuned": ("runs/x/base", 0.7), "other": ("runs/database", 0.6)}, shots=(0,)
    )
    assert report(folder2, tmp_path / "out2", "--baseline", "x/base") == 0
    printed = capsys.readouterr().out
    assert (
        "note: --baseline x/base matched model 'tuned' by the last component(s) of its model path (runs/x/base)"
    ) in printed
    assert "| tuned (baseline)" in (tmp_path / "out2" / "card.md").read_text()
