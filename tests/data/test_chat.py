"""Chat-template examples: assistant turns found by rendering, checked token by token against the
conversation written out by hand for each template style."""

from __future__ import annotations

import json
import re

import pytest

from polyplatypus.data.chat import chat_texts, tokenize_chat, tokenize_conversations, use_chat_template
from polyplatypus.data.conversations import conversation
from polyplatypus.data.instructions import load_instructions
from polyplatypus.errors import ConfigError, DataError
from tests.fixtures.chat_templates import chat_tokenizer, expected_tokens, pieces

MULTI_TURN = [
    {"role": "system", "content": "당신은 친절한 한국어 도우미입니다."},
    {"role": "user", "content": "한국의 수도는 어디인가요?"},
    {"role": "assistant", "content": "서울입니다."},
    {"role": "user", "content": "인구는 얼마나 되나요?"},
    {"role": "assistant", "content": "  약 천만 명입니다.  "},  # the Llama 3 / Gemma templates trim it
]
END_OF_TURN = {"chatml": "<|im_end|>", "llama3": "<|eot_id|>", "gemma3": "<end_of_turn>"}


@pytest.mark.parametrize("style", ["chatml", "llama3", "gemma3"])
@pytest.mark.parametrize("messages", [MULTI_TURN, MULTI_TURN[1:], MULTI_TURN[1:3]], ids=["system", "no-system", "one"])
def test_assistant_turns_are_trained_token_by_token(tiny_gptneox_dir, style, messages):
    tokenizer = chat_tokenizer(tiny_gptneox_dir, style)
    fmt = use_chat_template(tokenizer, source=style)
    assert fmt.end_of_turn == END_OF_TURN[style]
    [(text, spans)] = chat_texts(fmt, messages)  # the whole conversation, one example
    example = tokenize_chat(fmt, text, spans, cutoff_len=512)
    ids, labels = expected_tokens(tokenizer, pieces(style, messages))
    assert example.input_ids == ids
    assert example.labels == labels
    trained = [t for t in example.labels if t != -100]
    assert trained.count(fmt.end_of_turn_id) == sum(m["role"] == "assistant" for m in messages)
    assert example.input_ids[-1] != tokenizer.eos_token_id  # no EOS appended: the end-of-turn is the stop

    everything = tokenize_chat(fmt, text, spans, cutoff_len=512, train_on_inputs=True)
    assert everything.labels == everything.input_ids == ids
    cut = tokenize_chat(fmt, text, spans, cutoff_len=20)
    assert cut.input_ids == ids[:20] and cut.labels == labels[:20]


def test_template_that_rerenders_earlier_turns_is_split_per_turn(tiny_gptneox_dir):
    """Qwen3-style: only the last assistant turn carries a reasoning block; each assistant turn
    becomes its own example, trained on that turn alone (reasoning block included)."""
    tokenizer = chat_tokenizer(tiny_gptneox_dir, "qwen3")
    fmt = use_chat_template(tokenizer, source="qwen3-like")
    messages = MULTI_TURN[1:]
    examples, origins = tokenize_conversations(fmt, [(messages, {})], cutoff_len=512)
    assert len(examples) == 2 and origins == [0, 0]
    for example, upto in zip(examples, (2, 4)):  # the conversation up to each assistant turn
        turn = messages[:upto]
        parts = []
        for m in turn[:-1]:
            parts += [
                (f"<|im_start|>{m['role']}\n", False),
                (m["content"], False),
                ("<|im_end|>", False),
                ("\n", False),
            ]
        parts += [
            ("<|im_start|>assistant\n", False),
            ("<think>\n\n</think>\n\n" + turn[-1]["content"], True),
            ("<|im_end|>", True),
            ("\n", False),
        ]
        ids, labels = expected_tokens(tokenizer, parts)
        assert example.input_ids == ids and example.labels == labels


