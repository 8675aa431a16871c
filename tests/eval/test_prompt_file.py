"""``generate --prompts FILE.jsonl --output FILE.jsonl``: every prompt answered by the evaluation's
generation engine, the same text as ``generate --instruction`` gives one at a time (greedy, the
trained template), resumable after a kill, a bad line named before the model loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polyplatypus.cli import main
from polyplatypus.errors import DataError

pytest.importorskip("lm_eval")

MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-gptneox-lm"
PROMPTS = [
    {"instruction": "한국의 수도는 어디인가요?"},
    {"instruction": "다음 문장을 요약하세요.", "input": "비가 와서 길이 젖었다.", "id": "b"},
    {"prompt": "이퀄라이저로 저음 음역대 소리 크기를 키웠다. 결과:"},
    {"instruction": "좋아하는 계절은?"},
]


def write_prompts(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def answers(path: Path) -> list[tuple]:
    """What a response file answers (the engine's own records, e.g. its stop reason, left aside:
    the stand-in engine below has none)."""
    return [(line["index"], line["prompt"], line["response"]) for line in read(path)]


def test_prompt_file_answers_as_generate_does_one_at_a_time(tmp_path):
    from polyplatypus.train.generate import generate

    prompts = write_prompts(tmp_path / "prompts.jsonl", PROMPTS)
    out = tmp_path / "answers.jsonl"
    assert (
        main(
            [
                "generate",
                "--model",
                str(MODEL),
                "--prompts",
                str(prompts),
                "--output",
                str(out),
                "--max-new-tokens",
                "12",
                "--batch-size",
                "1",
            ]
        )
        == 0
    )
    lines = read(out)
    assert [line["index"] for line in lines] == [1, 2, 3, 4] and lines[1]["id"] == "b"
    for row, line in zip(PROMPTS[:2], lines[:2]):
        assert line["response"] == generate(str(MODEL), row["instruction"], row.get("input", ""), max_new_tokens=12)
    assert lines[2]["prompt"] == PROMPTS[2]["prompt"]


def test_prompt_file_resumes_and_skips_answered_prompts(tmp_path, monkeypatch, capsys):
    """Killed at the third prompt by an engine that reports each as it finishes (the contract of
    ``on_generated``): the re-run generates only the two prompts left, and the file equals an
    uninterrupted run's."""
    from lm_eval.models.huggingface import HFLM

    from polyplatypus.eval.lm_eval_engine import SharedContextLM

    prompts = write_prompts(tmp_path / "prompts.jsonl", PROMPTS)
    whole, out = tmp_path / "whole.jsonl", tmp_path / "answers.jsonl"
    argv = ["generate", "--model", str(MODEL), "--prompts", str(prompts), "--max-new-tokens", "8"]
    assert main(argv + ["--output", str(whole)]) == 0
    asked = []

    def reporting(self, requests, disable_tqdm=False, die_at=None):
        texts = []
        for number, request in enumerate(requests):
            if number == die_at:
                raise KeyboardInterrupt
            asked.append(request)
            texts += HFLM.generate_until(self, [request], disable_tqdm=True)
            self.on_generated(number, texts[-1])
        return texts

    monkeypatch.setattr(
        SharedContextLM, "generate_until", lambda self, r, disable_tqdm=False: reporting(self, r, die_at=2)
    )
    assert main(argv + ["--output", str(out)]) == 130
    with open(out, "a", encoding="utf-8") as handle:
        handle.write('{"index": 3, "resp')  # a line cut short by the kill
    kept = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()[:2]]
    assert [(k["index"], k["prompt"], k["response"]) for k in kept] == answers(whole)[:2]
    monkeypatch.setattr(SharedContextLM, "generate_until", reporting)
    asked.clear()
    capsys.readouterr()
    assert main(argv + ["--output", str(out)]) == 0
    assert len(asked) == 2 and answers(out) == answers(whole)
    assert "already holds the responses to 2 of the 4 prompts: generating the other 2" in capsys.readouterr().err


