"""``--batch-size auto``: batches sized by the widths of their rows, under an injected memory budget."""

import pytest
import torch

from polyplatypus.eval.batching import (
    PACK_ABOVE_PADDING,
    SHORTEST_PACKED_LINE,
    auto_batch_size,
    chunk_rows,
    pack_batches,
    rows_that_fit,
)


def _widths(rows_per_width):
    return [w for w, n in rows_per_width for _ in range(n)]


def test_fixed_batch_size_chunks():
    assert [list(c) for c in chunk_rows([9, 8, 7, 6, 5], 2)] == [[0, 1], [2, 3], [4]]


@pytest.mark.parametrize("masked", [False, True])
def test_auto_fills_the_budget_for_long_and_short_rows(masked):
    free, per_token, pair = 64e6, 4000.0, 33.0
    widths = _widths([(2048, 10), (600, 40), (40, 3000)])  # longest first, as the scorers sort them
    chunks = chunk_rows(widths, "auto", masked=masked, free_bytes=free, bytes_per_token=per_token, pair_bytes=pair)
    assert [i for c in chunks for i in c] == list(range(len(widths)))  # every row once, in order
    for chunk in chunks:
        width = widths[chunk[0]]  # the longest row sets the padded width
        cost = len(chunk) * (width * per_token + (width * width * pair if masked else 0))
        assert cost <= free or len(chunk) == 1
        if chunk[-1] + 1 < len(widths) and widths[chunk[-1] + 1] == width:  # cut short by memory, not by width
            assert cost + width * per_token + (width * width * pair if masked else 0) > free
    long_rows = max(len(c) for c in chunks if widths[c[0]] == 2048)
    short_rows = max(len(c) for c in chunks if widths[c[0]] == 40)
    assert short_rows > 20 * long_rows  # short cells get far more rows per batch than full-length ones


def test_a_row_that_does_not_fit_still_runs_alone():
    assert rows_that_fit(4096, free_bytes=1.0, bytes_per_token=1e6) == 1


def test_auto_on_cpu_is_one_row_per_batch(tiny_gptneox_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_gptneox_dir, dtype=torch.float32)
    assert auto_batch_size(model) == 1
    assert [len(c) for c in chunk_rows([30, 20, 10], "auto", model)] == [1, 1, 1]


def _check_plan(widths, plan, most_lines):
    """Every row once; no line wider than its batch's longest row or SHORTEST_PACKED_LINE; at
    most ``most_lines(width)`` lines."""
    rows = sorted(i for batch in plan for line in batch for i in line)
    assert rows == list(range(len(widths)))
    for batch in plan:
        width = max(widths[i] for line in batch for i in line)
        if any(len(line) > 1 for line in batch):
            width = max(width, SHORTEST_PACKED_LINE)
        assert len(batch) <= most_lines(width)
        assert all(sum(widths[i] for i in line) <= width for line in batch)


@pytest.mark.parametrize("seed", range(5))
def test_fixed_batches_pad_at_most_the_threshold(seed):
    """Rows of scattered lengths at batch 8: every batch pads at most PACK_ABOVE_PADDING, whether
    its rows share a line (packed) or not."""
    import random

    rng = random.Random(seed)
    widths = sorted((rng.choice([rng.randint(5, 40), rng.randint(100, 900)]) for _ in range(300)), reverse=True)
    plan = pack_batches(widths, 8)
    _check_plan(widths, plan, lambda width: 8)
    for batch in plan:
        width = max(sum(widths[i] for i in line) for line in batch)  # the pass's padded width
        assert len(batch) * width <= (1 + PACK_ABOVE_PADDING) * sum(widths[i] for line in batch for i in line)
    assert any(len(line) > 1 for batch in plan for line in batch)  # short rows did fill long lines


def test_rows_of_one_length_are_chunk_rows_batches():
    widths = [64] * 20 + [63] * 5
    plan = pack_batches(widths, 8)
    assert plan == [[[i] for i in chunk] for chunk in chunk_rows(widths, 8)]


def test_auto_packs_short_rows_beside_long_ones():
    """Memory for three masked 900-token lines: two long rows, then a 600-token row whose line
    takes ten 30-token rows; the rest of the short rows fill later batches."""
    free, per_token, pair = 95e6, 4000.0, 33.0
    widths = _widths([(900, 2), (600, 1), (30, 40)])
    plan = pack_batches(widths, "auto", masked=True, free_bytes=free, bytes_per_token=per_token, pair_bytes=pair)
    _check_plan(
        widths, plan, lambda width: rows_that_fit(width, free, per_token, masked=True, mask_bytes_per_pair=pair)
    )
    assert [len(line) for line in plan[0]] == [1, 1, 11]
