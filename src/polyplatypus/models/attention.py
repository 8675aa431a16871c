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
  Without boundaries (one example per row) it is transformers' SDPA with ``is_causal``. Sliding-window
  layers (Gemma 3, EXAONE 4) get their window as a boolean mask in both cases.
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


def packed_sdpa_attention(
    module, query, key, value, attention_mask, cu_seq_lens_q=None, max_length_q=None, sliding_window=None, **kwargs
):
    """transformers attention interface: query/key/value ``[1, heads, tokens, dim]``; returns
    ``([1, tokens, heads, dim], None)``. Without boundaries it is transformers' SDPA. A
    sliding-window layer (``sliding_window``, given by Gemma 3's and EXAONE 4's layers) gets the
    window as a mask: transformers builds none for this implementation, and SDPA's ``is_causal``
    alone would let it see the whole example."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    kwargs = {k: v for k, v in kwargs.items() if k not in _BOUNDARY_KWARGS}
    if cu_seq_lens_q is None or query.shape[0] != 1 or query.shape[2] != key.shape[2]:
        if attention_mask is None:
            attention_mask = _window(query.shape[2], key.shape[2], sliding_window, query.device)
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    n, longest, slot = _slots(cu_seq_lens_q, max_length_q, query.shape[2], query.device)

    def spread(states):  # [1, heads, tokens, dim] -> [n, heads, longest, dim]
        heads, dim = states.shape[1], states.shape[3]
        padded = states.new_zeros(n * longest, heads, dim).index_copy(0, slot, states[0].transpose(0, 1))
        return padded.view(n, longest, heads, dim).transpose(1, 2)

    window = _window(longest, longest, sliding_window, query.device)
    out, _ = sdpa_attention_forward(module, spread(query), spread(key), spread(value), window, **kwargs)
    # out: [n, longest, heads, dim] -> the tokens' rows, back in packed order
    return out.reshape(n * longest, *out.shape[2:]).index_select(0, slot).unsqueeze(0), None


def _window(queries: int, keys: int, sliding_window, device):
    """Boolean ``[1, 1, queries, keys]``: causal, and no key ``sliding_window`` or more tokens
    before the query (transformers' rule); None where the window cuts nothing (plain causal)."""
    if not sliding_window or keys <= sliding_window:
        return None
    import torch

    query_at = torch.arange(keys - queries, keys, device=device)[:, None]  # the queries are the last keys
    distance = query_at - torch.arange(keys, device=device)[None, :]
    return ((distance >= 0) & (distance < sliding_window))[None, None]


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


# --- custom masks for models with sliding-window layers -----------------------------------------

FULL, SLIDING = "full_attention", "sliding_attention"  # transformers' names of the layer types


def sliding_window(config) -> int | None:
    """The window of ``config``'s sliding-window layers (Gemma 3, EXAONE 4: every layer whose type
    is ``sliding_attention`` sees only the last ``window`` tokens, itself included); None when
    every layer attends to the whole sequence. A layer type transformers' masks know by another
    name (chunked, linear attention) is an error: a custom mask cannot be made exact for it."""
    from polyplatypus.errors import ConfigError

    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    types = set(layer_types(config))
    if types <= {FULL}:
        return None
    if not types <= {FULL, SLIDING} or not getattr(text, "sliding_window", None):
        raise ConfigError(
            f"cannot build exact attention masks for {text.model_type!r}: its layer types "
            f"{', '.join(sorted(types))} (only {FULL} and {SLIDING} with a sliding_window are known)"
        )
    return int(text.sliding_window)


def layer_types(config) -> list[str]:
    """Each decoder layer's attention type. A config without ``layer_types`` but with a
    ``sliding_window`` (Mistral, Phi-3: every layer slides) is all sliding."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    named = getattr(text, "layer_types", None)
    if named:
        return list(named)
    kind = SLIDING if getattr(text, "sliding_window", None) else FULL
    return [kind] * int(getattr(text, "num_hidden_layers", 1) or 1)


def masks_per_layer_type(config, allowed, positions):
    """A custom 4D mask as the model should get it. transformers applies a 4D mask to every layer
    as is, so a mask made for full attention would let sliding layers see past their window:
    for a model with such layers this is ``{layer type: mask}`` (which Gemma 3's and EXAONE 4's
    models take instead of one mask), the sliding layers' mask also hiding every key at
    ``window`` or more positions before the query (transformers' own rule, ``kv > q - window``).
    Where every layer slides (Mistral) it is the windowed mask alone.

    ``allowed``: boolean ``[batch, 1, queries, keys]``; ``positions``: ``[batch, tokens]``, each
    token's position in the sequence it belongs to (the distances are taken between them, so
    rows packed side by side or branching after a shared context keep their own)."""
    if sliding_window(config) is None:
        return allowed
    return masks_by_distance(config, allowed, positions[:, None, :, None] - positions[:, None, None, :])


def masks_by_distance(config, allowed, distance):
    """:func:`masks_per_layer_type` from each query's ``distance`` to each key (query position
    minus key position, broadcastable to ``allowed``): for queries that are not the keys themselves,
    e.g. one decoding step over a cache where each row's keys sit at their own columns."""
    window = sliding_window(config)
    if window is None:
        return allowed
    windowed = allowed & (distance < window)
    return windowed if set(layer_types(config)) == {SLIDING} else {FULL: allowed, SLIDING: windowed}
