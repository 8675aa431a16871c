"""lm-eval ``generate_until`` tasks under ``polyplatypus eval``: the requests are lm-eval's, the
texts are those of lm-eval 0.4.13's own ``simple_evaluate`` with ``HFLM`` (batch 1, fp32), and so
are the filters, metrics, group consolidation and logged samples (its keys and hashes). Also:
``--gen-kwargs`` and ``--predict-only`` as lm-eval's, refusals before the model loads, the cell key
and resuming a killed generative cell.

The model is the briefly trained tiny fixture (a random model rarely emits a stop string)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("lm_eval")
os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_EVALUATE_OFFLINE="1")  # never the network

from polyplatypus.errors import ConfigError  # noqa: E402
from tests.eval.generative_fixtures import lm_eval_reference, write_generative_tasks  # noqa: E402

MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-gptneox-lm"
TOLERANCE = 1e-4
LM_EVAL_SAMPLE_KEYS = (
    "doc_id",
    "arguments",
    "resps",
    "filtered_resps",
    "filter",
    "doc_hash",
    "prompt_hash",
    "target_hash",
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, kobest_dir) -> Path:
    return write_generative_tasks(tmp_path_factory.mktemp("generative-tasks"), kobest_dir)


@pytest.fixture(scope="module")
def model():
    from polyplatypus.models.loading import load_model

    return load_model(str(MODEL), dtype="float32", device="cpu")


def ours(model, name, shots, limit, folder, options=None, **kwargs):
    from polyplatypus.eval.lm_eval_cells import score_lm_eval_cell
    from polyplatypus.tasks.lm_eval_tasks import build_cell

    cell = build_cell(f"lm_eval:{name}", shots, limit=limit, include_path=[str(folder)], options=options)
    return cell, *score_lm_eval_cell(model[0], model[1], cell, **kwargs)


def plain(value):
    return json.loads(json.dumps(value, default=str))


def same(ours, theirs) -> bool:
    """Equal, floats (loglikelihoods) within :data:`TOLERANCE`."""
    if isinstance(ours, list) and isinstance(theirs, list):
        return len(ours) == len(theirs) and all(same(a, b) for a, b in zip(ours, theirs))
    if isinstance(ours, float) and isinstance(theirs, float):
        return abs(ours - theirs) < TOLERANCE
    return ours == theirs


def assert_same_as_lm_eval(model, name, shots, limit, folder, options=None, **lm_eval_options):
    expected = lm_eval_reference(model, name, shots, limit, folder, **lm_eval_options)
    cell, record, samples, results = ours(model, name, shots, limit, folder, options)
    compared = 0
    for task_name, logged in expected["samples"].items():
        mine = [s for s in samples if s["task"] == task_name]
        assert len(mine) == len(logged) > 0
        for theirs, got in zip(logged, mine):
            for key in LM_EVAL_SAMPLE_KEYS:  # loglikelihoods within 1e-4 (as the multiple-choice parity)
                assert same(plain(got[key]), plain(theirs[key])), (task_name, key, got[key], theirs[key])
            for metric in theirs["metrics"]:
                assert got["metrics"].get(metric) == theirs[metric], (task_name, metric)
            compared += 1
    assert compared == len(samples)
    assert plain(results["results"]) == plain(expected["results"])
    assert plain(results.get("groups")) == plain(expected.get("groups"))
    return cell, record, samples


def test_generative_task_with_two_filters_matches_lm_eval(model, folder):
    cell, record, samples = assert_same_as_lm_eval(model, "copa_gen_regex_local", 2, 12, folder)
    assert cell.generative and record["macro_f1"] is None
    # the task's own metrics under lm-eval's names, with their stderrs
    assert set(record["metrics"]) == {"exact_match,strict", "exact_match,first-word"}
    assert set(record["metrics_stderr"]) == set(record["metrics"])
    assert record["metrics"]["exact_match,first-word"] > 0  # the regex filter finds the first word
    assert record["n"] == 12 and len(samples) == 24  # one line per document and filter, as lm-eval logs
    first = samples[0]
    assert first["prompt"] == first["arguments"][0][0] and first["doc_index"] == first["doc_id"]
    assert {"generation", "stop_reason", "n_tokens"} <= first.keys()


def test_group_mixing_generative_and_multiple_choice_matches_lm_eval(model, folder):
    cell, record, samples = assert_same_as_lm_eval(model, "copa_mixed_local", 1, 8, folder)
    assert set(record["metrics"]) == {"exact_match", "acc"}
    assert {s["task"] for s in samples if "loglikelihoods" in s} == {"copa_choice_local"}


def test_gen_kwargs_and_predict_only_are_lm_evals(model, folder):
    from polyplatypus.tasks.lm_eval_tasks import RequestOptions, parse_gen_kwargs

    # 370 new tokens leave 14 of the 384-token window to the prompt: longer prompts are cut from the left
    options = RequestOptions(gen_kwargs=parse_gen_kwargs("max_gen_toks=370,until=년"), predict_only=True)
    cell, record, samples = assert_same_as_lm_eval(
        model, "copa_gen_local", 0, 6, folder, options, gen_kwargs="max_gen_toks=370,until=년", predict_only=True
    )
    assert samples[0]["arguments"][0][1]["max_gen_toks"] == 370 and samples[0]["arguments"][0][1]["until"] == "년"
    assert set(record["metrics"]) == {"bypass"}
    longer = [len(model[1](s["prompt"]).input_ids) > 384 - 370 for s in samples]
    assert [s["truncated"] for s in samples] == longer and record["truncated"] == sum(longer) >= 5


def test_rolling_loglikelihood_is_refused_clearly(tmp_path):
    from polyplatypus.tasks.lm_eval_tasks import build_cell

    data = tmp_path / "text.jsonl"
    data.write_text(json.dumps({"text": "한국어 문장입니다."}, ensure_ascii=False) + "\n", encoding="utf-8")
    (tmp_path / "rolling.yaml").write_text(
        f"task: rolling_local\ndataset_path: json\ndataset_kwargs:\n  data_files: {{test: {data}}}\n"
        "output_type: loglikelihood_rolling\ntest_split: test\ndoc_to_text: ''\ndoc_to_target: '{{text}}'\n"
        "metric_list:\n  - metric: word_perplexity\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"rolling_local is 'loglikelihood_rolling'.*SharedContextLM"):
        build_cell("lm_eval:rolling_local", 0, include_path=[str(tmp_path)])


def test_no_room_for_the_prompt_is_refused_before_the_model_loads(folder, monkeypatch):
    from polyplatypus.eval import runner

    monkeypatch.setattr(runner, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    with pytest.raises(ConfigError, match=r"copa_gen_long_local asks max_gen_toks 400.*384-token window"):
        runner.evaluate(
            [str(MODEL)],
            ["lm_eval:copa_gen_long_local"],
            [0],
            include_path=[str(folder)],
            limit=2,
            device="cpu",
            progress=False,
        )
    with pytest.raises(ConfigError, match=r"max_gen_toks 384"):
        runner.evaluate(
            [str(MODEL)],
            ["lm_eval:copa_gen_local"],
            [0],
            include_path=[str(folder)],
            limit=2,
            device="cpu",
            progress=False,
            gen_kwargs="max_gen_toks=384",
        )


def test_cell_key_covers_gen_kwargs_and_generation_config(folder, tmp_path):
    import shutil

    from polyplatypus.eval.config import EvalConfig
    from polyplatypus.eval.runner import plan

    copy = tmp_path / "model"
    shutil.copytree(MODEL, copy)

    def key(**options):
        grid = plan(
            EvalConfig(
                models=[str(copy)],
                tasks=["lm_eval:copa_gen_local"],
                shots=[0],
                limit=2,
                include_path=[str(folder)],
                **options,
            )
        )
        return grid.key(grid.specs[0], grid.tasks[0], 0)

    first = key()
    assert first["generation_config_sha256"] and "request_options" not in first
    assert key(gen_kwargs="max_gen_toks=8")["request_options"] == {"gen_kwargs": {"max_gen_toks": 8}}
    assert key(gen_kwargs="max_gen_toks=8")["fingerprint"] != first["fingerprint"]
    config = json.loads((copy / "generation_config.json").read_text())
    (copy / "generation_config.json").write_text(json.dumps({**config, "repetition_penalty": 1.3}))
    assert key()["generation_config_sha256"] != first["generation_config_sha256"]


def test_eval_writes_generative_cells_and_samples(folder, tmp_path):
    from polyplatypus.eval.runner import evaluate

    out = tmp_path / "out"
    (record,) = evaluate(
        [str(MODEL)],
        ["lm_eval:copa_gen_regex_local"],
        [1],
        include_path=[str(folder)],
        limit=4,
        device="cpu",
        progress=False,
        output=str(out),
        log_samples=True,
    )
    lines = [
        json.loads(line)
        for line in (out / "samples" / "tiny-gptneox-lm" / "lm_eval-copa_gen_regex_local_1shot.jsonl")
        .read_text()
        .splitlines()
    ]
    assert len(lines) == 8 and all(set(LM_EVAL_SAMPLE_KEYS) <= line.keys() for line in lines)
    (lm_eval_file,) = (out / "lm_eval" / "1-shot").glob("*/results_*.json")
    assert "exact_match,first-word" in json.loads(lm_eval_file.read_text())["results"]["copa_gen_regex_local"]
    assert record["macro_f1"] is None and not list((out / "cells").glob("*/*.partial.jsonl"))
    # what the engine forwarded: each distinct context prefix once plus each generated token fed back, at least
    work = record["generation_work"]
    assert work["documents"] == record["generated"] == 4
    assert record["generated_tokens"] - work["documents"] < work["minimum_positions"] <= work["positions_forwarded"]
    assert work["positions_forwarded"] - work["padding_positions"] <= 1.05 * work["minimum_positions"]
    table = (out / "results.md").read_text(encoding="utf-8")
    assert "(exact_match,first-word)" in table and "F1" not in table
    # the card shows the task's own metrics with their stderr, and no macro-F1
    from polyplatypus.report.card import build_report, render_markdown
    from polyplatypus.report.results import load_rows

    card = render_markdown(build_report(load_rows(out)))
    stderr = record["metrics_stderr"]["exact_match,first-word"]
    assert f"{record['metrics']['exact_match,first-word']:.4f} ± {stderr:.4f}" in card
    assert "lm_eval:copa_gen_regex_local (exact_match,strict)" in card and "(F1)" not in card
    # report --published: a generative task of an lm-eval results file is shown by its own metrics too
    from polyplatypus.report.card import write_report

    written = write_report([out], tmp_path / "report", formats=("md", "html"), published=[f"ref={lm_eval_file}"])
    card = written["md"][0].read_text(encoding="utf-8")
    assert card.count(f"{record['metrics']['exact_match,first-word']:.4f} ± {stderr:.4f}") == 2  # ours and ref
    assert "| ref |" in card
    rows = json.loads((tmp_path / "report" / "results.json").read_text(encoding="utf-8"))["task_metrics"]
    assert [(r["model"], r["published"]) for r in rows] == [("tiny-gptneox-lm", False), ("ref", True)]
    assert rows[0]["metrics"]["exact_match,first-word"] == {
        "value": record["metrics"]["exact_match,first-word"],
        "stderr": stderr,
    }


def test_predict_only_writes_the_samples_as_lm_evals_does(folder, tmp_path, capsys):
    """lm-eval's --predict_only turns log_samples on (its generations are its only output); so does
    eval's: without --log-samples the texts used to be generated and thrown away."""
    from polyplatypus.cli import main

    out = tmp_path / "out"
    argv = ["eval", "--model", str(MODEL), "--tasks", "lm_eval:copa_gen_local", "--shots", "0", "--limit", "2"]
    argv += ["--include-path", str(folder), "--device", "cpu", "--no-progress", "--output", str(out)]
    assert main([*argv, "--predict-only"]) == 0
    (samples,) = (out / "samples" / "tiny-gptneox-lm").glob("*.jsonl")
    lines = [json.loads(line) for line in samples.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 2 and all(line["generation"] for line in lines)
    assert main([*argv, "--predict-only"]) == 0  # the cell and its samples are reused
    assert "reused 1 finished cell(s)" in capsys.readouterr().err


def test_batch_size_auto_generates_with_the_engines_auto_rows_on_a_cpu(folder, tmp_path, monkeypatch):
    """--batch-size auto scores one row at a time on a CPU (batching adds padding there), but
    generation takes the engine's own auto rows (its key/value budget), which continuous batching
    gains from on a CPU too; the texts are those of batch 1 and the record says auto."""
    from polyplatypus.eval import generation
    from polyplatypus.eval.runner import evaluate

    rows = []
    engine = generation.GenerationEngine

    class Recording(engine):
        def __init__(self, *args, **kwargs):
            rows.append(kwargs["rows"])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(generation, "GenerationEngine", Recording)
    records = {}
    for batch_size in (1, "auto"):
        (records[batch_size],) = evaluate(
            [str(MODEL)],
            ["lm_eval:copa_gen_regex_local"],
            [1],
            include_path=[str(folder)],
            limit=6,
            device="cpu",
            progress=False,
            output=str(tmp_path / str(batch_size)),
            log_samples=True,
            batch_size=batch_size,
        )
    assert rows == [1, "auto"]
    assert records["auto"]["batch_size"] == "auto" and records[1]["batch_size"] == 1

    def texts(batch_size):
        path = tmp_path / str(batch_size) / "samples" / "tiny-gptneox-lm" / "lm_eval-copa_gen_regex_local_1shot.jsonl"
        return [json.loads(line)["resps"] for line in path.read_text(encoding="utf-8").splitlines()]

    assert texts("auto") == texts(1) and records["auto"]["metrics"] == records[1]["metrics"]
