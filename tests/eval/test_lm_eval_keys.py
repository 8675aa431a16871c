"""An lm_eval: cell's key covers everything that decides its numbers: gold targets, metric_list,
filters, generation_kwargs, the code of !function helpers and the bytes of local data files (never
the datasets cache's mtime check). A change recomputes the cell with a message naming it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("lm_eval")
os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_EVALUATE_OFFLINE="1")

import polyplatypus  # noqa: E402


def _evaluate(model, folder, task, output):
    return polyplatypus.evaluate(
        models=[f"tiny={model}"],
        tasks=[f"lm_eval:{task}"],
        shots=[0],
        limit=4,
        include_path=[str(folder)],
        output=str(output),
        progress=False,
    )[0]


def _golds(output, task):
    return json.loads((output / "cells" / "tiny" / f"lm_eval-{task}_0shot.json").read_text(encoding="utf-8"))["golds"]


def test_gold_targets_rewritten_with_the_old_mtime_give_new_results(tiny_gptneox_dir, lm_eval_tasks, tmp_path, capsys):
    data = lm_eval_tasks / "keys" / "haerae_key_gold-test.jsonl"
    first = _evaluate(tiny_gptneox_dir, lm_eval_tasks, "haerae_key_gold", tmp_path / "out")
    assert _golds(tmp_path / "out", "haerae_key_gold") == [0, 1, 2, 3]
    stat = data.stat()
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    # the same size and modification time: datasets' own cache would not notice
    data.write_text(
        "".join(json.dumps(dict(r, answer="(E)"), ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert data.stat().st_size == stat.st_size
    capsys.readouterr()
    again = _evaluate(tiny_gptneox_dir, lm_eval_tasks, "haerae_key_gold", tmp_path / "out")
    assert _golds(tmp_path / "out", "haerae_key_gold") == [4, 4, 4, 4]
    assert again["fingerprint"] != first["fingerprint"]
    err = capsys.readouterr().err
    assert "lm_eval:haerae_key_gold 0-shot of model tiny: gold targets" in err and f"data file bytes ({data})" in err
    assert "prompts and choices" not in err  # the requests themselves did not change
    fresh = _evaluate(tiny_gptneox_dir, lm_eval_tasks, "haerae_key_gold", tmp_path / "fresh")
    assert (
        _golds(tmp_path / "fresh", "haerae_key_gold") == [4, 4, 4, 4] and fresh["fingerprint"] == again["fingerprint"]
    )


def test_a_changed_metric_list_recomputes_naming_it(tiny_gptneox_dir, lm_eval_tasks, tmp_path, capsys):
    first = _evaluate(tiny_gptneox_dir, lm_eval_tasks, "haerae_key_metrics", tmp_path / "out")
    assert set(first["metrics"]) == {"acc", "acc_norm"}
    task = lm_eval_tasks / "keys" / "haerae_key_metrics.yaml"
    task.write_text(
        task.read_text(encoding="utf-8")
        + "metric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    again = _evaluate(tiny_gptneox_dir, lm_eval_tasks, "haerae_key_metrics", tmp_path / "out")
    assert set(again["metrics"]) == {"acc"} and again["metrics"]["acc"] == first["metrics"]["acc"]
    assert "lm_eval:haerae_key_metrics 0-shot of model tiny: metric_list changed" in capsys.readouterr().err


def test_function_helper_code_recomputes_naming_it(tiny_gptneox_dir, lm_eval_tasks, tmp_path, capsys):
    first = _evaluate(tiny_gptneox_dir, lm_eval_tasks, "haerae_key_function", tmp_path / "out")
    assert _golds(tmp_path / "out", "haerae_key_function") == [0, 1, 2, 3]
    helpers = lm_eval_tasks / "keys" / "key_helpers.py"
    helpers.write_text(
        helpers.read_text(encoding="utf-8").replace("return ", "return 0 * ") + "\n# always A\n", encoding="utf-8"
    )
    capsys.readouterr()
    again = _evaluate(tiny_gptneox_dir, lm_eval_tasks, "haerae_key_function", tmp_path / "out")
    assert (
        _golds(tmp_path / "out", "haerae_key_function") == [0, 0, 0, 0] and again["fingerprint"] != first["fingerprint"]
    )
    assert "haerae_key_function 0-shot of model tiny: gold targets, !function code changed" in capsys.readouterr().err


def test_filters_and_generation_kwargs_are_key_parts(lm_eval_tasks):
    from polyplatypus.tasks.lm_eval_tasks import build_cell, changed_parts

    original = (lm_eval_tasks / "haerae" / "haerae_local.yaml").read_text(encoding="utf-8")
    base = build_cell("lm_eval:haerae_local", 0, limit=2, include_path=[str(lm_eval_tasks)])
    for extra, named in (
        ("generation_kwargs: {until: ['\\n\\n']}\n", "generation_kwargs"),
        ("filter_list:\n  - name: strict\n    filter:\n      - function: take_first\n", "filters"),
    ):
        (lm_eval_tasks / "haerae" / "haerae_local.yaml").write_text(original + extra, encoding="utf-8")
        try:
            changed = build_cell("lm_eval:haerae_local", 0, limit=2, include_path=[str(lm_eval_tasks)])
        finally:
            (lm_eval_tasks / "haerae" / "haerae_local.yaml").write_text(original, encoding="utf-8")
        assert changed.fingerprint != base.fingerprint
        assert changed_parts(base.fingerprint_parts, changed.fingerprint_parts) == named


def test_a_group_aggregation_is_a_key_part(lm_eval_tasks):
    from polyplatypus.tasks.lm_eval_tasks import build_cell, changed_parts

    group = lm_eval_tasks / "kmmlu" / "_kmmlu_local.yaml"
    original = group.read_text(encoding="utf-8")
    base = build_cell("lm_eval:kmmlu_local", 0, limit=2, include_path=[str(lm_eval_tasks)])
    group.write_text(original.replace("weight_by_size: true", "weight_by_size: false"), encoding="utf-8")
    try:
        changed = build_cell("lm_eval:kmmlu_local", 0, limit=2, include_path=[str(lm_eval_tasks)])
    finally:
        group.write_text(original, encoding="utf-8")
    assert changed_parts(base.fingerprint_parts, changed.fingerprint_parts) == "metric_list"


# --- request options (--gen-kwargs, the chat options, --predict-only) and generation_config.json --


@pytest.fixture
def generative(tmp_path, kobest_dir):
    """The generative and multiple-choice COPA task files, and a copy of the trained tiny generation
    model with a chat template (its generation_config.json is edited by a test)."""
    import shutil

    from tests.eval.generative_fixtures import write_generative_tasks

    folder = write_generative_tasks(tmp_path / "tasks", kobest_dir)
    model = tmp_path / "model"
    shutil.copytree(Path(__file__).resolve().parents[1] / "fixtures" / "tiny-gptneox-gen", model)
    config = json.loads((model / "tokenizer_config.json").read_text(encoding="utf-8"))
    template = (
        "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
    )
    (model / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": template}), encoding="utf-8")
    return model, folder


def _run(model, folder, task, output, **options):
    (record,) = polyplatypus.evaluate(
        [f"m={model}"],
        [f"lm_eval:{task}"],
        [0],
        limit=2,
        include_path=[str(folder)],
        output=str(output),
        progress=False,
        dtype="float32",
        **options,
    )
    return record


def _said(capsys, task) -> str:
    """What a re-run said about the stored cell of ``task``: the recomputation message's reason, or reused."""
    err = capsys.readouterr().err
    head = f"lm_eval:{task} 0-shot of model m: "
    lines = [line for line in err.splitlines() if head in line and "recomputing it" in line]
    if not lines:
        assert f"reused 1 finished cell(s) of model m (same model, data and settings): lm_eval:{task}" in err, err
        return "reused"
    (line,) = lines
    return line.split(head)[1].removesuffix(" changed since it was stored: recomputing it")


