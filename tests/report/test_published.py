"""report --published: the reference harness's published results files and lm-eval 0.4 results
files as baseline rows, checked on the shared copies of the harness's files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polyplatypus.cli import main
from polyplatypus.eval.tables import task_title
from polyplatypus.report.card import MISSING, read_card_tables, write_report
from polyplatypus.tasks.registry import all_task_names

# each KoBEST task's heading in the card (published rows are shown where evaluated rows are)
TASK_TITLES = {name: task_title(name) for name in all_task_names()}

# ../shared beside the repository (the project's shared data)
PUBLISHED = Path(__file__).resolve().parents[3] / "shared" / "data" / "published" / "ko-lm-evaluation-harness"
POLYGLOT_12_8B = PUBLISHED / "EleutherAI" / "polyglot-ko-12.8b"
POLYGLOT_LABEL = "EleutherAI/polyglot-ko-12.8b"

needs_published = pytest.mark.skipif(not POLYGLOT_12_8B.is_dir(), reason="shared published results not found")


@pytest.fixture
def evaluated(make_results, tmp_path):
    return make_results(
        tmp_path / "results",
        {
            "polyglot-ko-1.3b": ("EleutherAI/polyglot-ko-1.3b", 0.62),
            "poly-platypus-ko-1.3b": ("runs/x/merged", 0.75),
        },
    )


def report_of(out: Path) -> tuple[dict, dict]:
    return read_card_tables((out / "card.md").read_text()), json.loads((out / "results.json").read_text())


@needs_published
def test_polyglot_12_8b_files_give_their_numbers_in_the_tables(evaluated, tmp_path):
    out = tmp_path / "out"
    assert (
        main(
            [
                "report",
                str(evaluated),
                "--published",
                str(POLYGLOT_12_8B),
                "--output",
                str(out),
                "--format",
                "md",
                "--resamples",
                "100",
            ]
        )
        == 0
    )
    tables, report = report_of(out)
    by_key = {(r["task"], r["label"], r["shots"]): r for r in report["results"]}
    checked = 0
    for file in sorted(POLYGLOT_12_8B.glob("*_shot.json")):
        data = json.loads(file.read_text())
        shots = data["config"]["num_fewshot"]
        for task, metrics in data["results"].items():
            if task not in TASK_TITLES:
                continue  # not a task the evaluated rows have
            cell = tables[TASK_TITLES[task]][POLYGLOT_LABEL][shots]
            assert cell["f1"] == round(metrics["macro_f1"], 4)  # the card's rounding
            assert cell["ci"] is None and not cell["noise"]
            record = by_key[(task, POLYGLOT_LABEL, shots)]
            assert record["macro_f1"] == metrics["macro_f1"]  # full value in results.json
            assert record["acc"] == metrics["acc"]
            assert record["published"] is True and record["ci_low"] is None
            assert record["within_noise_of_best"] is None
            assert report["provenance"][record["provenance"] - 1]["source"] == str(file)
            checked += 1
    assert checked == 4 * 4  # four shot files x the four KoBEST tasks the harness published
    # the README's example: the harness's file says 0.7796, not the seed card's 0.7937
    assert tables["COPA"][POLYGLOT_LABEL][0]["f1"] == 0.7796
    # WiC is not in the published files: its row stays empty (absent), never zero
    assert POLYGLOT_LABEL not in tables["WiC"]
    assert all(r["task"] != "kobest_wic" for r in report["results"] if r["label"] == POLYGLOT_LABEL)
    card = (out / "card.md").read_text()
    assert f"{POLYGLOT_LABEL} (published)" in card
    for file in POLYGLOT_12_8B.glob("*_shot.json"):
        assert f"`{file}`" in card  # each file in a provenance footnote
    assert "no bootstrap interval" in card and "take no part in the paired test" in card
    # another harness: the card's settings warning says so
    assert "Warning: these rows were not all evaluated with the same settings" in card
    assert "harness" in report["report"]["differing_settings"]
    # tasks the card cannot show are named, not silently dropped
    assert "nsmc (no macro_f1)" in card and "korunsmile (its f1 is not a macro average)" in card
    assert "kohatespeech (0, 5, 10, 50-shot)" in card


@needs_published
def test_published_rows_take_no_part_in_the_noise_test(make_results, tmp_path):
    folder = make_results(tmp_path / "results", {"a": ("org/a", 0.55), "b": ("org/b", 0.6)}, n=40)
    plain = write_report([folder], tmp_path / "plain", resamples=200, formats=("md",))
    with_published = write_report(
        [folder], tmp_path / "pub", resamples=200, formats=("md",), published=[str(POLYGLOT_12_8B)]
    )
    assert plain and with_published
    _, before = report_of(tmp_path / "plain")
    _, after = report_of(tmp_path / "pub")
    evaluated_after = {(r["task"], r["label"], r["shots"]): r for r in after["results"] if not r.get("published")}
    assert len(evaluated_after) == len(before["results"])
    for record in before["results"]:
        twin = evaluated_after[(record["task"], record["label"], record["shots"])]
        assert (twin["ci_low"], twin["ci_high"]) == (record["ci_low"], record["ci_high"])
        assert twin["within_noise_of_best"] == record["within_noise_of_best"]
    # where the published row is the best of a column, it alone is bold
    published = [r for r in after["results"] if r.get("published")]
    for record in published:
        column = [r for r in after["results"] if (r["task"], r["shots"]) == (record["task"], record["shots"])]
        assert record["best"] == (record["macro_f1"] == max(r["macro_f1"] for r in column))


@needs_published
def test_baseline_may_be_a_published_row(evaluated, tmp_path):
    out = tmp_path / "out"
    write_report(
        [evaluated],
        out,
        resamples=100,
        formats=("md", "html"),
        published=[f"polyglot-12.8b={POLYGLOT_12_8B}"],
        baseline="polyglot-12.8b",
    )
    tables, report = report_of(out)
    assert report["report"]["baseline"] == "polyglot-12.8b"
    base = {(r["task"], r["shots"]): r["macro_f1"] for r in report["results"] if r["label"] == "polyglot-12.8b"}
    compared = 0
    for record in report["results"]:
        if record["label"] == "polyglot-12.8b":
            continue
        key = (record["task"], record["shots"])
        if key in base:
            assert record["vs_baseline"]["difference"] == pytest.approx(record["macro_f1"] - base[key], abs=1e-12)
            assert record["vs_baseline"]["ci_low"] is None and record["vs_baseline"]["within_noise"] is None
            compared += 1
        else:
            assert record["vs_baseline"] is None  # WiC: no published number to compare with
    assert compared == 2 * 4 * 4
    card = (out / "card.md").read_text()
    assert "The baseline is a published row: differences from it are shown without intervals." in card
    assert "polyglot-12.8b (published) (baseline)" in card
    assert list(tables["COPA"])[0] == "polyglot-12.8b"
    page = (out / "card.html").read_text()
    assert "polyglot-12.8b (published) (baseline)" in page and "shown without intervals" in page


def lm_eval_kobest_config(task: str) -> dict:
    """lm-eval 0.4.13's own dump of one of its kobest task configs (as its results files hold it)."""
    import lm_eval
    from lm_eval.config.task import TaskConfig
    from lm_eval.tasks._yaml_loader import load_yaml

    path = Path(lm_eval.__file__).parent / "tasks" / "kobest" / f"{task}.yaml"
    return json.loads(json.dumps(TaskConfig(**load_yaml(path)).to_dict(), default=str))


