"""The decode cache's ReservedLayer holds exactly what transformers' DynamicLayer holds under every
operation the engine applies (the same calls on both, compared element for element: copying is
exact), and a decode step writes into reserved room instead of copying the cache."""

import torch
from transformers.cache_utils import DynamicLayer

from polyplatypus.eval.generation import CACHE_RESERVE, _reserved_layer_class


def _states(rows: int, positions: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(rows, 2, positions, 4, generator=generator), torch.randn(
        rows, 2, positions, 4, generator=generator
    )


def _same(reserved, dynamic) -> None:
    assert reserved.get_seq_length() == dynamic.get_seq_length()
    assert torch.equal(reserved.keys, dynamic.keys) and torch.equal(reserved.values, dynamic.values)


def test_updates_pads_writes_trims_and_selections_equal_a_dynamic_layer():
    reserved, dynamic = _reserved_layer_class()(), DynamicLayer()
    for layer in (reserved, dynamic):  # a prefill of 3 rows
        returned = layer.update(*_states(3, 7, seed=0))
    assert torch.equal(returned[0], reserved.keys)
    _same(reserved, dynamic)
    for step in range(1, 2 * CACHE_RESERVE):  # decode steps, past the first reserve
        for layer in (reserved, dynamic):
            keys, values = layer.update(*_states(3, 1, seed=step))
        _same(reserved, dynamic)
        assert torch.equal(keys, dynamic.keys) and torch.equal(values, dynamic.values)
    for layer in (reserved, dynamic):  # the engine widens rows on the left, adds a row, refills a slot
        layer.keys = torch.nn.functional.pad(layer.keys, (0, 0, 5, 0))
        layer.values = torch.nn.functional.pad(layer.values, (0, 0, 5, 0))
        layer.keys = torch.cat([layer.keys, torch.zeros_like(layer.keys[:1])])
        layer.values = torch.cat([layer.values, torch.zeros_like(layer.values[:1])])
        fill_keys, fill_values = _states(1, 9, seed=99)
        layer.keys[3, :, -9:] = fill_keys[0]
        layer.values[3, :, -9:] = fill_values[0]
    _same(reserved, dynamic)
    for step in range(3):
        for layer in (reserved, dynamic):
            layer.update(*_states(4, 1, seed=200 + step))
        _same(reserved, dynamic)
    for layer in (reserved, dynamic):  # a finished row leaves, unused columns are trimmed
        index = torch.tensor([0, 2, 3])
        layer.keys = layer.keys.index_select(0, index)[:, :, 4:]
        layer.values = layer.values.index_select(0, index)[:, :, 4:]
        layer.update(*_states(3, 1, seed=300))
        layer.crop(-2)
        layer.update(*_states(3, 2, seed=301))
    _same(reserved, dynamic)


def test_a_decode_step_writes_in_place_within_the_reserve():
    layer = _reserved_layer_class()()
    layer.update(*_states(2, 100, seed=0))
    buffer = layer._buffers["keys"]
    capacity = buffer.shape[-2]
    assert capacity == 100 + CACHE_RESERVE  # an eighth of 100 is less than the minimum reserve
    for step in range(capacity - 100):
        layer.update(*_states(2, 1, seed=step + 1))
        assert layer._buffers["keys"] is buffer  # written into the reserve: no copy of the cache
    assert layer.get_seq_length() == capacity
    layer.update(*_states(2, 1, seed=0))  # full: grows once, by an eighth or the minimum
    assert layer._buffers["keys"] is not buffer
    assert layer._buffers["keys"].shape[-2] == capacity + 1 + max(CACHE_RESERVE, (capacity + 1) // 8)