def test_changed_request_options_of_a_generative_cell_are_named(generative, tmp_path, capsys):
    model, folder = generative
    out, task = tmp_path / "out", "copa_gen_local"
    first = _run(model, folder, task, out, gen_kwargs="max_gen_toks=4")
    capsys.readouterr()
    _run(model, folder, task, out, gen_kwargs="max_gen_toks=4")
    assert _said(capsys, task) == "reused"
    again = _run(model, folder, task, out, gen_kwargs="max_gen_toks=8")
    assert _said(capsys, task) == "generation settings (gen_kwargs: max_gen_toks 4 → 8)"
    assert again["request_options"] == {"gen_kwargs": {"max_gen_toks": 8}}
    assert again["fingerprint"] != first["fingerprint"]
    _run(model, folder, task, out, gen_kwargs="max_gen_toks=8,temperature=0")
    assert _said(capsys, task) == "generation settings (gen_kwargs: temperature not given → 0)"
    _run(model, folder, task, out, gen_kwargs="max_gen_toks=8,temperature=0", system_instruction="짧게 답하세요.")
    assert _said(capsys, task) == "system instruction (not given → '짧게 답하세요.')"
    _run(model, folder, task, out, gen_kwargs="max_gen_toks=8,temperature=0", apply_chat_template=True)
    # lm-eval turns few-shot as multiturn on with a template
    assert _said(capsys, task) == (
        "system instruction ('짧게 답하세요.' → not given), chat template (off → on), few-shot as multiturn (off → on)"
    )
    single_turn = dict(gen_kwargs="max_gen_toks=8,temperature=0", apply_chat_template=True, fewshot_as_multiturn=False)
    _run(model, folder, task, out, **single_turn)
    assert _said(capsys, task) == "few-shot as multiturn (on → off)"
    _run(model, folder, task, out, **single_turn)
    assert _said(capsys, task) == "reused"


