"""Statistics of an instruction set: counts by origin and category, character and token lengths.

Token lengths help choose the training cutoff, so they measure what training sees: the example
that :func:`polyplatypus.data.tokenize.tokenize_records` builds, with the same prompt template
(``alpaca`` by default) and the tokenizer's own special tokens:

* ``prompt``: the template's prompt (instruction and input inside the template's wording, up
  to and including its response marker);
* ``output``: the tokens training learns from: the response and the EOS token appended after it;
* ``full``: the whole example, prompt + response + EOS, before any cutoff.

With ``chat`` (:data:`~polyplatypus.data.templates.CHAT`), the examples are those of
``train --prompt-template chat``: every record (conversations too) rendered by the tokenizer's
own chat template (:mod:`polyplatypus.data.chat`); ``output`` is the trained tokens (the assistant
turns and their end-of-turn tokens), ``prompt`` the rest. A prompt template formats instruction
records only: token lengths of a conversation need ``chat``.

For each, the report gives percentiles and the share of records longer than common cutoffs
(``full`` over the cutoff is what ``--cutoff-len`` truncates). Character lengths are of the raw
fields (``prompt`` is instruction and input joined by a newline; of a conversation, its user
turns, and ``output`` its assistant turns), without the template.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from polyplatypus.data.conversations import MESSAGES, conversation, is_conversation, joined_fields, record_kind
from polyplatypus.data.templates import CHAT
from polyplatypus.errors import DataError
from polyplatypus.models.loading import load_tokenizer

DEFAULT_CUTOFFS = (256, 512, 1024, 2048)
DEFAULT_TEMPLATE = "alpaca"
PERCENTILES = (50, 90, 95, 99)
_NO_LIMIT = 1 << 30  # "cutoff" for measuring lengths: nothing is truncated


def refuse_token_lengths_of(record: dict, *, template: str, path, number: int) -> None:
    """A :class:`DataError` naming a conversation when token lengths are measured with a prompt
    template (``template`` other than ``chat``), which formats instruction records only."""
    if is_conversation(record) and template != CHAT:
        raise DataError(
            f"a conversation (messages) record: the prompt template {template} formats instruction records "
            f"only; measure token lengths (--tokenizer) with --prompt-template {CHAT}, the tokenizer's chat "
            "template, as training on conversations does",
            path=path,
            record=number,
            field=MESSAGES,
        )


def prompt_text(record: dict) -> str:
    return joined_fields(record, ("instruction", "input"))


def output_text(record: dict) -> str:
    return joined_fields(record, ("output",))


def length_summary(lengths: Sequence[int], cutoffs: Sequence[int] = ()) -> dict:
    if not len(lengths):
        return {"count": 0}
    values = np.asarray(lengths, dtype=np.int64)
    summary = {
        "count": int(len(values)),
        "mean": round(float(values.mean()), 1),
        "min": int(values.min()),
        **{f"p{p}": int(np.percentile(values, p, method="higher")) for p in PERCENTILES},
        "max": int(values.max()),
    }
    if cutoffs:
        summary["share_over"] = {str(c): round(float((values > c).mean()), 4) for c in cutoffs}
    return summary


def template_name(template) -> str:
    """A prompt template's name, or ``chat``."""
    return CHAT if template == CHAT else template.name


def example_lengths(records: Sequence[dict], tokenizer, template) -> tuple[list[int], list[int]]:
    """(prompt, full) token lengths of the training examples, exactly as
    :func:`~polyplatypus.data.tokenize.tokenize_records` builds them with a prompt template, or
    :func:`~polyplatypus.data.chat.tokenize_conversations` with ``chat`` (no cutoff)."""
    from polyplatypus.data.tokenize import IGNORE_INDEX, tokenize_records

    if template == CHAT:
        from polyplatypus.data.chat import MEASURE_WITHOUT_TEMPLATE, tokenize_conversations, use_chat_template

        source = getattr(tokenizer, "name_or_path", None) or "the tokenizer"
        fmt = use_chat_template(tokenizer, source=source, missing=MEASURE_WITHOUT_TEMPLATE)
        # as training renders them: each message's role and content only (curate keeps other keys, which a
        # template could read)
        messages = [[{"role": m["role"], "content": m["content"]} for m in conversation(r)] for r in records]
        examples, _ = tokenize_conversations(fmt, [(m, {}) for m in messages], cutoff_len=_NO_LIMIT)
    else:
        examples = tokenize_records(records, tokenizer, template, cutoff_len=_NO_LIMIT)
    full = [len(e.input_ids) for e in examples]
    prompt = [sum(1 for label in e.labels if label == IGNORE_INDEX) for e in examples]
    return prompt, full


def token_length_stats(
    records: Sequence[dict], tokenizer, cutoffs: Sequence[int] = DEFAULT_CUTOFFS, template=DEFAULT_TEMPLATE
) -> dict:
    """Token-length percentiles of the training examples' prompt, learned output and whole, and
    the share over each cutoff. ``template`` is a name, a template file, a PromptTemplate or
    ``chat``."""
    from polyplatypus.data.templates import get_template

    tokenizer = load_tokenizer(tokenizer)
    template = get_template(template) if isinstance(template, str) and template != CHAT else template
    prompt, full = example_lengths(records, tokenizer, template)
    return {
        "tokenizer": getattr(tokenizer, "name_or_path", type(tokenizer).__name__),
        "prompt_template": template_name(template),
        "prompt": length_summary(prompt, cutoffs),
        "output": length_summary([f - p for f, p in zip(full, prompt)], cutoffs),
        "full": length_summary(full, cutoffs),
    }


def dataset_stats(
    records: Sequence[dict],
    *,
    tokenizer=None,
    cutoffs: Sequence[int] = DEFAULT_CUTOFFS,
    template=DEFAULT_TEMPLATE,
    group_fields: Sequence[str] = ("origin", "data_source"),
) -> dict:
    """Counts per kind (instruction, messages) and per value of each grouping field present,
    character lengths, and (with a tokenizer) token lengths of the training examples built with
    ``template``."""
    stats: dict = {"records": len(records), "by_kind": dict(sorted(Counter(map(record_kind, records)).items()))}
    for name in group_fields:
        values = Counter(str(r[name]) for r in records if r.get(name) is not None)
        if values:
            stats[f"by_{name}"] = dict(sorted(values.items(), key=lambda kv: (-kv[1], kv[0])))
    stats["characters"] = {
        "prompt": length_summary([len(prompt_text(r)) for r in records]),
        "output": length_summary([len(output_text(r)) for r in records]),
    }
    if tokenizer is not None:
        stats["tokens"] = token_length_stats(records, tokenizer, cutoffs, template=template)
    return stats


def format_length_table(stats: dict) -> list[str]:
    lines = []
    tokens = stats.get("tokens")
    if tokens:
        template = f", {tokens['prompt_template']} template" if tokens.get("prompt_template") else ""
        learned = "assistant turns + end of turn" if tokens.get("prompt_template") == CHAT else "response + EOS"
        lines.append(f"token lengths of the training examples ({tokens['tokenizer']}{template}; output = {learned}):")
        for part in ("prompt", "output", "full"):
            s = tokens[part]
            if not s.get("count"):
                continue
            over = ", ".join(f">{c}: {v:.1%}" for c, v in s.get("share_over", {}).items())
            lines.append(
                f"  {part:<7} mean {s['mean']:>7} p50 {s['p50']:>6} p90 {s['p90']:>6} "
                f"p95 {s['p95']:>6} p99 {s['p99']:>6} max {s['max']:>6}   {over}"
            )
    return lines
