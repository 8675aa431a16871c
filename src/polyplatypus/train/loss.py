"""The model call and the training objective of one forward pass.

The objective of an optimizer step is the mean over its examples of each example's mean token
loss: with the Platypus micro batch of 1 and gradient accumulation this is exactly what HF
Trainer optimised, and it makes a step's loss independent of how its examples are grouped into
passes, padded or packed. Everything here runs on the device without reading a value back to
the host: the positions, targets and counts come precomputed in the :class:`Batch`.
"""

from __future__ import annotations

from functools import lru_cache

from polyplatypus.train.batching import Batch


def forward_losses(model, batch: Batch):
    """Run ``model`` on ``batch`` and return each example's mean loss (float32, ``[n_examples]``).
    The output layer runs only at positions that have a target (with ``train_on_inputs`` false,
    not over the prompt): that saves the vocabulary-sized logits of every prompt token."""
    inputs = batch.model_inputs()
    if _position_logits_supported():
        inputs["logits_to_keep"] = batch.keep_positions
    return example_losses(model(**inputs).logits, batch)


def example_losses(logits, batch: Batch):
    """Each example's mean token loss (float32), shape ``[n_examples]``. ``logits`` cover every
    position ``[rows, width, vocab]`` or only ``batch.keep_positions`` ``[rows, kept, vocab]``."""
    import torch
    import torch.nn.functional as F

    rows, kept = batch.keep_positions.shape
    if logits.shape[:2] == batch.input_ids.shape and logits.shape[1] != kept:  # every position
        logits = torch.take_along_dim(logits, batch.keep_positions[..., None], dim=1)
    elif logits.shape[:2] != (rows, kept):
        raise RuntimeError(
            f"the model returned logits of shape {tuple(logits.shape)}; expected "
            f"{(rows, kept)} (kept positions) or {tuple(batch.input_ids.shape)} (all)"
        )
    flat = logits.reshape(rows * kept, logits.shape[-1])
    if batch.target_rows is not None:
        flat = flat.index_select(0, batch.target_rows)
    token_loss = F.cross_entropy(flat.float(), batch.target_ids, reduction="none")
    sums = token_loss.new_zeros(batch.n_examples).index_add_(0, batch.target_owner, token_loss)
    return sums / batch.example_targets


@lru_cache(maxsize=1)
def _position_logits_supported() -> bool:
    """Whether transformers slices the hidden states at ``[rows, kept]`` integer positions
    (``logits_to_keep`` as a 2D tensor) before the output layer."""
    import torch
    from transformers import modeling_utils

    slicer = getattr(modeling_utils, "slice_logits_to_keep", None)
    if slicer is None:
        return False
    try:
        hidden = torch.arange(6.0).view(1, 3, 2)
        return slicer(hidden, torch.tensor([[2, 0]])).tolist() == [[[4.0, 5.0], [0.0, 1.0]]]
    except Exception:  # an older signature or other semantics
        return False
