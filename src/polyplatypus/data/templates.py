"""Prompt templates, kept as data and chosen by name.

A template turns an instruction record into the text the model sees. Training appends the
response (and EOS) to that text; ``generate`` stops at the prompt and lets the model continue,
so both must use the same template. ``alpaca`` is the one the Platypus recipe trained with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from polyplatypus.errors import ConfigError


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    description: str
    prompt_input: str  # with {instruction} and {input}
    prompt_no_input: str  # with {instruction}
    response_split: str  # the marker after which the response starts

    def prompt(self, instruction: str, input: str | None = None) -> str:
        """The prompt up to (and including) the response marker; the input block only when non-empty."""
        if input:
            return self.prompt_input.format(instruction=instruction, input=input)
        return self.prompt_no_input.format(instruction=instruction)

    def response(self, text: str) -> str:
        """The response part of a full generated text (everything after the marker)."""
        head, marker, tail = text.partition(self.response_split)
        return (tail if marker else head).strip()


TEMPLATES: dict[str, PromptTemplate] = {
    "alpaca": PromptTemplate(
        name="alpaca",
        description="The Alpaca template used by Stanford Alpaca, alpaca-lora and Platypus.",
        prompt_input=(
            "Below is an instruction that describes a task, paired with an input that provides "
            "further context. Write a response that appropriately completes the request.\n\n"
            "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
        ),
        prompt_no_input=(
            "Below is an instruction that describes a task. Write a response that appropriately "
            "completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n"
        ),
        response_split="### Response:",
    ),
    "korean": PromptTemplate(
        name="korean",
        description="The Alpaca layout with Korean wording and section headers.",
        prompt_input=(
            "다음은 작업을 설명하는 지시문과 추가 맥락을 담은 입력입니다. "
            "요청을 알맞게 수행하는 응답을 작성하세요.\n\n"
            "### 지시문:\n{instruction}\n\n### 입력:\n{input}\n\n### 응답:\n"
        ),
        prompt_no_input=(
            "다음은 작업을 설명하는 지시문입니다. 요청을 알맞게 수행하는 응답을 작성하세요.\n\n"
            "### 지시문:\n{instruction}\n\n### 응답:\n"
        ),
        response_split="### 응답:",
    ),
}

_FIELDS = ("prompt_input", "prompt_no_input", "response_split")
# Not a template of this module: the tokenizer's own chat template (see polyplatypus.data.chat).
CHAT = "chat"


def get_template(name: str) -> PromptTemplate:
    """A built-in template by name, or one read from a JSON file with the keys ``prompt_input``,
    ``prompt_no_input`` and ``response_split`` (the alpaca-lora / Platypus template format)."""
    if name in TEMPLATES:
        return TEMPLATES[name]
    if name == CHAT:
        raise ConfigError(
            "the chat template is the tokenizer's own; it formats conversations, not through a "
            "prompt template (polyplatypus.data.chat)"
        )
    path = Path(name)
    if path.suffix == ".json" and path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path}: not valid JSON ({error})") from None
        missing = [key for key in _FIELDS if not isinstance(data.get(key), str)]
        if missing:
            raise ConfigError(f"{path}: prompt template needs string key(s) {', '.join(missing)}")
        return PromptTemplate(
            name=str(path),
            description=str(data.get("description", "")),
            **{key: data[key] for key in _FIELDS},
        )
    raise ConfigError(
        f"unknown prompt template {name!r}; built-in templates: {', '.join(TEMPLATES)} "
        f"(or give the path of a .json template file; for training, {CHAT} uses the tokenizer's chat template)"
    )
