"""Batch sizes: a fixed number of rows, or ``auto`` (as many rows of a cell's width as memory holds).

``--batch-size auto`` sizes each batch by the widths of the rows actually in it, not by rows of
the model's full length: a 0-shot COPA cell (rows of ~30 tokens) gets batches of hundreds of
rows, a 50-shot BoolQ cell (rows of 2048) a handful, and both fill the GPU. On CPU memory is
rarely the limit and batching mostly adds padding, so ``auto`` there means one row per batch.
"""

from __future__ import annotations

import weakref
from typing import Sequence

import torch

MAX_AUTO_ROWS = 512  # beyond this a batch's rows are tiny and launches no longer matter
MEMORY_FRACTION = 0.8  # of the memory free after loading the model; the rest absorbs fragmentation
PROBE_TOKENS = 1024

_bytes_per_token: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def rows_that_fit(width: int, free_bytes: float, bytes_per_token: float, *, masked: bool = False,
                  mask_bytes_per_pair: float = 0.0) -> int:
    """Rows of ``width`` tokens whose forward pass fits in ``free_bytes`` (at least 1).

    A row costs ``width × bytes_per_token`` for activations and logits, and, when it carries a
    custom attention mask, ``width² × mask_bytes_per_pair`` (the boolean mask, plus the score
    matrix of SDPA's non-flash kernels, which grows with the square of the width).
    """
    per_row = width * bytes_per_token + (width * width * mask_bytes_per_pair if masked else 0.0)
    return max(1, min(MAX_AUTO_ROWS, int(free_bytes // per_row)))


def measure_bytes_per_token(model) -> float:
    """Peak CUDA memory per token of one forward pass returning logits at every position."""
    if model in _bytes_per_token:
        return _bytes_per_token[model]
    length = min(PROBE_TOKENS, int(getattr(model.config, "max_position_embeddings", PROBE_TOKENS)))
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    with torch.inference_mode():
        logits = model(torch.zeros((1, length), dtype=torch.long, device=model.device)).logits
        torch.log_softmax(logits[:, -8:], dim=-1)
    del logits
    torch.cuda.synchronize()
    value = (torch.cuda.max_memory_allocated() - before) / length
    _bytes_per_token[model] = value
    return value


def mask_bytes_per_pair(model) -> float:
    """Bytes per (query, key) pair of a masked row: the bool mask plus the fp score matrix per head."""
    heads = int(getattr(model.config, "num_attention_heads", 1))
    return 1.0 + heads * next(model.parameters()).element_size()


def chunk_rows(widths: Sequence[int], batch_size: int | str, model=None, *, masked: bool = False,
               free_bytes: float | None = None, bytes_per_token: float | None = None,
               pair_bytes: float | None = None) -> list[range]:
    """Consecutive batches over rows sorted longest first.

    An integer ``batch_size`` gives fixed-size batches. ``"auto"`` on a CUDA model (or with
    ``free_bytes``, ``bytes_per_token`` and ``pair_bytes`` given, as the CPU tests do) fills
    each batch with as many rows as fit at the width of its first (longest) row.
    """
    if batch_size != "auto":
        size = max(1, int(batch_size))
        return [range(start, min(start + size, len(widths))) for start in range(0, len(widths), size)]
    if free_bytes is None or bytes_per_token is None:
        if model is None or model.device.type != "cuda":
            return chunk_rows(widths, 1)
        free_bytes = MEMORY_FRACTION * torch.cuda.mem_get_info(model.device)[0]
        bytes_per_token = measure_bytes_per_token(model)
    if pair_bytes is None:
        pair_bytes = mask_bytes_per_pair(model)
    chunks, start = [], 0
    while start < len(widths):
        rows = rows_that_fit(widths[start], free_bytes, bytes_per_token, masked=masked, mask_bytes_per_pair=pair_bytes)
        chunks.append(range(start, min(start + rows, len(widths))))
        start += rows
    return chunks


def auto_batch_size(model) -> int | str:
    """What ``--batch-size auto`` resolves to: 1 on CPU, else ``"auto"`` (sized per batch by width)."""
    return 1 if model.device.type != "cuda" else "auto"