def test_a_rerun_refuses_kept_responses_to_other_prompts(tmp_path, capsys):
    """A re-run keeps the responses in --output only when each was made for the prompt it now sends:
    an edited prompt line, a prompt file that lost lines, or --chat-template (here on a model with no
    chat template) are refused, naming the line and what to do, and the output is left as it was
    (a re-run used to print "4 response(s) written" and keep the old responses)."""
    prompts = write_prompts(tmp_path / "prompts.jsonl", PROMPTS)
    out = tmp_path / "answers.jsonl"
    argv = ["generate", "--model", str(MODEL), "--prompts", str(prompts), "--output", str(out), "--max-new-tokens", "4"]
    assert main(argv) == 0
    before = out.read_bytes()
    capsys.readouterr()
    assert main(argv) == 0  # everything answered: nothing to generate, and it says so
    assert "already holds the responses to 4 of the 4 prompts: generating the other 0" in capsys.readouterr().err
    write_prompts(prompts, [{"instruction": "다른 질문"}, *PROMPTS[1:]])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "response to prompt line 1 made from another prompt than this run sends" in err
    assert "give another --output, or delete" in err
    write_prompts(prompts, PROMPTS[:3])
    assert main(argv) == 2
    assert "prompt line 4, which the prompt file does not have" in capsys.readouterr().err
    write_prompts(prompts, PROMPTS)
    assert main(argv + ["--chat-template"]) == 2
    err = capsys.readouterr().err
    assert "tokenizer has no chat template" in err and "leave out --chat-template" in err
    assert out.read_bytes() == before


def test_a_rerun_refuses_kept_responses_made_with_other_settings(tmp_path, capsys, monkeypatch):
    """Each response line records the model and the settings that decided its text; a re-run with
    another --max-new-tokens, --near-ties or model is refused, naming what changed, and the output
    is left as it was; the same settings (the model named by another path to the same folder) keep
    every line."""
    import shutil

    prompts = write_prompts(tmp_path / "prompts.jsonl", PROMPTS)
    out = tmp_path / "answers.jsonl"
    argv = ["generate", "--prompts", str(prompts), "--output", str(out)]
    assert main([*argv, "--model", str(MODEL), "--max-new-tokens", "4"]) == 0
    made_with = read(out)[0]["made_with"]
    assert made_with["model"] == str(MODEL.resolve()) and made_with["max_new_tokens"] == 4
    assert made_with["near_ties"] == "redecide" and made_with["dtype"] == "float32"
    before = out.read_bytes()
    capsys.readouterr()
    assert main([*argv, "--model", str(MODEL), "--max-new-tokens", "8"]) == 2
    err = capsys.readouterr().err
    assert "made with other settings (max_new_tokens 4 -> 8)" in err and "give another --output" in err
    assert main([*argv, "--model", str(MODEL), "--max-new-tokens", "4", "--near-ties", "keep"]) == 2
    assert "near_ties 'redecide' -> 'keep'" in capsys.readouterr().err
    other = shutil.copytree(MODEL, tmp_path / "other-model")
    assert main([*argv, "--model", str(other), "--max-new-tokens", "4"]) == 2
    assert f"model {str(MODEL.resolve())!r} -> {str(other)!r}" in capsys.readouterr().err
    assert out.read_bytes() == before
    monkeypatch.chdir(MODEL.parent / "tiny-gptneox")  # the same model as ../tiny-gptneox-lm from there
    assert main([*argv, "--model", str(Path("..") / MODEL.name), "--max-new-tokens", "4"]) == 0
    assert "generating the other 0" in capsys.readouterr().err and out.read_bytes() == before


def test_a_bad_prompt_line_is_named_before_the_model_loads(tmp_path, capsys):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"instruction": "좋아"}\n{"input": "x"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"prompts\.jsonl, record 2, field 'instruction'"):
        from polyplatypus.eval.prompt_file import read_prompts

        read_prompts(prompts)
    assert (
        main(
            [
                "generate",
                "--model",
                str(tmp_path / "no-model"),
                "--prompts",
                str(prompts),
                "--output",
                str(tmp_path / "o.jsonl"),
            ]
        )
        == 2
    )
    assert "record 2, field 'instruction'" in capsys.readouterr().err


