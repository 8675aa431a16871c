"""Choosing a batch size from memory (``--batch-size auto``)."""

from __future__ import annotations

import torch

from polyplatypus.eval.scorer import model_max_length


def auto_batch_size(model, *, start: int = 64, sequence_length: int | None = None) -> int:
    """The largest batch of full-length rows that runs a forward pass without running out of memory.

    On CPU memory is rarely the limit and batching mostly adds padding, so the answer is 1.
    """
    if model.device.type != "cuda":
        return 1
    length = sequence_length or model_max_length(model)
    size = start
    while size > 1:
        try:
            with torch.inference_mode():
                batch = torch.zeros((size, length), dtype=torch.long, device=model.device)
                logits = model(batch).logits
                torch.log_softmax(logits[:, -1:], dim=-1)
            del logits, batch
            torch.cuda.empty_cache()
            return size
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            size //= 2
    return 1
