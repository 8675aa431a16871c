"""Batch sizes: a fixed number of rows, or ``auto`` (as many rows of a cell's width as memory holds).

The shared-context scorer also packs: where a batch of rows sorted by length would waste more
than :data:`PACK_ABOVE_PADDING` of its tokens on padding (a cell whose rows differ in length, the
short tail of a cell), the room beside the longest row is filled with whole shorter rows that
would otherwise wait for a later batch (see :func:`pack_batches`).

``--batch-size auto`` sizes each batch by the widths of the rows actually in it, not by rows of
the model's full length: a 0-shot COPA cell (rows of ~30 tokens) gets batches of hundreds of
rows, a 50-shot BoolQ cell (rows of 2048) a handful, and both fill the GPU. On CPU memory is
rarely the limit and batching mostly adds padding, so ``auto`` there means one row per batch.
"""

from __future__ import annotations

import heapq
import weakref
from bisect import bisect_right
from typing import Callable, Sequence

import torch

MAX_AUTO_ROWS = 512  # beyond this a batch's rows are tiny and launches no longer matter
MEMORY_FRACTION = 0.8  # of the memory free after loading the model; the rest absorbs fragmentation
PROBE_TOKENS = 1024
# A batch of rows sorted by length whose padding exceeds this fraction of its real tokens is packed
# instead. Below it the rows keep a line each: a mask-free causal batch stays mask-free (SDPA's
# causal kernels), and a few pad tokens cost less than a packed line's block-diagonal mask.
# With a fixed batch size no line pads more than this either: it waits for a later, narrower batch.
PACK_ABOVE_PADDING = 0.02
# Packed lines are at least this wide: short rows (0-shot COPA's ~30 tokens) then share a line with
# many others, so a pass is not spent on padding or on a handful of tiny rows. The block-diagonal
# mask makes each token attend over the line (at most this many keys) instead of its own row:
# small beside a transformer layer's per-token cost.
SHORTEST_PACKED_LINE = 256

_bytes_per_token: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def rows_that_fit(
    width: int, free_bytes: float, bytes_per_token: float, *, masked: bool = False, mask_bytes_per_pair: float = 0.0
) -> int:
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


def batch_sizer(
    batch_size: int | str,
    model=None,
    *,
    free_bytes: float | None = None,
    bytes_per_token: float | None = None,
    pair_bytes: float | None = None,
) -> Callable[[int, bool], int]:
    """``lines(width, masked)``: how many rows of ``width`` tokens one batch holds.

    An integer ``batch_size`` is that many rows whatever their width. ``"auto"`` on a CUDA model
    (or with ``free_bytes``, ``bytes_per_token`` and ``pair_bytes`` given, as the CPU tests do)
    is as many rows as fit in memory at that width; on CPU it is one row.
    """
    if batch_size != "auto":
        size = max(1, int(batch_size))
        return lambda width, masked: size
    if free_bytes is None or bytes_per_token is None:
        if model is None or model.device.type != "cuda":
            return lambda width, masked: 1
        free_bytes = MEMORY_FRACTION * torch.cuda.mem_get_info(model.device)[0]
        bytes_per_token = measure_bytes_per_token(model)
    if pair_bytes is None:
        pair_bytes = mask_bytes_per_pair(model)
    return lambda width, masked: rows_that_fit(
        width, free_bytes, bytes_per_token, masked=masked, mask_bytes_per_pair=pair_bytes
    )


def chunk_rows(
    widths: Sequence[int], batch_size: int | str, model=None, *, masked: bool = False, **budget
) -> list[range]:
    """Consecutive batches over rows sorted longest first, each as many rows as
    :func:`batch_sizer` allows at the width of its first (longest) row."""
    lines = batch_sizer(batch_size, model, **budget)
    chunks, start = [], 0
    while start < len(widths):
        rows = lines(widths[start], masked)
        chunks.append(range(start, min(start + rows, len(widths))))
        start += rows
    return chunks