def test_a_changed_generation_config_is_named(generative, tmp_path, capsys):
    model, folder = generative
    out, task = tmp_path / "out", "copa_gen_local"
    _run(model, folder, task, out, gen_kwargs="max_gen_toks=4")
    config = model / "generation_config.json"
    config.write_text(config.read_text(encoding="utf-8").replace('"use_cache": true', '"use_cache": false'))
    capsys.readouterr()
    _run(model, folder, task, out, gen_kwargs="max_gen_toks=4")
    assert _said(capsys, task) == f"generation_config.json ({config})"
    _run(model, folder, task, out, gen_kwargs="max_gen_toks=4")
    assert _said(capsys, task) == "reused"


def test_changed_request_options_of_a_multiple_choice_cell_are_named(generative, tmp_path, capsys):
    model, folder = generative
    out, task = tmp_path / "out", "copa_choice_local"
    _run(model, folder, task, out)
    capsys.readouterr()
    _run(model, folder, task, out, system_instruction="상식으로 고르세요.")
    assert _said(capsys, task) == "system instruction (not given → '상식으로 고르세요.')"
    _run(model, folder, task, out, system_instruction="상식으로 고르세요.", apply_chat_template=True)
    assert _said(capsys, task) == "chat template (off → on), few-shot as multiturn (off → on)"
    _run(model, folder, task, out, system_instruction="상식으로 고르세요.", apply_chat_template=True)
    assert _said(capsys, task) == "reused"
    _run(model, folder, task, out)  # back to no options at all
    assert _said(capsys, task) == (
        "system instruction ('상식으로 고르세요.' → not given), chat template (on → off), few-shot as multiturn (on → off)"
    )


def test_an_option_is_named_without_the_parts_it_changes_itself(kobest_dir, tmp_path):
    from polyplatypus.tasks.lm_eval_tasks import RequestOptions, build_cell, changed_options, changed_parts
    from tests.eval.generative_fixtures import write_generative_tasks

    folder = write_generative_tasks(tmp_path / "tasks", kobest_dir)

    def cell(task, **options):
        return build_cell(f"lm_eval:{task}", 0, limit=2, include_path=[str(folder)], options=RequestOptions(**options))

    def named(before, after):
        return changed_parts(before.fingerprint_parts, after.fingerprint_parts, before.options, after.options)

    plain, longer = cell("copa_gen_local"), cell("copa_gen_local", gen_kwargs={"max_gen_toks": 64})
    # the requests' digest and the task's generation_kwargs change with it; the option says why
    parts, now = plain.fingerprint_parts, longer.fingerprint_parts
    assert {part for part in parts if parts[part] != now[part]} == {"requests", "generation_kwargs"}
    assert named(plain, longer) == "generation settings (gen_kwargs: max_gen_toks not given → 64)"
    assert named(longer, cell("copa_gen_local", gen_kwargs={"max_gen_toks": 32})) == (
        "generation settings (gen_kwargs: max_gen_toks 64 → 32)"
    )
    assert named(plain, cell("copa_gen_local", predict_only=True)) == "predict-only (off → on)"
    long = "가" * 60
    assert named(plain, cell("copa_gen_local", system_instruction=long)) == (
        f"system instruction (not given → '{'가' * 37}...')"
    )
    # a stored cell's options as a hand-edited file may hold them
    assert changed_options("?", {"predict_only": True, "gen_kwargs": {"until": ["\n"]}}) == {
        "gen_kwargs": 'generation settings (gen_kwargs: until not given → ["\\n"])',
        "predict_only": "predict-only (off → on)",
    }
    # without options the words are the parts' as before
    assert changed_parts(plain.fingerprint_parts, longer.fingerprint_parts) == "prompts and choices, generation_kwargs"


def test_a_task_file_naming_another_data_file_is_named(generative, tmp_path, capsys):
    model, folder = generative
    out, task = tmp_path / "out", "copa_choice_local"
    first = _run(model, folder, task, out)
    yaml_file, test = folder / f"{task}.yaml", folder / "copa-test.jsonl"
    moved = folder / "copa-test-renamed.jsonl"
    moved.write_bytes(test.read_bytes())
    text = yaml_file.read_text(encoding="utf-8")
    assert str(test) in text
    yaml_file.write_text(text.replace(str(test), str(moved)), encoding="utf-8")
    capsys.readouterr()
    again = _run(model, folder, task, out)  # the same documents, read from another file
    assert again["data_source"] != first["data_source"]
    assert _said(capsys, task) == f"data file bytes ({', '.join(sorted([str(test), str(moved)]))}), other task settings"


