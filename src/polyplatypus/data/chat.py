"""Conversations -> token ids and labels with the tokenizer's own chat template.

Few templates mark the assistant's part (``{% generation %}``), so it is found by rendering: for
each assistant turn *i*, the conversation before it with the generation prompt
(``add_generation_prompt=True``) and the conversation up to and including it. The first must be
a prefix of the second, and each rendering a prefix of the whole conversation's; the assistant
turn is then the text between the two renderings, up to and including the template's
end-of-turn token (what follows it, such as a newline, is never generated: generation stops at
that token). The whole conversation is one example, trained on every assistant turn.

A template that renders earlier turns differently once later ones follow (Qwen3 drops the
reasoning of earlier turns) breaks the second check; such a conversation is split into one
example per assistant turn (the conversation up to it, trained on it alone). A template whose
generation prompt is not a prefix of the rendered turn is refused, naming it.

Rendered text is tokenized once, without the tokenizer's own special tokens (the template writes
BOS where it wants one), and a token is trained when its characters overlap an assistant span;
no EOS is appended: the end-of-turn token is where the model learns to stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from polyplatypus.data.conversations import exchange
from polyplatypus.data.tokenize import IGNORE_INDEX, TokenizedExample
from polyplatypus.errors import ConfigError, DataError

_PROBE = [
    {"role": "user", "content": "\u2063probe question\u2063"},
    {"role": "assistant", "content": "\u2063probe answer\u2063"},
]


@dataclass(frozen=True)
class ChatFormat:
    """A tokenizer with a chat template, and the token that ends an assistant turn in it."""

    tokenizer: object
    name: str  # how messages name the template: the tokenizer's source or the template file
    end_of_turn: str
    end_of_turn_id: int


#: What ``train`` says to do about a tokenizer without a chat template.
TRAIN_WITHOUT_TEMPLATE = (
    "give one with --chat-template FILE (a Jinja file) or train with a prompt template such as alpaca"
)
#: What ``data curate`` / ``data stats`` say (they have no --chat-template FILE).
MEASURE_WITHOUT_TEMPLATE = (
    "use a tokenizer that has one (--tokenizer) or a prompt template such as alpaca (--prompt-template alpaca)"
)


def use_chat_template(
    tokenizer, *, template_file: str | None = None, source: str = "the base", missing: str = TRAIN_WITHOUT_TEMPLATE
) -> ChatFormat:
    """The tokenizer's chat template (replaced by ``template_file``'s text when given) and its
    end-of-turn token; a :class:`ConfigError` when there is no template (saying ``missing``: what
    the command at hand can do about it) or it cannot be used."""
    if template_file is not None:
        path = Path(template_file)
        if not path.is_file():
            raise ConfigError(f"chat template file does not exist: {template_file}")
        tokenizer.chat_template = path.read_text(encoding="utf-8")
        name = f"the chat template {template_file}"
    else:
        name = f"the chat template of {source}"
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError(f"the tokenizer of {source} has no chat template; {missing}")
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(f"chat training needs a fast tokenizer (character offsets); {source}'s is not")
    end = _end_of_turn(tokenizer, name)
    return ChatFormat(tokenizer, name, end, tokenizer.convert_tokens_to_ids(end))


def _end_of_turn(tokenizer, name: str) -> str:
    """The first special token the template writes after an assistant message."""
    text = render(tokenizer, _PROBE, name=name)
    answer = _PROBE[1]["content"]
    if answer not in text:
        raise ConfigError(f"{name} does not write the assistant's message as given; it cannot be trained on")
    tail = text[text.index(answer) + len(answer) :]
    special = set(tokenizer.all_special_tokens) | {
        t.content for t in tokenizer.added_tokens_decoder.values() if t.special
    }
    found = [(tail.find(token), -len(token), token) for token in special if token and token in tail]
    if not found:
        raise ConfigError(
            f"{name} ends an assistant turn with no special token ({tail!r:.40}), so the model could "
            "not learn where to stop; use a template that closes each turn with one"
        )
    return min(found)[2]


def render(
    tokenizer,
    messages: Sequence[dict],
    *,
    generation_prompt: bool = False,
    name: str = "the chat template",
    where: dict | None = None,
) -> str:
    """The template's text for ``messages``; an error raised by the template names the record."""
    try:
        return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=generation_prompt)
    except Exception as error:  # jinja2's TemplateError (raise_exception) and any error inside it
        message = f"{name} refused this conversation: {error}"
        if where:
            raise DataError(message, **where) from None
        raise ConfigError(message) from None


