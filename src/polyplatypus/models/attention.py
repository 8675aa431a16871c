"""Per-example attention for packed rows: ``packed_sdpa``, the attention every training run uses
unless ``--attn-implementation`` names another.

A packed micro-batch is one row of several examples with position ids restarting per example,
plus the flash-attention-style boundaries ``cu_seq_lens_q``/``cu_seq_lens_k`` (cumulative
example lengths) and ``max_length_q``. How the attention keeps the examples apart depends on
the implementation:

* ``packed_sdpa`` (registered here): every linear layer runs on the whole row at once; for
  attention the examples are laid side by side in a padded batch ``[examples, heads, longest,
  dim]`` and causal SDPA runs once. Padding sits after each example, so causality keeps it out
  of every real position: the result is exact, and no attention is computed across examples.
  Without boundaries (one example per row) it is transformers' SDPA with ``is_causal``.
  Because transformers knows no mask for this name, it builds none: for ``sdpa`` it would scan
  the position ids for packed sequences on every forward pass (a read-back that stalls the
  host) and, when it finds some, attend through a materialised mask instead of ``is_causal``.
* ``flash_attention_2``: transformers' varlen kernel reads the same boundaries.
* ``sdpa`` / ``eager``: transformers builds a block-diagonal causal mask from the restarting
  position ids. Exact too, but it computes (and masks) attention over the whole row.
"""

from __future__ import annotations

NAME = "packed_sdpa"
_BOUNDARY_KWARGS = ("cu_seq_lens_q", "cu_seq_lens_k", "max_length_q", "max_length_k")


def packed_sdpa_attention(module, query, key, value, attention_mask, cu_seq_lens_q=None, max_length_q=None,
                          **kwargs):
    """transformers attention interface: query/key/value ``[1, heads, tokens, dim]``; returns
    ``([1, tokens, heads, dim], None)``. Without boundaries it is transformers' SDPA."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    kwargs = {k: v for k, v in kwargs.items() if k not in _BOUNDARY_KWARGS}
    if cu_seq_lens_q is None or query.shape[0] != 1 or query.shape[2] != key.shape[2]:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    n, longest, slot = _slots(cu_seq_lens_q, max_length_q, query.shape[2], query.device)

    def spread(states):  # [1, heads, tokens, dim] -> [n, heads, longest, dim]
        heads, dim = states.shape[1], states.shape[3]
        padded = states.new_zeros(n * longest, heads, dim).index_copy(0, slot, states[0].transpose(0, 1))
        return padded.view(n, longest, heads, dim).transpose(1, 2)

    out, _ = sdpa_attention_forward(module, spread(query), spread(key), spread(value), None, **kwargs)
    # out: [n, longest, heads, dim] -> the tokens' rows, back in packed order
    return out.reshape(n * longest, *out.shape[2:]).index_select(0, slot).unsqueeze(0), None


_last_slots: tuple = (None, None)  # (boundaries tensor, its slots): every layer of a pass shares them


def _slots(cu_seq_lens, max_length, tokens: int, device):
    """(examples, longest, each token's row in the padded ``[examples * longest]`` layout). Computed
    once per forward pass (the layers get the same boundaries tensor; holding it keeps its
    identity unique) and on the device, so nothing waits for the GPU. ``max_length`` comes from
    the host with the boundaries; deriving it here would read a value back from the device."""
    global _last_slots
    import torch

    cached, value = _last_slots
    if cached is cu_seq_lens:
        return value
    cu = cu_seq_lens.to(device=device, dtype=torch.long)
    lengths = cu[1:] - cu[:-1]
    n = lengths.shape[0]
    longest = int(max_length) if max_length else int(lengths.max())
    starts = torch.repeat_interleave(cu[:-1], lengths, output_size=tokens)
    example = torch.repeat_interleave(torch.arange(n, device=device), lengths, output_size=tokens)
    value = (n, longest, example * longest + torch.arange(tokens, device=device) - starts)
    _last_slots = (cu_seq_lens, value)
    return value


def register() -> str:
    """Make ``packed_sdpa`` available as an ``attn_implementation``; returns its name."""
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, packed_sdpa_attention)
    return NAME
