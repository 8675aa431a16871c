"""Console output that tells the truth: lm-eval's request bars carry a label, its "assuming
single-process call" warning (wrong under torchrun, where our split spreads the documents) is
dropped, --no-progress hides transformers' "Loading weights" bars, paths are joined, and ``run``
ends with the scores."""

from __future__ import annotations

import logging
import types
from pathlib import Path

import pytest
import yaml

from polyplatypus.cli import main
from polyplatypus.models.loading import load_causal_lm, load_model
from polyplatypus.utils.quiet import labelled_bars, without_log_message


def test_labelled_bars_fill_in_a_missing_label_only():
    seen = []
    module = types.SimpleNamespace(tqdm=lambda *args, **kwargs: seen.append(kwargs.get("desc")))
    original = module.tqdm
    with labelled_bars(module, "building"):
        module.tqdm([])
        module.tqdm([], desc="own")
    assert seen == ["building", "own"] and module.tqdm is original


def test_without_log_message_drops_that_message_only(caplog):
    logger = logging.getLogger("polyplatypus.test.quiet")
    with caplog.at_level(logging.WARNING, logger=logger.name), without_log_message(logger.name, "single-process"):
        logger.warning("assuming single-process call")
        logger.warning("something else")
    logger.warning("assuming single-process call")
    assert [r.getMessage() for r in caplog.records] == ["something else", "assuming single-process call"]


def test_lm_eval_request_bars_are_labelled(lm_eval_tasks, capsys):
    from polyplatypus.tasks.lm_eval_tasks import build_cell

    build_cell("lm_eval:kmmlu_local", 0, limit=2, include_path=[str(lm_eval_tasks)])
    err = capsys.readouterr().err
    assert "lm-eval: building" in err and "0-shot requests" in err, err


def test_no_single_process_warning_from_our_lm(tiny_gptneox_dir, caplog):
    from polyplatypus.eval.lm_eval_cells import make_lm
    from polyplatypus.eval.lm_eval_engine import SharedContextLM

    model, tokenizer = load_model(tiny_gptneox_dir, device="cpu", progress=False)
    with caplog.at_level(logging.WARNING):
        SharedContextLM(pretrained=model, tokenizer=tokenizer)  # lm-eval's own warning, as a check
    assert any("assuming single-process call" in r.getMessage() for r in caplog.records)
    assert any("model kwarg is not of type `str`" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        make_lm(model, tokenizer)
    assert not any(
        "assuming single-process call" in r.getMessage() or "not of type `str`" in r.getMessage()
        for r in caplog.records
    )


def test_reading_lm_evals_task_index_is_announced(tmp_path, capsys):
    """lm-eval reads every one of its task files, silently, before eval or curate can find a task
    (seconds, up to half a minute on a cold disk): said once per process and include path."""
    from polyplatypus.tasks.lm_eval_tasks import task_manager

    task_manager([str(tmp_path)])
    assert "lm-eval: reading its task index (its ~15,000 task files, and the --include-path folders)" in (
        capsys.readouterr().err
    )
    task_manager([str(tmp_path)])  # built once per process
    assert "reading its task index" not in capsys.readouterr().err


@pytest.mark.parametrize("progress", [True, False])
def test_task_data_and_request_bars_follow_progress(tmp_path, capsys, progress):
    """eval --no-progress used to leave lm-eval's request-building bars and datasets' "Generating
    test split" bars on; each run here reads a new local file, so datasets does build its split."""
    from polyplatypus.tasks.lm_eval_tasks import build_cell

    data = tmp_path / "qa.jsonl"
    data.write_text('{"q": "한국의 수도는?", "a": "서울"}\n{"q": "일본의 수도는?", "a": "도쿄"}\n', encoding="utf-8")
    (tmp_path / "qa.yaml").write_text(
        f"task: qa_quiet_{progress}\ndataset_path: json\ndataset_kwargs:\n  data_files: {{test: {data}}}\n"
        "output_type: generate_until\ntest_split: test\ndoc_to_text: '{{q}}'\ndoc_to_target: '{{a}}'\n"
        "metric_list:\n  - metric: exact_match\n",
        encoding="utf-8",
    )
    build_cell(f"lm_eval:qa_quiet_{progress}", 0, include_path=[str(tmp_path)], progress=progress)
    err = capsys.readouterr().err
    assert ("lm-eval: building" in err) == progress and ("Generating test split" in err) == progress, err


def test_prompts_cut_from_the_left_are_counted_in_one_line(kobest_dir, tmp_path, caplog, capsys):
    """lm-eval's hf warns "Left truncation applied" once per document (thousands of lines on a long
    task, burying the progress bar): eval drops it and says how many prompts were cut, once."""
    from polyplatypus.eval.runner import evaluate
    from tests.eval.generative_fixtures import write_generative_tasks

    folder = write_generative_tasks(tmp_path / "tasks", kobest_dir)
    model = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-gptneox-lm"
    with caplog.at_level(logging.WARNING):
        (record,) = evaluate(  # 370 new tokens leave 14 of the 384-token window to the prompt
            [str(model)],
            ["lm_eval:copa_gen_local"],
            [0],
            include_path=[str(folder)],
            limit=3,
            device="cpu",
            progress=False,
            gen_kwargs="max_gen_toks=370",
        )
    assert record["truncated"] == 3
    assert not [r for r in caplog.records if "Left truncation applied" in r.getMessage()]
    err = capsys.readouterr().err
    assert err.count("3 of 3 prompts were cut from the left to fit the 384-token window less max_gen_toks") == 1


@pytest.mark.parametrize("progress", [True, False])
def test_loading_weights_bar_follows_progress(tiny_gptneox_dir, capsys, progress):
    load_causal_lm(tiny_gptneox_dir, progress=progress)
    assert ("Loading weights" in capsys.readouterr().err) == progress


def test_eval_names_joined_paths_and_shows_no_weight_bars(tiny_gptneox_dir, kobest_dir, tmp_path, capsys):
    out = f"{tmp_path / 'results'}/"
    assert (
        main(
            [
                "eval",
                "--model",
                str(tiny_gptneox_dir),
                "--tasks",
                "kobest_copa",
                "--shots",
                "0",
                "--limit",
                "2",
                "--kobest-dir",
                str(kobest_dir),
                "--output",
                out,
                "--no-progress",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert f"wrote {tmp_path / 'results' / 'results.json'} and" in captured.out and "//" not in captured.out
    assert "Loading weights" not in captured.err


def test_run_ends_with_the_results_table(tiny_gptneox_dir, kobest_dir, tmp_path, capsys):
    recipe = tmp_path / "eval-only.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "name": "eval-only",
                "base": {"model": str(tiny_gptneox_dir), "label": "tiny"},
                "eval": {
                    "models": ["base"],
                    "tasks": ["kobest_copa"],
                    "shots": [0],
                    "limit": 2,
                    "kobest_dir": str(kobest_dir),
                },
            }
        )
    )
    assert main(["run", str(recipe), "--run-dir", str(tmp_path / "run"), "--until", "eval", "--no-progress"]) == 0
    captured = capsys.readouterr()
    table = (tmp_path / "run" / "eval" / "results.md").read_text(encoding="utf-8")
    assert table.strip() and table.strip() in captured.out
    assert "Loading weights" not in captured.err
