"""Conversations for chat-template training: ``messages`` records and instruction records seen as
one exchange.

A conversation record holds ``messages``: a list of ``{"role": ..., "content": ...}`` objects,
roles ``system`` (only first), then ``user`` and ``assistant`` taking turns (several turns
allowed), with at least one ``assistant`` message. An instruction record (``instruction``,
``input``, ``output``) is the conversation of one user message (the instruction, then a blank
line and the input when there is one) and one assistant message (the output): ``instruction``
and ``input`` are the user's part, ``output`` the assistant's (:data:`FIELD_ROLES`). A record with
both ``messages`` and ``instruction`` is an instruction record. Other fields of a record are kept
as they came and ignored here.
"""

from __future__ import annotations

from polyplatypus.errors import DataError

ROLES = ("system", "user", "assistant")
MESSAGES = "messages"
#: The reason under which ``skipped`` counts a dropped conversation.
INVALID_MESSAGES = "invalid messages"
#: The role whose messages carry each field of an instruction record (see :func:`exchange`).
FIELD_ROLES = {"instruction": "user", "input": "user", "output": "assistant"}


def is_conversation(record: dict) -> bool:
    """Whether a record is a conversation (``messages`` and no ``instruction``)."""
    return MESSAGES in record and "instruction" not in record


def record_kind(record: dict) -> str:
    """``"messages"`` for a conversation, ``"instruction"`` for an instruction record."""
    return MESSAGES if is_conversation(record) else "instruction"


def contents(messages: list[dict], roles=ROLES) -> list[str]:
    """The contents of the messages of ``roles``, in order."""
    return [message["content"] for message in messages if message["role"] in roles]


def field_texts(record: dict, fields) -> list[str]:
    """``fields`` of an instruction record; of a conversation, the contents of the messages of those
    fields' roles (:data:`FIELD_ROLES`: user turns for instruction and input, assistant turns for
    output), in order."""
    if is_conversation(record):
        return contents(record[MESSAGES], {FIELD_ROLES[f] for f in fields})
    return [record[f] for f in fields]


def joined_fields(record: dict, fields) -> str:
    """:func:`field_texts` joined by newlines, empty ones left out."""
    return "\n".join(text for text in field_texts(record, fields) if text)


def validate_messages(messages, *, path=None, number: int | None = None, line: int | None = None) -> list[dict]:
    """The messages as a clean list of ``{"role", "content"}`` dicts; a :class:`DataError` naming
    the file, record, line and field (``messages[2].content``) when one is malformed."""

    def fail(message: str, field: str):
        error = DataError(message, path=path, record=number, field=field, line=line)
        error.reason = INVALID_MESSAGES
        raise error

    if not isinstance(messages, list) or not messages:
        fail(f"expected a non-empty list of {{role, content}} objects, got {messages!r:.60}", MESSAGES)
    clean = []
    for index, message in enumerate(messages):
        where = f"{MESSAGES}[{index}]"
        if not isinstance(message, dict):
            fail(f"expected an object with role and content, got {type(message).__name__}", where)
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            fail(f"role must be one of {', '.join(ROLES)}, got {role!r:.40}", f"{where}.role")
        if not isinstance(content, str):
            fail(f"expected a string, got {type(content).__name__} {content!r:.60}", f"{where}.content")
        if role != "system" and not content.strip():
            fail("empty (blank) content", f"{where}.content")
        expected = _expected_role(clean)
        if role not in expected.split(" or "):
            fail(
                f"expected a message of role {expected} here (an optional system message first, then user and "
                f"assistant taking turns), got {role}",
                f"{where}.role",
            )
        clean.append({"role": role, "content": content})
    if not any(m["role"] == "assistant" for m in clean):
        fail("no assistant message: nothing to train on", MESSAGES)
    return clean


def _expected_role(before: list[dict]) -> str:
    if not before:
        return "system or user"
    return "assistant" if before[-1]["role"] == "user" else "user"


def conversation(record: dict, *, system_prompt: str | None = None) -> list[dict]:
    """The messages of a validated record (conversation or instruction), with ``system_prompt``
    as a first system message when the record has none."""
    if not is_conversation(record):
        return exchange(record["instruction"], record.get("input") or "", record["output"], system_prompt=system_prompt)
    messages = [dict(m) for m in record[MESSAGES]]
    if system_prompt and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system_prompt})
    return messages


def exchange(
    instruction: str, input: str = "", output: str | None = None, *, system_prompt: str | None = None
) -> list[dict]:
    """An instruction (and input) as a user message, then ``output`` as the assistant's when given
    (without it: the messages a chat model is asked to answer)."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages.append({"role": "user", "content": instruction + (f"\n\n{input}" if input else "")})
    if output is not None:
        messages.append({"role": "assistant", "content": output})
    return messages
