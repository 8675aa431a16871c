"""Statistics of an instruction set: counts by origin and category, character and token lengths.

Token lengths help choose the training cutoff: ``prompt`` is instruction and input, ``full``
adds the output (each joined by a newline; a prompt template adds a few tokens more). For each,
the report gives percentiles and the share of records longer than common cutoffs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from polyplatypus.errors import ConfigError

DEFAULT_CUTOFFS = (256, 512, 1024, 2048)
PERCENTILES = (50, 90, 95, 99)


def prompt_text(record: dict) -> str:
    return record["instruction"] + ("\n" + record["input"] if record.get("input") else "")


def full_text(record: dict) -> str:
    return prompt_text(record) + "\n" + record["output"]


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


def load_tokenizer(tokenizer):
    """A tokenizer object as is, or ``AutoTokenizer.from_pretrained(name_or_path)``."""
    if not isinstance(tokenizer, str):
        return tokenizer
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(tokenizer)
    except Exception as error:  # not found, offline, no tokenizer files, ...
        raise ConfigError(f"cannot load tokenizer {tokenizer!r}: {type(error).__name__}: {error}") from None


def token_lengths(texts: Sequence[str], tokenizer, batch_size: int = 1000) -> list[int]:
    lengths: list[int] = []
    for start in range(0, len(texts), batch_size):
        batch = list(texts[start:start + batch_size])
        encoded = tokenizer(batch, add_special_tokens=False)["input_ids"]
        lengths.extend(len(ids) for ids in encoded)
    return lengths


def token_length_stats(records: Sequence[dict], tokenizer, cutoffs: Sequence[int] = DEFAULT_CUTOFFS) -> dict:
    """Token-length percentiles of prompt and full text, and the share over each cutoff."""
    tokenizer = load_tokenizer(tokenizer)
    prompt = token_lengths([prompt_text(r) for r in records], tokenizer)
    output = token_lengths([r["output"] for r in records], tokenizer)
    full = token_lengths([full_text(r) for r in records], tokenizer)
    return {
        "tokenizer": getattr(tokenizer, "name_or_path", type(tokenizer).__name__),
        "prompt": length_summary(prompt, cutoffs),
        "output": length_summary(output, cutoffs),
        "full": length_summary(full, cutoffs),
    }


def dataset_stats(records: Sequence[dict], *, tokenizer=None, cutoffs: Sequence[int] = DEFAULT_CUTOFFS,
                  group_fields: Sequence[str] = ("origin", "data_source")) -> dict:
    """Counts per value of each grouping field present, character lengths, token lengths."""
    stats: dict = {"records": len(records)}
    for name in group_fields:
        values = Counter(str(r[name]) for r in records if r.get(name) is not None)
        if values:
            stats[f"by_{name}"] = dict(sorted(values.items(), key=lambda kv: (-kv[1], kv[0])))
    stats["characters"] = {
        "prompt": length_summary([len(prompt_text(r)) for r in records]),
        "output": length_summary([len(r["output"]) for r in records]),
    }
    if tokenizer is not None:
        stats["tokens"] = token_length_stats(records, tokenizer, cutoffs)
    return stats


def format_length_table(stats: dict) -> list[str]:
    lines = []
    tokens = stats.get("tokens")
    if tokens:
        lines.append(f"token lengths ({tokens['tokenizer']}):")
        for part in ("prompt", "output", "full"):
            s = tokens[part]
            if not s.get("count"):
                continue
            over = ", ".join(f">{c}: {v:.1%}" for c, v in s.get("share_over", {}).items())
            lines.append(f"  {part:<7} mean {s['mean']:>7} p50 {s['p50']:>6} p90 {s['p90']:>6} "
                         f"p95 {s['p95']:>6} p99 {s['p99']:>6} max {s['max']:>6}   {over}")
    return lines
