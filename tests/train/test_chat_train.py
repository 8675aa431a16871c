"""Chat-template fine-tuning end to end on a tiny Qwen2-layout base with a ChatML template: the
adapter's generation_config stops at <|im_end|>, and generation (adapter and merged) stops there."""

from __future__ import annotations

import json

import pytest
import torch

from polyplatypus.cli import main
from polyplatypus.train import TrainConfig, generate, merge, train
from tests.fixtures.chat_templates import chat_tokenizer

QUESTION, ANSWER = "한국의 수도는 어디인가요?", "서울입니다."
CONVERSATION = {
    "messages": [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": ANSWER},
        {"role": "user", "content": "인구는요?"},
        {"role": "assistant", "content": "약 천만 명."},
    ]
}


@pytest.fixture(scope="module")
def qwen_base(tmp_path_factory, tiny_gptneox_dir):
    """A tiny random Qwen2 (the A.X 4.0 / Qwen2.5 layout) whose tokenizer has a ChatML template and
    keeps <|endoftext|> as its EOS, as the Qwen base models do."""
    from transformers import AutoModelForCausalLM, Qwen2Config

    tokenizer = chat_tokenizer(tiny_gptneox_dir, "chatml")
    # a wide initialisation: the default (0.02) leaves a model this small near-uniform, and slow to fit
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        initializer_range=0.2,
        tie_word_embeddings=False,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    folder = tmp_path_factory.mktemp("tiny-qwen2")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, tokenizer


@pytest.fixture(scope="module")
def chat_run(tmp_path_factory, qwen_base):
    base, _ = qwen_base
    folder = tmp_path_factory.mktemp("chat-run")
    data = folder / "chat.jsonl"
    data.write_text((json.dumps(CONVERSATION, ensure_ascii=False) + "\n") * 8, encoding="utf-8")
    summary = train(
        TrainConfig(
            base=str(base),
            data=str(data),
            output=str(folder / "run"),
            batch_size=4,
            max_steps=20,
            learning_rate=3e-2,
            warmup_steps=0,
            lora_dropout=0.0,
            lora_layers="all",
            cutoff_len=128,
            lr_scheduler="constant",
            prompt_template="chat",
            report_to=[],
        )
    )
    return folder / "run", summary


def test_chat_training_stops_at_the_end_of_turn_token(chat_run, qwen_base, tmp_path):
    from transformers import AutoModelForCausalLM

    from polyplatypus.train.lora import load_adapter

    adapter, summary = chat_run
    base, tokenizer = qwen_base
    end_of_turn, eos = tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.eos_token_id
    assert summary["final_loss"] < 0.1 * summary["initial_loss"]
    stops = json.loads((adapter / "generation_config.json").read_text())["eos_token_id"]
    assert end_of_turn in stops and eos in stops

    answer = generate(str(adapter), QUESTION, max_new_tokens=24)
    assert answer == ANSWER

    # what generate did before: only the tokenizer's EOS, so the model runs on past <|im_end|>
    model = load_adapter(AutoModelForCausalLM.from_pretrained(base), adapter).eval()
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": QUESTION}], tokenize=False, add_generation_prompt=True
    )
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(
            input_ids=ids, max_new_tokens=24, do_sample=False, eos_token_id=eos, pad_token_id=tokenizer.pad_token_id
        )[0, ids.shape[1] :].tolist()
    assert end_of_turn in out and out.index(end_of_turn) < len(out) - 1  # it went on after the turn's end
    assert tokenizer.decode(out[: out.index(end_of_turn)]).strip() == ANSWER

    from polyplatypus.models.loading import load_model  # what eval loads: an adapter stops there too

    scored, _ = load_model(str(base), device="cpu", adapter=str(adapter))
    assert end_of_turn in scored.get_base_model().generation_config.eos_token_id

    merged = merge(adapter, tmp_path / "merged")
    assert end_of_turn in json.loads((merged / "generation_config.json").read_text())["eos_token_id"]
    assert json.loads((merged / "polyplatypus.json").read_text())["prompt_template"] == "chat"
    assert generate(str(merged), QUESTION, max_new_tokens=24) == ANSWER