def test_the_command_names_a_changed_flag(generative, tmp_path, capsys):
    from polyplatypus.cli import main

    model, folder = generative
    task = "copa_gen_local"
    command = ["eval", "--model", f"m={model}", "--tasks", f"lm_eval:{task}", "--shots", "0", "--limit", "2"]
    command += ["--include-path", str(folder), "--output", str(tmp_path / "out"), "--dtype", "float32", "--no-progress"]
    assert main(command + ["--gen-kwargs", "max_gen_toks=4"]) == 0
    capsys.readouterr()
    assert main(command + ["--gen-kwargs", "max_gen_toks=4"]) == 0
    assert _said(capsys, task) == "reused"
    assert main(command + ["--gen-kwargs", "max_gen_toks=6", "--apply-chat-template", "--no-fewshot-as-multiturn"]) == 0
    assert _said(capsys, task) == "generation settings (gen_kwargs: max_gen_toks 4 → 6), chat template (off → on)"


def test_near_ties_kept_is_part_of_the_key_and_the_samples(generative, tmp_path, capsys, monkeypatch):
    """--near-ties keep changes what decides the text: the cell is recomputed naming it, the record
    and every sample line count the near ties taken from the batch (every step here: the near-tie
    test is made to say so); back to redecide, it is named again, and a cell made under the default
    records no near_ties (cells made before the option keep their key). A multiple-choice cell,
    whose scores it does not touch, keeps its key under either."""
    from polyplatypus.cli import main
    from polyplatypus.eval import generation

    monkeypatch.setattr(generation, "logits_near_tie", lambda top, runner_up, dtype: True)

    model, folder = generative
    task = "copa_gen_local"
    out = tmp_path / "out"
    command = ["eval", "--model", f"m={model}", "--tasks", f"lm_eval:{task}", "--shots", "0", "--limit", "2"]
    command += ["--include-path", str(folder), "--output", str(out), "--dtype", "float32", "--no-progress"]
    command += ["--log-samples", "--gen-kwargs", "max_gen_toks=4"]
    assert main(command) == 0
    default = json.loads(next((out / "cells").glob("*/*.json")).read_text(encoding="utf-8"))
    assert "near_ties" not in default["request_options"]
    capsys.readouterr()
    assert main(command + ["--near-ties", "keep"]) == 0
    assert _said(capsys, task) == "near ties (redecide → keep)"
    (cell,) = (out / "cells").glob("*/*.json")
    kept = json.loads(cell.read_text(encoding="utf-8"))
    assert kept["request_options"]["near_ties"] == "keep" and kept["fingerprint"] != default["fingerprint"]
    lines = [json.loads(line) for line in next((out / "samples").glob("*/*.jsonl")).read_text().splitlines()]
    assert lines and all(isinstance(line["near_ties_kept"], int) for line in lines)
    per_document = {line["doc_id"]: line["near_ties_kept"] for line in lines}
    assert kept["generation_work"]["near_ties_kept"] == sum(per_document.values()) == kept["generated_tokens"] > 0
    assert main(command) == 0
    assert _said(capsys, task) == "near ties (keep → redecide)"
    assert main([*command, "--tasks", "copa", "--near-ties", "keep"]) == 2
    assert "--near-ties apply to lm_eval: tasks only" in capsys.readouterr().err
    choice = [*command, "--tasks", "lm_eval:copa_choice_local"]
    assert main(choice) == 0
    capsys.readouterr()
    assert main([*choice, "--near-ties", "keep"]) == 0
    assert _said(capsys, "copa_choice_local") == "reused"


def test_a_cell_mostly_redecided_points_at_near_ties_keep(generative, tmp_path, capsys):
    """In bf16 most generation steps of a small model are near ties: the batch-1 path does most of
    the work, and the run says so, naming --near-ties keep; under keep it says nothing."""
    from polyplatypus.cli import main

    model, folder = generative
    command = ["eval", "--model", f"m={model}", "--tasks", "lm_eval:copa_gen_local", "--shots", "0", "--limit", "4"]
    command += ["--include-path", str(folder), "--dtype", "bfloat16", "--no-progress", "--gen-kwargs", "max_gen_toks=6"]
    assert main([*command, "--output", str(tmp_path / "exact")]) == 0
    (cell,) = (tmp_path / "exact" / "cells").glob("*/*.json")
    work = json.loads(cell.read_text(encoding="utf-8"))["generation_work"]
    said = capsys.readouterr().err
    assert work["redone_positions"] > work["positions_forwarded"] / 2
    assert "near a tie re-decided by the batch-1 path" in said and "--near-ties keep" in said
    assert main([*command, "--output", str(tmp_path / "kept"), "--near-ties", "keep"]) == 0
    assert "--near-ties keep" not in capsys.readouterr().err