def instruction_chat_prompt(
    tokenizer,
    instruction: str,
    input: str = "",
    *,
    system_prompt: str | None = None,
    asked_by: str = "the prompt template chat (--prompt-template chat, or the one the model was trained with)",
) -> str:
    """The text a chat model is asked to answer an instruction (and input) with: the messages of
    :func:`~polyplatypus.data.conversations.exchange` (after ``system_prompt`` when given), as
    chat training renders them, with the generation prompt. ``asked_by`` names what asked for the
    template in the error raised when the tokenizer has none."""
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError(f"{asked_by}: the tokenizer has no chat template")
    return tokenizer.apply_chat_template(
        exchange(instruction, input, system_prompt=system_prompt), tokenize=False, add_generation_prompt=True
    )


def chat_texts(fmt: ChatFormat, messages: Sequence[dict], *, where: dict | None = None) -> list[tuple[str, list]]:
    """(rendered text, [(start, end) character span of each assistant turn]) per example: the whole
    conversation, or one per assistant turn where the template re-renders earlier turns."""

    def show(part, prompt=False):
        return render(fmt.tokenizer, part, generation_prompt=prompt, name=fmt.name, where=where)

    turns = [i for i, message in enumerate(messages) if message["role"] == "assistant"]
    whole = show(messages)
    pieces = []
    for i in turns:
        prompt, upto = show(messages[:i], True), show(messages[: i + 1])
        if not upto.startswith(prompt):
            raise ConfigError(
                f"{fmt.name}: the generation prompt is not where the assistant's turn starts "
                f"(rendered {prompt[-40:]!r} before it, {upto[len(prompt) - 40 : len(prompt) + 10]!r} "
                "with it); its assistant turns cannot be found"
            )
        pieces.append((upto, (len(prompt), _turn_end(fmt, upto, len(prompt)))))
    if all(whole.startswith(upto) for upto, _ in pieces):
        return [(whole, [span for _, span in pieces])]
    return [(upto, [span]) for upto, span in pieces]


def _turn_end(fmt: ChatFormat, text: str, start: int) -> int:
    end = text.find(fmt.end_of_turn, start)
    if end < 0:
        raise ConfigError(f"{fmt.name} does not close this assistant turn with {fmt.end_of_turn!r}")
    return end + len(fmt.end_of_turn)


def tokenize_chat(
    fmt: ChatFormat, text: str, spans: Sequence[tuple[int, int]], *, cutoff_len: int, train_on_inputs: bool = False
) -> TokenizedExample:
    """One rendered example as token ids (cut to ``cutoff_len``), trained on ``spans`` (or on
    everything with ``train_on_inputs``)."""
    encoded = fmt.tokenizer(
        text, add_special_tokens=False, return_offsets_mapping=True, truncation=True, max_length=cutoff_len
    )
    ids = list(encoded["input_ids"])
    if train_on_inputs:
        return TokenizedExample(ids, list(ids))
    labels = [
        token if any(end > s and start < e for s, e in spans) else IGNORE_INDEX
        for token, (start, end) in zip(ids, encoded["offset_mapping"])
    ]
    return TokenizedExample(ids, labels)


def tokenize_conversations(
    fmt: ChatFormat, conversations: Iterable[tuple[list[dict], dict]], *, cutoff_len: int, train_on_inputs: bool = False
) -> tuple[list[TokenizedExample], list[int]]:
    """(examples, index of the conversation each came from) for ``(messages, where)`` pairs, where
    ``where`` names the record in errors (``path``, ``record``, ``line``)."""
    examples, origins = [], []
    for index, (messages, where) in enumerate(conversations):
        for text, spans in chat_texts(fmt, messages, where=where):
            examples.append(tokenize_chat(fmt, text, spans, cutoff_len=cutoff_len, train_on_inputs=train_on_inputs))
            origins.append(index)
    return examples, origins