def lm_eval_file(path: Path, *, f1_config: dict | None = None, shots: int = 5) -> Path:
    pytest.importorskip("lm_eval")
    config = lm_eval_kobest_config("kobest_boolq")
    if f1_config is not None:
        config["metric_list"] = [m if m["metric"] != "f1" else f1_config for m in config["metric_list"]]
    data = {
        "results": {
            "kobest_boolq": {
                "name": "kobest_boolq",
                "alias": "kobest_boolq",
                "sample_len": 1404,
                "acc,none": 0.6061253561253561,
                "acc_stderr,none": 0.013042,
                "f1,none": 0.5904512743628186,
                "f1_stderr,none": "N/A",
            },
            "kobest_copa": {
                "name": "kobest_copa",
                "alias": "kobest_copa",
                "sample_len": 1000,
                "acc,none": 0.71,
                "acc_stderr,none": 0.0143,
            },
        },
        "group_subtasks": {"kobest_boolq": [], "kobest_copa": []},
        "configs": {"kobest_boolq": config, "kobest_copa": {"task": "kobest_copa", "metric_list": [{"metric": "acc"}]}},
        "versions": {"kobest_boolq": 1.0, "kobest_copa": 1.0},
        "n-shot": {"kobest_boolq": shots, "kobest_copa": shots},
        "n-samples": {
            "kobest_boolq": {"original": 1404, "effective": 1404},
            "kobest_copa": {"original": 1000, "effective": 1000},
        },
        "config": {"model": "hf", "model_args": "pretrained=beomi/llama-2-ko-7b,dtype=float16", "batch_size": "8"},
        "lm_eval_version": "0.4.13",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_lm_eval_rows_go_under_lm_eval_task_names(evaluated, tmp_path):
    file = lm_eval_file(tmp_path / "pub" / "beomi__llama-2-ko-7b" / "results_2025-01-01T00-00-00.json")
    out = tmp_path / "out"
    write_report([evaluated], out, resamples=100, formats=("md",), published=[str(file)])
    tables, report = report_of(out)
    assert "beomi/llama-2-ko-7b" not in tables["BoolQ"]  # other prompts: never in the reference task's table
    assert not [r for r in report["results"] if r["label"] == "beomi/llama-2-ko-7b"]
    card = (out / "card.md").read_text()
    # lm_eval:kobest_boolq is no task the evaluated rows have: left out, with a note
    assert "beomi/llama-2-ko-7b: lm_eval:kobest_boolq (5-shot)" in card
    assert "lm_eval:kobest_copa (no f1)" in card

    only = tmp_path / "only"
    assert main(["report", "--published", str(file), "--output", str(only), "--format", "md"]) == 0
    tables, report = report_of(only)
    (row,) = [r for r in report["results"] if r["label"] == "beomi/llama-2-ko-7b"]
    assert (row["task"], row["shots"], row["macro_f1"], row["acc"], row["n"]) == (
        "lm_eval:kobest_boolq",
        5,
        0.5904512743628186,
        0.6061253561253561,
        1404,
    )
    assert tables["lm_eval:kobest_boolq"]["beomi/llama-2-ko-7b"][5]["f1"] == 0.5905
    assert list(tables) == ["lm_eval:kobest_boolq"]  # COPA had acc only: no F1 table from it


def test_lm_eval_f1_that_is_not_macro_is_an_error(tmp_path, capsys):
    file = lm_eval_file(
        tmp_path / "pub" / "results_2025.json",
        f1_config={"metric": "f1", "aggregation": "f1", "higher_is_better": True},
    )
    assert main(["report", "--published", str(file), "--output", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert str(file) in error and "cannot be matched to macro-F1" in error
    assert not (tmp_path / "out").exists()


@needs_published
def test_errors_name_the_file(evaluated, tmp_path, capsys):
    neither = tmp_path / "neither.json"
    neither.write_text(json.dumps({"results": {"kobest_copa": {"accuracy": 0.5}}, "config": {}}))
    assert main(["report", str(evaluated), "--published", str(neither), "--output", str(tmp_path / "o1")]) == 2
    error = capsys.readouterr().err
    assert str(neither) in error and "neither a ko-lm-evaluation-harness" in error

    nothing = tmp_path / "nothing.json"
    nothing.write_text(
        json.dumps({"results": {"nsmc": {"acc": 0.5}}, "config": {"num_fewshot": 0, "model_args": "pretrained=a/b"}})
    )
    assert main(["report", str(evaluated), "--published", str(nothing), "--output", str(tmp_path / "o2")]) == 2
    error = capsys.readouterr().err
    assert str(nothing) in error and "no task in this file has a metric that matches" in error

    clash = f"poly-platypus-ko-1.3b={POLYGLOT_12_8B}"
    assert main(["report", str(evaluated), "--published", clash, "--output", str(tmp_path / "o3")]) == 2
    error = capsys.readouterr().err
    assert "poly-platypus-ko-1.3b" in error and "label of an evaluated model" in error and str(POLYGLOT_12_8B) in error

    assert (
        main(
            ["report", str(evaluated), "--published", str(evaluated / "results.json"), "--output", str(tmp_path / "o4")]
        )
        == 2
    )
    assert "given as RESULTS, not --published" in capsys.readouterr().err
    assert not any((tmp_path / name).exists() for name in ("o1", "o2", "o3", "o4"))


@needs_published
def test_one_model_in_several_folders_gets_the_folder_name(tmp_path):
    """The harness publishes beomi/llama-2-ko-7b-emb-dev under four folders (training checkpoints)."""
    out = tmp_path / "out"
    write_report([], out, formats=("md",), published=[str(PUBLISHED / "beomi")])
    tables, report = report_of(out)
    labels = set(report["report"]["models"])
    assert {
        "beomi/llama-2-ko-7b-emb-dev (llama-2-ko-7b-emb-dev-17B)",
        "beomi/llama-2-ko-7b-emb-dev (llama-2-ko-7b-emb-dev)",
        "beomi/llama-2-ko-7b",
    } <= labels
    value = json.loads((PUBLISHED / "beomi" / "llama-2-ko-7b-emb-dev-17B" / "0_shot.json").read_text())
    row = tables["COPA"]["beomi/llama-2-ko-7b-emb-dev (llama-2-ko-7b-emb-dev-17B)"]
    assert row[0]["f1"] == round(value["results"]["kobest_copa"]["macro_f1"], 4)
    # a model without 50-shot files (KT-AI's) shows an empty cell there, never a zero
    write_report([], tmp_path / "kt", formats=("md",), published=[str(PUBLISHED / "KT-AI"), str(POLYGLOT_12_8B)])
    card = (tmp_path / "kt" / "card.md").read_text()
    line = next(row for row in card.splitlines() if row.startswith("| KT-AI/midm-bitext-S-7B-inst-v1"))
    assert (
        line.rstrip(" |").endswith(MISSING)
        and 50 not in read_card_tables(card)["COPA"]["KT-AI/midm-bitext-S-7B-inst-v1"]
    )