def test_instruction_records_and_system_prompt(tiny_gptneox_dir):
    record = {"instruction": "요약하세요.", "input": "서울은 한국의 수도이다.", "output": "서울이 수도."}
    messages = conversation(record, system_prompt="짧게 답하세요.")
    assert messages == [
        {"role": "system", "content": "짧게 답하세요."},
        {"role": "user", "content": "요약하세요.\n\n서울은 한국의 수도이다."},
        {"role": "assistant", "content": "서울이 수도."},
    ]
    assert conversation({"messages": MULTI_TURN}, system_prompt="other")[0] == MULTI_TURN[0]  # its own kept
    tokenizer = chat_tokenizer(tiny_gptneox_dir, "chatml")
    fmt = use_chat_template(tokenizer, source="chatml")
    [(text, spans)] = chat_texts(fmt, messages)
    assert (
        tokenize_chat(fmt, text, spans, cutoff_len=512).labels
        == expected_tokens(tokenizer, pieces("chatml", messages))[1]
    )


def test_templates_that_cannot_be_trained_are_refused_by_name(tiny_gptneox_dir, tmp_path):
    from transformers import AutoTokenizer

    bare = AutoTokenizer.from_pretrained(tiny_gptneox_dir)
    with pytest.raises(ConfigError, match="tiny-base has no chat template; give one with --chat-template"):
        use_chat_template(bare, source="tiny-base")
    no_stop = tmp_path / "no-stop.jinja"
    no_stop.write_text(
        "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}"
        "{% if add_generation_prompt %}assistant: {% endif %}",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=f"chat template {no_stop} ends an assistant turn with no special token"):
        use_chat_template(bare, template_file=str(no_stop), source="tiny-base")
    moved = tmp_path / "moved.jinja"  # its generation prompt names the assistant "bot", its turns "assistant"
    moved.write_text(tiny_template_with_prompt("bot"), encoding="utf-8")
    tokenizer = chat_tokenizer(tiny_gptneox_dir, "chatml")
    fmt = use_chat_template(tokenizer, template_file=str(moved), source="x")
    with pytest.raises(ConfigError, match=f"{moved}: the generation prompt is not where the assistant's turn starts"):
        chat_texts(fmt, MULTI_TURN[1:3])
    refusing = use_chat_template(chat_tokenizer(tiny_gptneox_dir, "gemma2"), source="gemma2-like")
    with pytest.raises(
        DataError,
        match=r"d.jsonl, record 4: the chat template of gemma2-like refused this "
        r"conversation: System role not supported",
    ):
        chat_texts(refusing, MULTI_TURN, where={"path": "d.jsonl", "record": 4})


def tiny_template_with_prompt(prompt_role: str) -> str:
    return (
        "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>" + prompt_role + "\\n' }}{% endif %}"
    )


@pytest.mark.parametrize(
    "bad, field, message",
    [
        ([], "messages", "non-empty list"),
        ([{"role": "user", "content": "a"}], "messages", "no assistant message"),
        (
            [{"role": "user", "content": "a"}, {"role": "bot", "content": "b"}],
            "messages[1].role",
            "role must be one of",
        ),
        (
            [{"role": "user", "content": "a"}, {"role": "assistant", "content": 3}],
            "messages[1].content",
            "expected a string",
        ),
        ([{"role": "user", "content": "a"}, {"role": "assistant", "content": " "}], "messages[1].content", "empty"),
        (
            [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
            "messages[1].role",
            "expected a message of role assistant here",
        ),
        ([{"role": "assistant", "content": "a"}], "messages[0].role", "expected a message of role system or user"),
        (["hi"], "messages[0]", "expected an object"),
    ],
)
def test_invalid_conversations_name_file_line_and_field(tmp_path, bad, field, message):
    data = tmp_path / "chat.jsonl"
    good = {"messages": MULTI_TURN}
    data.write_text(json.dumps(good) + "\n\n" + json.dumps({"messages": bad}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"chat.jsonl, record 2, field '{re.escape(field)}' \(line 3\): .*{message}"):
        load_instructions(data, conversations=True)
    assert len(load_instructions(data, conversations=True, skip_invalid=True)) == 1


def test_conversations_need_the_chat_template(tmp_path):
    data = tmp_path / "chat.jsonl"
    data.write_text(json.dumps({"messages": MULTI_TURN}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="train on conversations with --prompt-template chat"):
        load_instructions(data)
    assert load_instructions(data, conversations=True)[0]["messages"] == MULTI_TURN
