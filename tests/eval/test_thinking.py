"""Thinking models, as lm-eval 0.4.13's ``HFLM`` model arguments: ``--think-end-token`` (text or
token id), ``--enable-thinking`` and ``--chat-template-args``.

The reference is lm-eval's own ``simple_evaluate`` with ``HFLM(batch_size=1, think_end_token=...,
enable_thinking=..., chat_template_args=...)``, on the briefly trained tiny model
(tests/fixtures/tiny-gptneox-gen) with a chat template that uses ``enable_thinking`` and an extra
argument. The model writes "\\n문: 거미는 ... 되었다.\\n문: ..." after a COPA prompt, so "다." and
the token ":" stand for think-end markers it really emits. hf's order: generation stops at the first
stop string wherever it appears (thinking included); the answer is then the text after the last
think-end marker, cut at the first stop string.
"""

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

MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-gptneox-gen"
TASK = "copa_gen_local"
LIMIT = 6
TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% if persona %}{{ persona }} {% endif %}"
    "{% if enable_thinking %}생각:{% endif %}{% endif %}"
)
PERSONA = "조수:"


@pytest.fixture(scope="module")
def folder(tmp_path_factory, kobest_dir) -> Path:
    return write_generative_tasks(tmp_path_factory.mktemp("thinking-tasks"), kobest_dir)


