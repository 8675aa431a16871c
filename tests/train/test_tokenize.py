"""Prompt templates and example building: masking, EOS, cutoff."""

from __future__ import annotations

import json

import pytest

from polyplatypus.data.templates import TEMPLATES, get_template
from polyplatypus.data.tokenize import IGNORE_INDEX, build_example, tokenize_records
from polyplatypus.errors import ConfigError


def test_alpaca_template_matches_the_recipe_with_and_without_input():
    alpaca = get_template("alpaca")
    assert alpaca.prompt("Say hi.") == (
        "Below is an instruction that describes a task. Write a response that appropriately completes "
        "the request.\n\n### Instruction:\nSay hi.\n\n### Response:\n"
    )
    assert alpaca.prompt("Translate.", "안녕") == (
        "Below is an instruction that describes a task, paired with an input that provides further context. "
        "Write a response that appropriately completes the request.\n\n### Instruction:\nTranslate.\n\n"
        "### Input:\n안녕\n\n### Response:\n"
    )
    # an empty input uses the no-input form, as Platypus's prompter does
    assert alpaca.prompt("Say hi.", "") == alpaca.prompt("Say hi.")
    assert alpaca.response(alpaca.prompt("Say hi.") + " hello ") == "hello"


def test_korean_template_and_braces_in_text():
    korean = get_template("korean")
    text = korean.prompt("{x} 값을 구하세요", "{y}")
    assert "### 지시문:\n{x} 값을 구하세요" in text and "### 입력:\n{y}" in text
    assert text.endswith("### 응답:\n")
    assert set(TEMPLATES) >= {"alpaca", "korean"}


def test_unknown_template_lists_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match="alpaca, korean"):
        get_template("vicuna")
    path = tmp_path / "mine.json"
    path.write_text(
        json.dumps(
            {
                "prompt_input": "I:{instruction} {input}\nA:",
                "prompt_no_input": "I:{instruction}\nA:",
                "response_split": "A:",
            }
        ),
        encoding="utf-8",
    )
    assert get_template(str(path)).prompt("x") == "I:x\nA:"
    path.write_text(json.dumps({"prompt_input": "I:{instruction}"}), encoding="utf-8")
    with pytest.raises(ConfigError, match="prompt_no_input, response_split"):
        get_template(str(path))


def _encode(tokenizer, text):
    return tokenizer(text)["input_ids"]


def test_prompt_tokens_are_masked_and_eos_ends_the_response(tiny_tokenizer, ko_records):
    template = get_template("alpaca")
    eos = tiny_tokenizer.eos_token_id
    for record in ko_records[:6]:
        (example,) = tokenize_records([record], tiny_tokenizer, template, cutoff_len=4096)
        prompt = _encode(tiny_tokenizer, template.prompt(record["instruction"], record.get("input")))
        full = _encode(tiny_tokenizer, template.prompt(record["instruction"], record.get("input")) + record["output"])
        assert example.input_ids == full + [eos]
        assert example.labels[: len(prompt)] == [IGNORE_INDEX] * len(prompt)
        assert example.labels[len(prompt) :] == example.input_ids[len(prompt) :]
        assert tiny_tokenizer.decode(example.input_ids[len(prompt) : -1]).strip() == record["output"]


def test_train_on_inputs_labels_every_token(tiny_tokenizer, ko_records):
    (example,) = tokenize_records(
        ko_records[:1], tiny_tokenizer, get_template("alpaca"), cutoff_len=4096, train_on_inputs=True
    )
    assert example.labels == example.input_ids
    assert IGNORE_INDEX not in example.labels
    assert example.input_ids[-1] == tiny_tokenizer.eos_token_id


def test_cutoff_truncates_without_eos(tiny_tokenizer, ko_records):
    record = dict(ko_records[0], output="서울은 " * 200)
    (full,) = tokenize_records([record], tiny_tokenizer, get_template("korean"), cutoff_len=4096)
    (cut,) = tokenize_records([record], tiny_tokenizer, get_template("korean"), cutoff_len=64)
    assert len(full) > 64 and len(cut) == 64
    assert cut.input_ids == full.input_ids[:64]
    assert cut.labels == full.labels[:64]
    assert cut.input_ids[-1] != tiny_tokenizer.eos_token_id  # no room left for EOS: as Platypus


def test_add_eos_token_only_changes_the_mask_of_a_prompt_that_fills_the_cutoff():
    eos = 0
    full, prompt = [5, 6, 7, 8, 9], [5, 6, 7]
    plain = build_example(full, prompt, eos_token_id=eos, cutoff_len=10)
    flagged = build_example(full, prompt, eos_token_id=eos, cutoff_len=10, add_eos_token=True)
    assert plain == flagged
    assert plain.input_ids == [5, 6, 7, 8, 9, 0] and plain.labels == [-100, -100, -100, 8, 9, 0]
    # the prompt alone fills the cutoff of 3: Platypus's add_eos_token leaves its last token trainable
    assert build_example(full, prompt, eos_token_id=eos, cutoff_len=3).labels == [-100, -100, -100]
    assert build_example(full, prompt, eos_token_id=eos, cutoff_len=3, add_eos_token=True).labels == [-100, -100, 7]


def test_n_targets_counts_trainable_next_tokens():
    example = build_example([1, 2, 3, 4], [1, 2], eos_token_id=0, cutoff_len=8)
    assert example.labels == [-100, -100, 3, 4, 0]
    assert example.n_targets == 3
    assert build_example([1, 2], [1, 2], eos_token_id=0, cutoff_len=2).n_targets == 0
