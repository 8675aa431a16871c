"""``--batch-size auto``: batches sized by the widths of their rows, under an injected memory budget."""

import pytest
import torch

from polyplatypus.eval.batching import auto_batch_size, chunk_rows, rows_that_fit


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