@pytest.fixture(scope="module")
def chat_model_dir(tmp_path_factory) -> Path:
    """The trained tiny generation model with TEMPLATE as its chat template."""
    target = tmp_path_factory.mktemp("thinking-model") / "tiny-thinking"
    shutil.copytree(MODEL, target)
    config = json.loads((target / "tokenizer_config.json").read_text(encoding="utf-8"))
    (target / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": TEMPLATE}), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def chat_model(chat_model_dir):
    from polyplatypus.models.loading import load_model

    return load_model(str(chat_model_dir), dtype="float32", device="cpu")


@pytest.fixture(scope="module")
def colon_id(chat_model) -> int:
    (token,) = chat_model[1].encode(":", add_special_tokens=False)
    return token


def ours(model_dir, folder, output, *, task=TASK, batch_size=1, **settings):
    """``polyplatypus eval``'s run (the Python API: the flags' settings), its record and samples."""
    from polyplatypus.eval.runner import evaluate

    (record,) = evaluate(
        [f"m={model_dir}"],
        [f"lm_eval:{task}"],
        [1],
        include_path=[str(folder)],
        limit=LIMIT,
        device="cpu",
        dtype="float32",
        progress=False,
        output=str(output),
        log_samples=True,
        batch_size=batch_size,
        apply_chat_template=True,
        **settings,
    )
    samples = Path(output) / "samples" / "m" / f"lm_eval-{task}_1shot.jsonl"
    return record, [json.loads(line) for line in samples.read_text(encoding="utf-8").splitlines()]


def assert_as_lm_eval(
    chat_model, chat_model_dir, folder, output, model_args, settings, *, gen_kwargs=None, batch_size=1
):
    expected = lm_eval_reference(
        chat_model, TASK, 1, LIMIT, folder, model_args=model_args, apply_chat_template=True, gen_kwargs=gen_kwargs
    )
    record, samples = ours(chat_model_dir, folder, output, batch_size=batch_size, gen_kwargs=gen_kwargs, **settings)
    logged = expected["samples"][TASK]
    assert len(samples) == len(logged) == LIMIT
    for theirs, mine in zip(logged, samples):
        assert mine["arguments"] == json.loads(json.dumps(theirs["arguments"]))
        assert mine["resps"] == theirs["resps"] and mine["filtered_resps"] == theirs["filtered_resps"]
        assert mine["metrics"] == {k: theirs[k] for k in mine["metrics"]}
    assert record["metrics"]["exact_match"] == expected["results"][TASK]["exact_match,none"]
    assert record["model_args"] == {k: v for k, v in model_args.items() if k != "think_end_token"} | {
        "think_end_token": settings["think_end_token"]
    }
    return samples


def test_string_think_end_token_as_lm_eval(chat_model, chat_model_dir, folder, tmp_path):
    samples = assert_as_lm_eval(
        chat_model,
        chat_model_dir,
        folder,
        tmp_path,
        {"think_end_token": "다."},
        {"think_end_token": "다."},
        batch_size=4,
    )
    # the model wrote the marker: the answers are what follows it
    stripped = [s for s in samples if "다." in s["generation"]]
    assert stripped and all(s["resps"][0][0] == s["generation"].split("다.")[-1].lstrip() for s in stripped)


def test_integer_think_end_token_as_lm_eval(chat_model, chat_model_dir, folder, tmp_path, colon_id):
    # given as digits, as on the command line; lm-eval's HFLM takes the int
    samples = assert_as_lm_eval(
        chat_model, chat_model_dir, folder, tmp_path, {"think_end_token": colon_id}, {"think_end_token": str(colon_id)}
    )
    assert any(":" in s["generation"] and ":" not in s["resps"][0][0] for s in samples)


def test_enable_thinking_and_template_args_as_lm_eval(chat_model, chat_model_dir, folder, tmp_path):
    args = {"think_end_token": "다.", "enable_thinking": True, "chat_template_args": {"persona": PERSONA}}
    samples = assert_as_lm_eval(chat_model, chat_model_dir, folder, tmp_path, args, args, batch_size=4)
    assert all(s["prompt"].endswith(f"<|assistant|>\n{PERSONA} 생각:") for s in samples)


def test_a_stop_string_inside_the_thinking_ends_generation_as_in_hf(chat_model, chat_model_dir, folder, tmp_path):
    """hf (batch 1) stops generating at "거미", inside the thinking, before any "다." is written;
    stripping comes first but finds no marker, so the answer is the thinking cut at the stop string."""
    samples = assert_as_lm_eval(
        chat_model,
        chat_model_dir,
        folder,
        tmp_path,
        {"think_end_token": "다."},
        {"think_end_token": "다."},
        gen_kwargs="until=거미",
        batch_size=4,
    )
    inside = [s for s in samples if s["stop_reason"] == "stop" and "다." not in s["generation"]]
    assert inside
    for sample in inside:
        assert sample["generation"].endswith("거미")
        assert sample["resps"][0][0] == sample["generation"].lstrip().split("거미")[0]


def test_hf_strips_before_cutting_and_its_batch_one_stops_inside_the_thinking():
    """Where the order shows: hf at batch 4 lets a row that wrote the stop string "거북" run on
    until the batch stops, writes the marker "응답:" after it, and the answer is what follows the
    marker (stripped first, then cut); at batch 1 the row stops at "거북", inside the thinking. Our
    engine gives the batch-1 answers at batch 4."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from polyplatypus.eval.lm_eval_engine import SharedContextLM

    kwargs = {"until": ["거북"], "max_gen_toks": 24}
    contexts = [
        "<|user|>\n비가 와서 땅이 젖었다. 원인:\n<|assistant|>\n",
        "오늘은 날씨가",
        "영화가 정말",
        "<|assistant|>\n",
    ]
    requests = [Instance("generate_until", {}, (context, kwargs), i) for i, context in enumerate(contexts)]

    def answers(engine, batch_size):
        lm = engine(
            pretrained=str(MODEL), batch_size=batch_size, dtype="float32", device="cpu", think_end_token="응답:"
        )
        return lm, lm.generate_until(requests, disable_tqdm=True)

    _, batch_one = answers(HFLM, 1)
    _, batch_four = answers(HFLM, 4)
    lm, mine = answers(SharedContextLM, 4)
    assert mine == batch_one
    stopped_inside = [
        i for i, r in enumerate(lm.last_generated) if r.stop_reason == "stop" and "응답:" not in r.generation
    ]
    assert stopped_inside and all(
        batch_one[i] == lm.last_generated[i].generation.lstrip().split("거북")[0] for i in stopped_inside
    )
    assert all(batch_four[i] == "예" for i in stopped_inside)  # after the marker that batch 4 reached


# --- what is refused, before any model loads, as lm-eval refuses it -----------------------------


@pytest.fixture()
def no_model_load(monkeypatch):
    from polyplatypus.eval import runner

    monkeypatch.setattr(runner, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    return runner


def test_enable_thinking_without_think_end_token_is_refused_as_hf_refuses_it(chat_model, no_model_load):
    from lm_eval.models.huggingface import HFLM

    with pytest.raises(ValueError, match="think_end_token is required"):
        HFLM(pretrained=chat_model[0], tokenizer=chat_model[1], enable_thinking=True)
    with pytest.raises(ConfigError, match=r"enable_thinking: enable_thinking needs think_end_token"):
        no_model_load.evaluate(["m"], ["lm_eval:x"], [0], apply_chat_template=True, enable_thinking=True)
    # turned off, it needs no marker (lm-eval accepts it too)
    HFLM(pretrained=chat_model[0], tokenizer=chat_model[1], enable_thinking=False)


def test_enable_thinking_on_a_multiple_choice_task_is_refused_before_the_model_loads(
    chat_model, chat_model_dir, folder, no_model_load
):
    from lm_eval.api.instance import Instance

    from polyplatypus.eval.lm_eval_engine import SharedContextLM

    # lm-eval refuses loglikelihood requests under enable_thinking=True (our engine inherits it) ...
    lm = SharedContextLM(pretrained=chat_model[0], tokenizer=chat_model[1], think_end_token="다.", enable_thinking=True)
    with pytest.raises(ValueError, match="enable_thinking=True is not compatible with loglikelihood tasks"):
        lm.loglikelihood([Instance("loglikelihood", {}, ("a", " b"), 0, task_name="t")])
    # ... and eval refuses it when the requests are built, naming the task, also inside a group
    for task in ("copa_choice_local", "copa_mixed_local"):
        with pytest.raises(ConfigError, match=r"enable_thinking applies to generative tasks only.*copa_choice_local"):
            no_model_load.evaluate(
                [str(chat_model_dir)],
                [f"lm_eval:{task}"],
                [0],
                include_path=[str(folder)],
                limit=2,
                progress=False,
                apply_chat_template=True,
                think_end_token="다.",
                enable_thinking=True,
            )


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"enable_thinking": False}, "enable_thinking is passed to the chat template: give apply_chat_template"),
        ({"chat_template_args": "persona=x"}, "chat_template_args is passed to the chat template"),
        ({"think_end_token": ""}, "give the text that ends the thinking"),
        ({"think_end_token": -3}, "a token id is a number >= 0"),
        ({"apply_chat_template": True, "chat_template_args": '{"persona": x}'}, "not a valid JSON object"),
        ({"apply_chat_template": True, "chat_template_args": "add_generation_prompt=false"}, "set by lm-eval itself"),
        ({"apply_chat_template": True, "chat_template_args": "enable_thinking=true"}, "give --enable-thinking"),
        ({"apply_chat_template": True, "chat_template_args": "[1, 2]"}, "KEY=VALUE"),
        ({"apply_chat_template": True, "chat_template_args": [1, 2]}, "KEY=VALUE,... or a JSON object, got list"),
    ],
)
def test_bad_thinking_settings_are_refused_by_name(settings, message):
    from polyplatypus.eval.config import EvalConfig

    with pytest.raises(ConfigError, match=rf"evaluate\(\): \w+: .*{message}"):
        EvalConfig.build(caller="evaluate()", models=["m"], tasks=["lm_eval:x"], **settings)


def test_reference_tasks_refuse_the_thinking_options(no_model_load):
    with pytest.raises(ConfigError, match=r"--think-end-token apply to lm_eval: tasks only; kobest_copa"):
        no_model_load.evaluate([str(MODEL)], ["kobest_copa"], [0], limit=2, progress=False, think_end_token="다.")


# --- how they are given ---------------------------------------------------------------------


def test_flags_and_config_keys(tmp_path):
    from polyplatypus.cli import build_parser
    from polyplatypus.eval.config import EvalConfig

    base = ["eval", "--model", "m", "--tasks", "lm_eval:x", "--apply-chat-template"]
    parse = build_parser().parse_args

    config = EvalConfig.from_args(
        parse(base + ["--think-end-token", "151668", "--no-enable-thinking", "--chat-template-args", "a=1,b=true,c=x"])
    )
    assert (config.think_end_token, config.enable_thinking) == ("151668", False)
    assert config.chat_template_args == {"a": 1, "b": True, "c": "x"}
    assert config.template_args == {"a": 1, "b": True, "c": "x", "enable_thinking": False}
    options = config.request_options()
    assert options.model_args() == {
        "think_end_token": "151668",
        "enable_thinking": False,
        "chat_template_args": {"a": 1, "b": True, "c": "x"},
    }
    nested = EvalConfig.from_args(
        parse(
            base + ["--think-end-token", "</think>", "--enable-thinking", "--chat-template-args", '{"a": {"b": [1]}}']
        )
    )
    assert (nested.think_end_token, nested.enable_thinking, nested.chat_template_args) == (
        "</think>",
        True,
        {"a": {"b": [1]}},
    )
    unset = EvalConfig.from_args(parse(base))
    assert (unset.think_end_token, unset.enable_thinking, unset.chat_template_args, unset.template_args) == (
        None,
        None,
        None,
        {},
    )
    assert unset.request_options().model_args() == {}
    yaml_file = tmp_path / "eval.yaml"
    yaml_file.write_text(
        "models: [m]\ntasks: [lm_eval:x]\napply_chat_template: true\nthink_end_token: 151668\n"
        "enable_thinking: true\nchat_template_args: {reasoning_effort: low}\n",
        encoding="utf-8",
    )
    from_file = EvalConfig.load(yaml_file)
    assert from_file.think_end_token == "151668"  # a YAML integer: the token id, as digits (HFLM's form)
    assert from_file.template_args == {"reasoning_effort": "low", "enable_thinking": True}


@pytest.mark.parametrize(
    "chat_template_args, enable_thinking",
    [(None, None), ({"a": 1}, None), (None, True), ({"a": 1}, False), ({"a": 1, "b": "x"}, True)],
)
def test_template_arguments_merge_as_hflm_merges_them(chat_model, chat_template_args, enable_thinking):
    from lm_eval.models.huggingface import HFLM

    from polyplatypus.tasks.lm_eval_tasks import template_kwargs

    lm = HFLM(
        pretrained=chat_model[0],
        tokenizer=chat_model[1],
        think_end_token="다.",
        enable_thinking=enable_thinking,
        chat_template_args=chat_template_args,
    )
    assert template_kwargs(chat_template_args, enable_thinking) == lm.chat_template_args


# --- part of the cell's key -------------------------------------------------------------------


def test_each_option_is_part_of_the_cell_key_and_named_when_it_changes(chat_model_dir, folder, tmp_path, capsys):
    from polyplatypus.eval.config import EvalConfig
    from polyplatypus.eval.runner import plan
    from polyplatypus.tasks.lm_eval_tasks import KEY_PARTS, changed_parts

    def cell(**options):
        grid = plan(
            EvalConfig(
                models=[str(chat_model_dir)],
                tasks=[f"lm_eval:{TASK}"],
                shots=[0],
                limit=2,
                include_path=[str(folder)],
                apply_chat_template=True,
                **options,
            )
        )
        return grid.key(grid.specs[0], grid.tasks[0], 0), grid.lm_eval_cell(grid.specs[0], grid.tasks[0], 0)

    plain_key, plain = cell()
    assert "model_args" not in plain.fingerprint_parts  # cells made without them keep their key
    named = KEY_PARTS["model_args"]
    for options in (
        {"think_end_token": "다."},
        {"think_end_token": "7"},
        {"think_end_token": "다.", "enable_thinking": False},
        {"chat_template_args": {"persona": PERSONA}},
    ):
        key, changed = cell(**options)
        assert key["fingerprint"] != plain_key["fingerprint"], options
        assert named in changed_parts(plain.fingerprint_parts, changed.fingerprint_parts)
    # a token id as YAML writes it and as the command line writes it: one key
    assert cell(think_end_token=7)[0] == cell(think_end_token="7")[0]
    # a run whose think-end token changed recomputes the stored cell, and says why
    ours(chat_model_dir, folder, tmp_path / "out", think_end_token="다.")
    capsys.readouterr()
    ours(chat_model_dir, folder, tmp_path / "out", think_end_token=":")
    err = capsys.readouterr().err
    assert f"lm_eval:{TASK} 1-shot of model m: {named} changed since it was stored: recomputing it" in err


# --- generate --prompts: the same options, where the prompts go through the chat template ----------


def test_generate_prompts_with_thinking_options_answers_as_hflm(chat_model, chat_model_dir, tmp_path):
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from polyplatypus.cli import main
    from polyplatypus.eval.prompt_file import generation_kwargs

    # the first is answered at length, with a "(긍정)" (the marker here) inside; the others by "예"
    instructions = ["전원이 켜지지 않았다. 원인:", "거미는 곤충인가요?", "오늘은 날씨가 좋다."]
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"instruction": i}, ensure_ascii=False) + "\n" for i in instructions))
    out = tmp_path / "answers.jsonl"
    argv = ["generate", "--model", str(chat_model_dir), "--prompts", str(prompts), "--output", str(out)]
    argv += ["--chat-template", "--max-new-tokens", "24", "--batch-size", "3", "--think-end-token", "(긍정)"]
    assert main(argv + ["--enable-thinking", "--chat-template-args", f"persona={PERSONA}"]) == 0
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]

    hf = HFLM(
        pretrained=chat_model[0],
        tokenizer=chat_model[1],
        batch_size=1,
        think_end_token="(긍정)",
        enable_thinking=True,
        chat_template_args={"persona": PERSONA},
    )
    texts = [hf.apply_chat_template([{"role": "user", "content": i}]) for i in instructions]
    kwargs = generation_kwargs(24, 0.0, 1.0, 1.0)
    requests = [Instance("generate_until", {}, (text, dict(kwargs)), n) for n, text in enumerate(texts)]
    assert [line["prompt"] for line in lines] == texts and all(t.endswith(f"{PERSONA} 생각:") for t in texts)
    assert [line["response"] for line in lines] == [a.strip() for a in hf.generate_until(requests, disable_tqdm=True)]
    assert (
        "(긍정)" in lines[0]["generation"]
        and lines[0]["response"] == lines[0]["generation"].split("(긍정)")[-1].strip()
    )


@pytest.mark.parametrize(
    "thinking, row",
    [
        (
            ["--enable-thinking", "--chat-template-args", f"persona={PERSONA}"],
            {"instruction": "전원이 켜지지 않았다. 원인:"},
        ),
        (["--no-enable-thinking"], {"instruction": "다음 문장의 원인은?", "input": "전원이 켜지지 않았다."}),
    ],
    ids=["thinking", "not-thinking-with-input"],
)
def test_generate_instruction_with_the_chat_template_prints_what_prompts_answers(
    chat_model_dir, tmp_path, capsys, thinking, row
):
    """``generate --instruction X --chat-template`` (and the thinking options, --input) prints the
    response line that ``--prompts`` writes for a file holding that one prompt: one engine, one
    chat prompt, one stripping of the thinking."""
    from polyplatypus.cli import main

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    out = tmp_path / "answers.jsonl"
    command = ["generate", "--model", str(chat_model_dir)]
    options = ["--chat-template", "--max-new-tokens", "24", "--think-end-token", "(긍정)", *thinking]
    assert main([*command, "--prompts", str(prompts), "--output", str(out), *options]) == 0
    (line,) = [json.loads(text) for text in out.read_text(encoding="utf-8").splitlines()]
    capsys.readouterr()
    given = ["--instruction", row["instruction"], *(["--input", row["input"]] if "input" in row else [])]
    assert main([*command, *given, *options]) == 0
    assert capsys.readouterr().out == line["response"] + "\n"
    if "input" in row:  # appended to the user turn, as a prompt line's input
        assert f"{row['instruction']}\n\n{row['input']}\n<|assistant|>\n" in line["prompt"]
    else:  # the thinking was there, and is left out of what is printed
        assert line["prompt"].endswith(f"{PERSONA} 생각:")
        assert "(긍정)" in line["generation"] and line["response"] == line["generation"].split("(긍정)")[-1].strip()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--enable-thinking", "--think-end-token", "다."], "passed to the chat template: give --chat-template"),
        (["--chat-template", "--enable-thinking"], "--enable-thinking needs --think-end-token"),
        (["--chat-template", "--system-prompt", "s"], "--system-prompt goes with --prompt-template chat"),
    ],
)
def test_generate_refuses_thinking_options_that_would_do_nothing(tmp_path, capsys, extra, message):
    from polyplatypus.cli import main

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"instruction": "x"}\n', encoding="utf-8")
    argv = ["generate", "--model", str(MODEL), "--prompts", str(prompts), "--output", str(tmp_path / "o.jsonl")]
    assert main(argv + extra) == 2
    assert message in capsys.readouterr().err
    assert main(["generate", "--model", str(MODEL), "--instruction", "x", *extra]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--think-end-token", "다."], "--think-end-token with --instruction needs --chat-template"),
        (["--chat-template", "--batch-size", "2"], "--batch-size applies to --prompts"),
    ],
)
def test_generate_instruction_refuses_what_needs_a_prompt_file_or_the_chat_template(capsys, extra, message):
    from polyplatypus.cli import main

    assert main(["generate", "--model", str(MODEL), "--instruction", "x", *extra]) == 2
    assert message in capsys.readouterr().err