def test_a_prompt_line_with_its_own_index_is_refused_before_the_model_loads(tmp_path, capsys):
    """'index' is the key responses are written under (the line number): a line of its own with one
    (a string here) made a re-run drop every kept answer, and duplicate ones collapsed them."""
    prompts = write_prompts(tmp_path / "prompts.jsonl", [PROMPTS[0], {**PROMPTS[3], "index": "q4"}])
    out = tmp_path / "o.jsonl"
    argv = ["generate", "--model", str(tmp_path / "no-model"), "--prompts", str(prompts), "--output", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "record 2, field 'index'" in err and "rename it" in err and not out.exists()


def test_instruction_and_prompts_exclude_each_other(capsys):
    assert main(["generate", "--model", "m", "--instruction", "x", "--prompts", "p.jsonl", "--output", "o"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["generate", "--model", "m"]) == 2  # neither: what to give, not "not both"
    err = capsys.readouterr().err
    assert "give --instruction TEXT (one answer) or --prompts FILE.jsonl --output FILE.jsonl" in err
    assert "not both" not in err


CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def with_chat_template(tmp_path: Path, trained: dict | None = None) -> Path:
    """MODEL copied with CHAT_TEMPLATE as its tokenizer's chat template; ``trained``: what train /
    merge record in polyplatypus.json (the template and system prompt trained with)."""
    import shutil

    folder = tmp_path / "tiny-chat"
    shutil.copytree(MODEL, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["chat_template"] = CHAT_TEMPLATE
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    if trained is not None:
        (folder / "polyplatypus.json").write_text(json.dumps(trained, ensure_ascii=False), encoding="utf-8")
    return folder


def no_model_loading(monkeypatch):
    """Every path of ``generate`` loads its model through ``load_for_generation``: made to fail the test."""
    import importlib

    loading = importlib.import_module("polyplatypus.train.generate")  # the module (the package exports a function)
    monkeypatch.setattr(loading, "load_for_generation", lambda *a, **k: pytest.fail("the model was loaded"))


@pytest.mark.parametrize(
    "mode, refused",
    [
        (["--prompts", "PROMPTS", "--output", "OUT"], "generate --prompts runs in one process, not 2"),
        (["--instruction", "x"], "generate --instruction runs in one process, not 2"),
        (["--instruction", "x", "--chat-template"], "generate --instruction runs in one process, not 2"),
    ],
    ids=["prompts", "instruction", "instruction-chat-template"],
)
def test_generate_under_several_processes_is_refused_before_the_model_loads(
    tmp_path, monkeypatch, capsys, mode, refused
):
    """Under torchrun every process would answer every prompt into the one output file, or load the
    model and print the answer once per process (``--instruction``, with or without --chat-template)."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    no_model_loading(monkeypatch)
    prompts = write_prompts(tmp_path / "prompts.jsonl", PROMPTS)
    out = tmp_path / "answers.jsonl"
    mode = [{"PROMPTS": str(prompts), "OUT": str(out)}.get(word, word) for word in mode]
    assert main(["generate", "--model", str(MODEL), *mode]) == 2
    err = capsys.readouterr().err
    assert refused in err and "run it without a launcher" in err
    assert not out.exists()


@pytest.mark.slow  # two extra Python processes, refused before any model loads
def test_generate_instruction_under_torchrun_prints_no_answer_per_process(tmp_path):
    """Two real processes (torchrun): a process refuses (exit 2) before loading the model, and no
    answer is printed (before, each process loaded the model to answer: once per process; on two
    CPU processes the run hung)."""
    import os
    import subprocess
    import sys

    chat_model = with_chat_template(tmp_path)  # so that the run before the fix answered
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1"]
    command += ["--master_port", "0", "-m", "polyplatypus", "generate", "--model", str(chat_model)]
    command += ["--instruction", "한국의 수도는 어디인가요?", "--chat-template", "--max-new-tokens", "4"]
    offline = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    launch = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **offline}
    )
    try:
        out, err = launch.communicate(timeout=120)
    except subprocess.TimeoutExpired:  # a hang (two CPU processes, before the fix)
        launch.terminate()  # torchrun stops its workers on SIGTERM (they run in sessions of their own)
        launch.communicate(timeout=60)
        pytest.fail("generate under torchrun did not stop")
    assert launch.returncode != 0 and "exitcode  : 2" in err, err[-4000:]
    # torchrun stops the other process once one fails, which may be before it says why: once or twice
    assert "polyplatypus generate: error: generate --instruction runs in one process, not 2" in err
    assert out.strip() == ""


@pytest.mark.parametrize("template", ["alpaca", "chat"])
@pytest.mark.parametrize("mode", [["--instruction", "x"], ["--prompts", "PROMPTS", "--output", "OUT"]])
def test_a_prompt_template_with_the_chat_template_is_refused_before_the_model_loads(
    tmp_path, monkeypatch, capsys, template, mode
):
    """--chat-template puts each instruction in the tokenizer's chat template: a --prompt-template
    given beside it would go unused (it did, silently). Refused first, even for a model that is not
    there; not given, the trained template is no refusal (the chat-template runs of test_thinking.py)."""
    no_model_loading(monkeypatch)
    prompts = write_prompts(tmp_path / "prompts.jsonl", PROMPTS)
    out = tmp_path / "answers.jsonl"
    mode = [{"PROMPTS": str(prompts), "OUT": str(out)}.get(word, word) for word in mode]
    command = ["generate", "--model", str(tmp_path / "no-such-model"), *mode]
    assert main([*command, "--chat-template", "--prompt-template", template]) == 2
    err = capsys.readouterr().err
    assert "give --prompt-template or --chat-template, not both" in err and "Traceback" not in err
    assert "--prompt-template NAME puts the instruction(s) in that prompt template" in err
    assert "--chat-template puts each in the tokenizer's chat template as the only (user) turn" in err
    assert not out.exists()


def test_the_settings_refuse_a_prompt_template_with_the_chat_template_only_when_given():
    """The settings object decides (flags, a mapping such as a YAML file's, the Python API alike):
    ``prompt_template`` unset (None, the trained one) goes with ``chat_template``; set, it does not."""
    from polyplatypus.errors import ConfigError
    from polyplatypus.train.config import GenerateConfig

    given = {"model": "m", "instruction": "x", "chat_template": True}
    assert GenerateConfig.from_mapping(given).prompt_template is None
    assert GenerateConfig.from_mapping({**given, "prompt_template": None}).chat_template
    with pytest.raises(ConfigError, match=r"settings\.yaml.*give --prompt-template or --chat-template, not both"):
        GenerateConfig.from_mapping({**given, "prompt_template": "korean"}, source="settings.yaml")
    assert GenerateConfig.from_mapping({**given, "chat_template": False, "prompt_template": "korean"})


def test_near_ties_keep_counts_them_per_response(tmp_path, monkeypatch, capsys):
    """--near-ties keep reaches the engine: each response line counts its steps near a tie taken from
    the batch (every step, with the near-tie test made to say so); --instruction refuses it."""
    from polyplatypus.eval import generation

    monkeypatch.setattr(generation, "logits_near_tie", lambda top, runner_up, dtype: True)
    prompts = write_prompts(tmp_path / "prompts.jsonl", PROMPTS)
    out = tmp_path / "answers.jsonl"
    command = ["generate", "--model", str(MODEL), "--prompts", str(prompts), "--output", str(out)]
    assert main([*command, "--max-new-tokens", "6", "--near-ties", "keep"]) == 0
    lines = read(out)
    assert len(lines) == 4 and all(line["near_ties_kept"] == line["n_tokens"] > 0 for line in lines)
    assert main(["generate", "--model", str(MODEL), "--instruction", "x", "--near-ties", "keep"]) == 2
    assert "--near-ties applies to --prompts" in capsys.readouterr().err


def test_sampling_with_the_engine_is_refused_before_the_model_loads(tmp_path, capsys):
    """The --prompts engine decodes greedily: --temperature above 0 is refused by the settings, with
    no model loaded and no output file made (it used to fail after loading, leaving an empty file)."""
    prompts = write_prompts(tmp_path / "prompts.jsonl", PROMPTS)
    out = tmp_path / "answers.jsonl"
    command = ["generate", "--model", str(tmp_path / "no-such-model"), "--temperature", "0.7"]
    assert main([*command, "--prompts", str(prompts), "--output", str(out)]) == 2
    assert main([*command, "--instruction", "x", "--chat-template"]) == 2
    err = capsys.readouterr().err
    assert err.count("--temperature above 0 samples") == 2 and not out.exists()


def test_mostly_redecided_prompts_point_at_near_ties_keep(tmp_path, monkeypatch, capsys):
    """Every step a near tie (as in half precision): the batch-1 path does most of the work, and
    generate says so, naming --near-ties keep; under keep it says nothing."""
    from polyplatypus.eval import generation

    monkeypatch.setattr(generation, "logits_near_tie", lambda top, runner_up, dtype: True)
    prompts = write_prompts(tmp_path / "prompts.jsonl", PROMPTS)
    command = ["generate", "--model", str(MODEL), "--prompts", str(prompts), "--max-new-tokens", "6"]
    assert main([*command, "--output", str(tmp_path / "exact.jsonl")]) == 0
    assert "--near-ties keep takes the batch's own token" in capsys.readouterr().err
    assert main([*command, "--output", str(tmp_path / "kept.jsonl"), "--near-ties", "keep"]) == 0
    assert "--near-ties keep" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "mode",
    [["--instruction", "x"], ["--instruction", "x", "--chat-template"], ["--prompts", "PROMPTS", "--output", "OUT"]],
)
def test_no_new_tokens_is_refused_before_the_model_loads(tmp_path, monkeypatch, capsys, mode):
    """--max-new-tokens 0 asks for no response: --instruction crashed in transformers' generate
    (traceback), --chat-template printed a one-token answer, and lm-eval's HFLM raises on
    max_gen_toks 0. The settings refuse it, with no model loaded and no output file made."""
    from polyplatypus.errors import ConfigError
    from polyplatypus.train.config import GenerateConfig

    no_model_loading(monkeypatch)
    out = tmp_path / "answers.jsonl"
    mode = [{"PROMPTS": str(write_prompts(tmp_path / "p.jsonl", PROMPTS)), "OUT": str(out)}.get(w, w) for w in mode]
    with pytest.raises(SystemExit) as exit:  # argparse's own exit for a flag's bad value
        main(["generate", "--model", str(tmp_path / "no-such-model"), *mode, "--max-new-tokens", "0"])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert "--max-new-tokens: Input should be greater than or equal to 1 (got '0')" in err and "Traceback" not in err
    assert not out.exists()
    with pytest.raises(ConfigError, match="max_new_tokens"):
        GenerateConfig.from_mapping({"model": "m", "instruction": "x", "max_new_tokens": 0})


def test_one_instruction_does_not_point_at_near_ties_keep(tmp_path, monkeypatch, capsys):
    """--instruction --chat-template is one prompt, no batch, and refuses --near-ties keep: it used to
    print the prompt file's hint naming that option."""
    from polyplatypus.eval import generation

    monkeypatch.setattr(generation, "logits_near_tie", lambda top, runner_up, dtype: True)
    model = with_chat_template(tmp_path)
    command = ["generate", "--model", str(model), "--instruction", PROMPTS[0]["instruction"], "--chat-template"]
    assert main([*command, "--max-new-tokens", "6"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() and "--near-ties keep" not in captured.err


SYSTEM_TRAINED = "당신은 도우미입니다."


@pytest.mark.parametrize("given", [[], ["--prompt-template", "chat", "--system-prompt", "짧게 답하세요."]])
def test_prompts_in_the_chat_prompt_template_answer_as_instruction_does(tmp_path, given):
    """The chat prompt template (the model's trained one, or given with --system-prompt): each line
    is put in the tokenizer's chat template after the system prompt, as --instruction puts it, and
    answered with --instruction's response (it crashed after the model loaded, leaving an empty file)."""
    from polyplatypus.train.generate import generate

    model = with_chat_template(tmp_path, trained={"prompt_template": "chat", "system_prompt": SYSTEM_TRAINED})
    rows = [PROMPTS[0], PROMPTS[1]]
    prompts, out = write_prompts(tmp_path / "prompts.jsonl", rows), tmp_path / "answers.jsonl"
    command = ["generate", "--model", str(model), "--prompts", str(prompts), "--output", str(out)]
    assert main([*command, *given, "--max-new-tokens", "12"]) == 0
    system = given[-1] if given else SYSTEM_TRAINED
    lines = read(out)
    assert lines[0]["prompt"] == f"<|system|>\n{system}\n<|user|>\n{rows[0]['instruction']}\n<|assistant|>\n"
    assert lines[1]["prompt"].endswith(f"<|user|>\n{rows[1]['instruction']}\n\n{rows[1]['input']}\n<|assistant|>\n")
    system_prompt = {"system_prompt": given[-1]} if given else {}
    for row, line in zip(rows, lines):
        answer = generate(str(model), row["instruction"], row.get("input", ""), max_new_tokens=12, **system_prompt)
        assert line["response"] == answer and answer
    before = out.read_bytes()
    assert main([*command, *given, "--max-new-tokens", "12"]) == 0  # a re-run keeps them: the same prompts
    assert out.read_bytes() == before


def test_a_run_failing_before_its_first_response_leaves_the_output_as_it_was(tmp_path, capsys):
    """The output is opened at the first response: a run refused after the model loaded (here
    --chat-template on a tokenizer without one) makes no file, and an existing one keeps its bytes."""
    prompts, out = write_prompts(tmp_path / "prompts.jsonl", PROMPTS), tmp_path / "answers.jsonl"
    command = ["generate", "--model", str(MODEL), "--prompts", str(prompts), "--output", str(out), "--chat-template"]
    assert main(command) == 2
    assert "has no chat template" in capsys.readouterr().err and not out.exists()
    kept = json.dumps({"index": 1, "prompt": "p", "response": "r"}) + "\n"
    out.write_text(kept, encoding="utf-8")
    assert main(command) == 2
    assert out.read_text(encoding="utf-8") == kept


def test_a_system_prompt_without_the_chat_prompt_template_is_refused(tmp_path, capsys):
    """--system-prompt goes only into the chat prompt template: with another one, given or the one the
    model was trained with (alpaca here), it would go unused; refused, for --instruction and --prompts,
    before anything is generated."""
    prompts = write_prompts(tmp_path / "prompts.jsonl", PROMPTS[:1])
    out = tmp_path / "answers.jsonl"
    given = ["--system-prompt", "당신은 도우미입니다."]
    assert (
        main(["generate", "--model", str(MODEL), "--instruction", "질문", "--prompt-template", "alpaca", *given]) == 2
    )
    assert "--prompt-template alpaca has no system message" in capsys.readouterr().err
    for mode in (["--instruction", "질문"], ["--prompts", str(prompts), "--output", str(out)]):
        assert main(["generate", "--model", str(MODEL), *mode, *given, "--max-new-tokens", "2"]) == 2
        err = capsys.readouterr().err
        assert "--system-prompt goes into the chat template" in err and "'alpaca'" in err
    assert not out.exists()


def test_a_rerun_refused_under_a_dated_chat_template_says_the_template_writes_the_date(tmp_path, capsys):
    """A chat template that writes the time (as Llama 3's writes "Today Date") builds another prompt
    on another day (here: another second); the refusal says why."""
    folder = with_chat_template(tmp_path)
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["chat_template"] = "{{ strftime_now('%H:%M:%S.%f') }}\n" + config["chat_template"]
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    prompts = write_prompts(tmp_path / "prompts.jsonl", PROMPTS[:1])
    out = tmp_path / "o.jsonl"
    argv = ["generate", "--model", str(folder), "--prompts", str(prompts), "--output", str(out), "--chat-template"]
    assert main([*argv, "--max-new-tokens", "2"]) == 0
    assert main([*argv, "--max-new-tokens", "2"]) == 2
    assert "this chat template also writes today's date into every prompt" in capsys.readouterr().err


def test_a_rerun_keeps_responses_when_only_unused_or_equivalent_settings_differ(tmp_path, capsys):
    """Prompt files are answered greedily, so --seed and --top-p decide nothing and are not compared;
    an adapter folder given as --model and the same adapter on its recorded base are one model."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    adapter = tmp_path / "adapter"
    config = LoraConfig(r=2, target_modules=["query_key_value"], task_type="CAUSAL_LM")
    get_peft_model(AutoModelForCausalLM.from_pretrained(MODEL), config).save_pretrained(adapter)
    prompts = write_prompts(tmp_path / "prompts.jsonl", PROMPTS[:2])
    out = tmp_path / "answers.jsonl"
    argv = ["generate", "--prompts", str(prompts), "--output", str(out), "--max-new-tokens", "3"]
    assert main([*argv, "--model", str(adapter)]) == 0
    before = out.read_bytes()
    for again in (
        ["--model", str(adapter), "--seed", "2", "--top-p", "0.9"],
        ["--model", str(MODEL), "--adapter", str(adapter)],
    ):
        capsys.readouterr()
        assert main([*argv, *again]) == 0
        assert "generating the other 0" in capsys.readouterr().err and out.read_bytes() == before
