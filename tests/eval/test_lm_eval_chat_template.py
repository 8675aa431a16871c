"""Chat templates as lm-eval 0.4.13 applies them: ``--apply-chat-template`` (few-shot as multiturn
unless turned off), ``--fewshot-as-multiturn``, ``--system-instruction``, for generative and
multiple-choice lm_eval: tasks. The requests are identical to those of lm-eval's own
``simple_evaluate(..., apply_chat_template=True, ...)`` with ``HFLM`` on a tiny model whose
tokenizer has a chat template (set here), and so are the generated texts and metrics. A model
without a template, and our reference tasks, are refused before any scoring."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("lm_eval")
os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_EVALUATE_OFFLINE="1")  # never the network

from polyplatypus.errors import ConfigError  # noqa: E402
from tests.eval.generative_fixtures import lm_eval_reference, write_generative_tasks  # noqa: E402

MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-gptneox-lm"
TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SYSTEM = "당신은 상식 추론을 돕는 조수입니다."


@pytest.fixture(scope="module")
def folder(tmp_path_factory, kobest_dir) -> Path:
    return write_generative_tasks(tmp_path_factory.mktemp("generative-tasks"), kobest_dir)


@pytest.fixture(scope="module")
def chat_model_dir(tmp_path_factory) -> Path:
    """The trained tiny model with a chat template in its tokenizer_config.json."""
    folder = tmp_path_factory.mktemp("chat-model") / "tiny-chat"
    shutil.copytree(MODEL, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": TEMPLATE}), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def chat_model(chat_model_dir):
    from polyplatypus.models.loading import load_model

    return load_model(str(chat_model_dir), dtype="float32", device="cpu")


def ours(model, name, shots, limit, folder, **settings):
    """Requests built as eval builds them (EvalConfig's options), scored by our engine."""
    from polyplatypus.eval.config import EvalConfig
    from polyplatypus.eval.lm_eval_cells import score_lm_eval_cell
    from polyplatypus.tasks.lm_eval_tasks import build_cell, chat_template_of

    config = EvalConfig(models=["m"], tasks=[f"lm_eval:{name}"], shots=[shots], **settings)
    template = chat_template_of(model[1], "m") if config.apply_chat_template else None
    cell = build_cell(
        f"lm_eval:{name}", shots, limit=limit, include_path=[str(folder)], options=config.request_options(template)
    )
    return cell, *score_lm_eval_cell(model[0], model[1], cell)


def assert_same_requests_and_results(model, name, shots, limit, folder, lm_eval_options, settings):
    expected = lm_eval_reference(model, name, shots, limit, folder, **lm_eval_options)
    cell, record, samples, results = ours(model, name, shots, limit, folder, **settings)
    for task_name, logged in expected["samples"].items():
        mine = [s for s in samples if s["task"] == task_name]
        assert len(mine) == len(logged) > 0
        for theirs, got in zip(logged, mine):
            assert json.loads(json.dumps(got["arguments"])) == json.loads(json.dumps(theirs["arguments"]))
            assert got["prompt_hash"] == theirs["prompt_hash"]
            if "generation" in got:
                assert got["resps"] == theirs["resps"]
    assert results["results"] == expected["results"]
    return cell, samples


def test_generative_task_under_a_chat_template_with_multiturn_shots_is_lm_evals(chat_model, folder):
    cell, samples = assert_same_requests_and_results(
        chat_model,
        "copa_gen_local",
        2,
        5,
        folder,
        dict(apply_chat_template=True, system_instruction=SYSTEM),  # simple_evaluate: multiturn by default
        dict(apply_chat_template=True, system_instruction=SYSTEM),
    )
    prompt = samples[0]["prompt"]
    assert prompt.startswith(f"<|system|>\n{SYSTEM}") and prompt.count("<|assistant|>") == 3  # 2 shots + the question
    assert cell.options == {"apply_chat_template": True, "fewshot_as_multiturn": True, "system_instruction": SYSTEM}


def test_multiple_choice_under_a_chat_template_single_turn_has_lm_evals_empty_delimiter(chat_model, folder):
    cell, samples = assert_same_requests_and_results(
        chat_model,
        "copa_choice_local",
        1,
        4,
        folder,
        dict(apply_chat_template=True, fewshot_as_multiturn=False),
        dict(apply_chat_template=True, fewshot_as_multiturn=False),
    )
    assert samples[0]["prompt"].count("<|user|>") == 1  # the shot inside the one user turn
    assert not samples[0]["continuations"][0].startswith(" ")  # lm-eval's empty target_delimiter


def test_system_instruction_without_a_template_is_lm_evals(chat_model, folder):
    _, samples = assert_same_requests_and_results(
        chat_model, "copa_gen_local", 1, 3, folder, dict(system_instruction=SYSTEM), dict(system_instruction=SYSTEM)
    )
    assert samples[0]["prompt"].startswith(SYSTEM)


def test_multiturn_follows_the_template_flag_as_in_lm_eval():
    from polyplatypus.eval.config import EvalConfig

    base = dict(models=["m"], tasks=["lm_eval:x"], shots=[0])
    assert EvalConfig(**base, apply_chat_template=True).multiturn
    assert not EvalConfig(**base, apply_chat_template=True, fewshot_as_multiturn=False).multiturn
    assert not EvalConfig(**base).multiturn


def test_model_without_a_chat_template_is_refused_before_scoring(folder, monkeypatch):
    from polyplatypus.eval import runner

    monkeypatch.setattr(runner, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    with pytest.raises(
        ConfigError,
        match=r"tiny-gptneox-lm.*--apply-chat-template, but the tokenizer has no chat "
        r"template .*; leave out --apply-chat-template for a model without one",
    ):
        runner.evaluate(
            [str(MODEL)],
            ["lm_eval:copa_gen_local"],
            [0],
            include_path=[str(folder)],
            limit=2,
            device="cpu",
            progress=False,
            apply_chat_template=True,
        )


def test_reference_tasks_refuse_lm_eval_options(monkeypatch):
    from polyplatypus.eval import runner

    with pytest.raises(
        ConfigError,
        match=r"--apply-chat-template, --system-instruction apply to lm_eval: tasks "
        r"only; kobest_copa",
    ):
        runner.evaluate(
            [str(MODEL)],
            ["kobest_copa"],
            [0],
            limit=2,
            device="cpu",
            progress=False,
            apply_chat_template=True,
            system_instruction="x",
        )


def test_chat_flags_parse_from_the_command_line(tmp_path):
    from polyplatypus.cli import build_parser
    from polyplatypus.eval.config import EvalConfig

    args = build_parser().parse_args(
        [
            "eval",
            "--model",
            "m",
            "--tasks",
            "lm_eval:x",
            "--apply-chat-template",
            "--no-fewshot-as-multiturn",
            "--system-instruction",
            SYSTEM,
            "--gen-kwargs",
            "max_gen_toks=32,temperature=0",
        ]
    )
    config = EvalConfig.from_args(args)
    assert config.apply_chat_template and not config.multiturn and config.system_instruction == SYSTEM
    assert config.request_options().gen_kwargs == {"max_gen_toks": 32, "temperature": 0}
    yaml_file = tmp_path / "eval.yaml"
    yaml_file.write_text("models: [m]\ntasks: [lm_eval:x]\ngen_kwargs: 'until=Q:'\napply_chat_template: yes\n")
    assert EvalConfig.load(yaml_file).multiturn
    # --fewshot-as-multiturn without a template did nothing; lm-eval refuses it (its EvaluatorConfig)
    with pytest.raises(ConfigError, match="fewshot_as_multiturn puts the few-shot examples in chat turns"):
        EvalConfig.build(caller="evaluate()", models=["m"], tasks=["lm_eval:x"], fewshot_as_multiturn=True)
    assert not EvalConfig(models=["m"], tasks=["lm_eval:x"], fewshot_as_multiturn=False).multiturn
    for bad, message in (("max_gen_toks=many", "max_gen_toks must be a positive integer"), ("=x", "no key")):
        with pytest.raises(ConfigError, match=message):
            EvalConfig.build(caller="evaluate()", models=["m"], tasks=["lm_eval:x"], gen_kwargs=bad)