class _Waiting:
    """Rows not yet batched, by width: the longest, or the longest that fits a given room."""

    def __init__(self, widths: Sequence[int]):
        self.widths = widths
        self.rows: dict[int, list[int]] = {}
        for index in reversed(range(len(widths))):  # popped from the end: the earliest row of a width first
            self.rows.setdefault(widths[index], []).append(index)
        self.sizes = sorted(self.rows)

    def __bool__(self) -> bool:
        return bool(self.sizes)

    def longest(self) -> int:
        return self.sizes[-1]

    def next_rows(self, count: int) -> list[int]:
        """The ``count`` longest rows, longest first, left waiting."""
        found = []
        for size in reversed(self.sizes):
            found += reversed(self.rows[size][-(count - len(found)) :])
            if len(found) >= count:
                break
        return found

    def put_back(self, index: int) -> None:
        size = self.widths[index]
        if size not in self.rows:
            self.rows[size] = []
            self.sizes.insert(bisect_right(self.sizes, size), size)
        self.rows[size].append(index)
        self.rows[size].sort(reverse=True)

    def take(self, room: int) -> int | None:
        """Remove and return the longest row of at most ``room`` tokens (None if none fits)."""
        place = bisect_right(self.sizes, room) - 1
        if place < 0:
            return None
        size = self.sizes[place]
        index = self.rows[size].pop()
        if not self.rows[size]:
            del self.rows[size], self.sizes[place]
        return index


def pack_batches(
    widths: Sequence[int], batch_size: int | str, model=None, *, masked: bool = False, **budget
) -> list[list[list[int]]]:
    """Batches of lines over rows sorted longest first; a line is one row or several rows end to end.

    Each batch is first the next rows longest first, one per line, as :func:`chunk_rows` cuts
    them. If that batch's padding exceeds :data:`PACK_ABOVE_PADDING`, it is packed instead: its
    lines are as wide as its longest row (at least :data:`SHORTEST_PACKED_LINE`), and each row, longest first, goes into the line with
    the most room if it fits there, else opens a line while the batch may hold more (at a masked
    row's memory cost: a packed line needs a mask), else the roomiest line takes the longest row
    that still fits it. The batch ends when no waiting row fits any line. With a fixed batch size
    a line that still pads more than that fraction is left for a later batch (one line is always
    kept), so the tokens forwarded stay within it of the rows' own (``auto`` fills memory instead: many short rows in
    one pass outweigh their padding on a GPU).
    """
    lines = batch_sizer(batch_size, model, **budget)
    waiting, batches = _Waiting(widths), []
    while waiting:
        width = waiting.longest()
        plain = waiting.next_rows(lines(width, masked))
        if len(plain) * width <= (1 + PACK_ABOVE_PADDING) * sum(widths[i] for i in plain):
            batches.append([[waiting.take(widths[i])] for i in plain])
            continue
        line_width = max(width, SHORTEST_PACKED_LINE)
        batch = _packed_batch(waiting, line_width, lines(line_width, True))
        if batch_size != "auto":
            batch = _well_filled(batch, line_width, widths, waiting)
        batches.append(batch)
    return batches


def _well_filled(batch: list[list[int]], line_width: int, widths: Sequence[int], waiting: _Waiting) -> list[list[int]]:
    """The lines that pad at most PACK_ABOVE_PADDING (else the fullest line alone: a line by itself
    has no padding); the other lines' rows go back to ``waiting``."""

    def fill(line):
        return sum(widths[i] for i in line)

    kept = [line for line in batch if line_width <= (1 + PACK_ABOVE_PADDING) * fill(line)] or [max(batch, key=fill)]
    for line in batch:
        if not any(line is other for other in kept):
            for index in line:
                waiting.put_back(index)
    return kept


def _packed_batch(waiting: _Waiting, width: int, most_lines: int) -> list[list[int]]:
    batch: list[list[int]] = []
    rooms: list[tuple[int, int]] = []  # (-room, line): a heap with the roomiest line on top
    while waiting:
        room = -rooms[0][0] if rooms else 0
        if waiting.longest() > room and len(batch) < most_lines:
            row = waiting.take(waiting.longest())
            batch.append([row])
            heapq.heappush(rooms, (waiting.widths[row] - width, len(batch) - 1))
            continue
        row = waiting.take(room)
        if row is None:
            break
        _, line = heapq.heappop(rooms)
        batch[line].append(row)
        heapq.heappush(rooms, (-(room - waiting.widths[row]), line))
    return batch


def auto_batch_size(model) -> int | str:
    """What ``--batch-size auto`` resolves to: 1 on CPU, else ``"auto"`` (sized per batch by width)."""
    return 1 if model.device.type != "cuda" else "auto"