def test_prompts_of_a_chat_trained_model_answer_as_instruction_does(chat_run, tmp_path):
    """generate --prompts with the model's trained template, chat: each line is put in the chat
    template as --instruction puts it and stops at the end-of-turn token with --instruction's answer
    (it crashed after the model loaded, leaving an empty output file)."""
    adapter, _ = chat_run
    prompts, out = tmp_path / "prompts.jsonl", tmp_path / "answers.jsonl"
    prompts.write_text(json.dumps({"instruction": QUESTION}, ensure_ascii=False) + "\n", encoding="utf-8")
    command = ["generate", "--model", str(adapter), "--max-new-tokens", "24"]
    assert main([*command, "--prompts", str(prompts), "--output", str(out)]) == 0
    [line] = [json.loads(text) for text in out.read_text(encoding="utf-8").splitlines()]
    assert line["response"] == generate(str(adapter), QUESTION, max_new_tokens=24) == ANSWER
    assert line["stop_reason"] == "eos" and line["prompt"].startswith("<|im_start|>system\n")


def test_chat_options_are_checked_before_any_work(qwen_base, tmp_path, capsys):
    base, _ = qwen_base
    data = tmp_path / "chat.jsonl"
    data.write_text(
        json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "bot", "content": "b"}]}) + "\n",
        encoding="utf-8",
    )
    code = main(
        [
            "train",
            "--base",
            str(base),
            "--data",
            str(data),
            "--output",
            str(tmp_path / "o"),
            "--prompt-template",
            "chat",
        ]
    )
    assert code == 2
    assert "chat.jsonl, record 1, field 'messages[1].role' (line 1): role must be one of" in capsys.readouterr().err
    assert not (tmp_path / "o" / "adapter_config.json").exists()
    assert (
        main(
            [
                "train",
                "--base",
                str(base),
                "--data",
                str(data),
                "--output",
                str(tmp_path / "o"),
                "--system-prompt",
                "hi",
            ]
        )
        == 2
    )
    assert "applies to --prompt-template chat only" in capsys.readouterr().err


def test_chat_template_file_for_a_base_without_one(tiny_gptneox_dir, tmp_path):
    """--chat-template FILE: the template is read from the file, used for the examples and kept
    by the tokenizer the adapter folder saves; its end-of-turn token here is the base's EOS."""
    from polyplatypus.train.recipe import prepare_data

    template = tmp_path / "plain.jinja"
    template.write_text(
        "{% for m in messages %}{{ m['role'] + ':\\n' + m['content'] + '<|endoftext|>' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ 'assistant:\\n' }}{% endif %}",
        encoding="utf-8",
    )
    data = tmp_path / "d.jsonl"
    data.write_text(
        json.dumps({"instruction": QUESTION, "output": ANSWER}, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    prepared = prepare_data(
        TrainConfig(
            base=str(tiny_gptneox_dir),
            data=str(data),
            output=str(tmp_path / "o"),
            prompt_template="chat",
            chat_template=str(template),
            system_prompt="짧게.",
            cutoff_len=128,
        )
    )
    tokenizer = prepared.tokenizer
    assert tokenizer.chat_template == template.read_text(encoding="utf-8")
    assert prepared.end_of_turn_id == tokenizer.eos_token_id
    [example] = prepared.train
    text = f"system:\n짧게.<|endoftext|>user:\n{QUESTION}<|endoftext|>assistant:\n"
    prompt = tokenizer(text, add_special_tokens=False)["input_ids"]
    answer = tokenizer(ANSWER + "<|endoftext|>", add_special_tokens=False)["input_ids"]
    assert example.input_ids == prompt + answer
    assert example.labels == [-100] * len(prompt) + answer
