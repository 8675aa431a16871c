"""Which examples go into which optimizer step, forward pass and row, and the loss over them.

The plan is global and deterministic: every epoch is a permutation drawn from ``seed + epoch``,
cut into steps of ``batch_size`` examples. Each process takes its contiguous share of a step
and splits it into micro-batches (``micro_batch_size`` examples, or with ``packing`` up to
``micro_batch_size`` rows of several examples each, up to the cutoff). Because the plan depends
only on the seed, a resumed run skips the finished steps and sees the same data in the same
order, on any number of processes.

The objective is the mean over a step's examples of each example's mean token loss: with the
Platypus micro batch of 1 this is exactly what HF Trainer optimised, and it makes the loss of a
step independent of how its examples are grouped into passes, padded or packed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import count
from typing import Iterator, Sequence

from polyplatypus.train.tokenize import IGNORE_INDEX, TokenizedExample

MEGABATCH_STEPS = 50  # group_by_length sorts within windows of this many steps (as HF's sampler)


def epoch_order(n: int, *, seed: int, epoch: int) -> list[int]:
    import torch

    generator = torch.Generator().manual_seed(seed + epoch)
    return torch.randperm(n, generator=generator).tolist()


def group_by_length(order: Sequence[int], lengths: Sequence[int], window: int) -> list[int]:
    """Sort each window of ``order`` by length, longest first, so steps hold similar lengths."""
    grouped: list[int] = []
    for start in range(0, len(order), window):
        grouped += sorted(order[start : start + window], key=lambda i: -lengths[i])
    return grouped


def epoch_steps(
    lengths: Sequence[int], *, batch_size: int, world_size: int, seed: int, epoch: int,
    group_by_len: bool = False,
) -> list[list[int]]:
    """One epoch cut into global steps of ``batch_size`` example indices. The last, shorter step
    is trimmed to a multiple of ``world_size`` so that every process has work in every step."""
    order = epoch_order(len(lengths), seed=seed, epoch=epoch)
    if group_by_len:
        order = group_by_length(order, lengths, MEGABATCH_STEPS * batch_size)
    steps = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if steps and len(steps[-1]) % world_size:
        steps[-1] = steps[-1][: len(steps[-1]) - len(steps[-1]) % world_size]
    return [s for s in steps if s]


def steps_per_epoch(n_examples: int, batch_size: int, world_size: int) -> int:
    full, rest = divmod(n_examples, batch_size)
    return full + (1 if rest >= world_size else 0)


def iter_steps(
    lengths: Sequence[int], *, batch_size: int, world_size: int, seed: int, group_by_len: bool = False,
) -> Iterator[tuple[int, list[int]]]:
    """(epoch, step examples) for ever; the caller stops after its number of steps."""
    for epoch in count():
        for step in epoch_steps(lengths, batch_size=batch_size, world_size=world_size, seed=seed,
                                epoch=epoch, group_by_len=group_by_len):
            yield epoch, step


def rank_share(step: Sequence[int], rank: int, world_size: int) -> list[int]:
    per_rank = len(step) // world_size
    return list(step[rank * per_rank : (rank + 1) * per_rank])


def pack(indices: Sequence[int], lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """First-fit decreasing: rows of examples whose total length stays within ``capacity``."""
    rows: list[list[int]] = []
    room: list[int] = []
    for i in sorted(indices, key=lambda i: -lengths[i]):
        for r, free in enumerate(room):
            if lengths[i] <= free:
                rows[r].append(i)
                room[r] -= lengths[i]
                break
        else:
            rows.append([i])
            room.append(capacity - lengths[i])
    return rows


def micro_batches(
    indices: Sequence[int], lengths: Sequence[int], *, micro_batch_size: int, packing: bool = False,
    capacity: int = 0,
) -> list[list[list[int]]]:
    """Split one process's share of a step into forward passes: each a list of rows, each row a
    list of example indices (one example per row unless ``packing``)."""
    rows = pack(indices, lengths, capacity) if packing else [[i] for i in indices]
    return [rows[i : i + micro_batch_size] for i in range(0, len(rows), micro_batch_size)]


@dataclass
class Batch:
    input_ids: "object"  # LongTensor [rows, length]
    position_ids: "object"  # positions restart at 0 for every example in a row
    targets: "object"  # the label each position predicts (already shifted), -100 where none
    example_index: "object"  # which example (0..n_examples-1) each position belongs to, -1 for padding
    n_examples: int
    n_tokens: int  # real (non-padding) tokens
    cu_seq_lens: "object" = None  # flattened packed batch: example boundaries (int32, flash-attention style)
    max_length: int = 0

    def to(self, device) -> "Batch":
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Batch(move(self.input_ids), move(self.position_ids), move(self.targets), move(self.example_index),
                     self.n_examples, self.n_tokens, move(self.cu_seq_lens), self.max_length)

    def model_inputs(self) -> dict:
        inputs = {"input_ids": self.input_ids, "position_ids": self.position_ids, "use_cache": False}
        if self.cu_seq_lens is not None:
            inputs.update(cu_seq_lens_q=self.cu_seq_lens, cu_seq_lens_k=self.cu_seq_lens,
                          max_length_q=self.max_length, max_length_k=self.max_length)
        return inputs


def collate(rows: Sequence[Sequence[TokenizedExample]], pad_token_id: int, *, flatten: bool = False) -> Batch:
    """Concatenate each row's examples (position ids restarting per example), pad rows on the
    right. No attention mask is built: the models see the restarting position ids and keep
    packed examples apart (block-diagonal causal attention), and right padding is never
    attended to by the real tokens before it.

    ``flatten`` puts all examples into one row without padding and adds the example boundaries
    that per-example attention reads (``packed_sdpa``, flash-attention varlen)."""
    import torch

    if flatten:
        rows = [[e for row in rows for e in row]]
    width = max(sum(len(e) for e in row) for row in rows)
    ids, pos, tgt, idx = ([] for _ in range(4))
    n = 0
    for row in rows:
        r_ids, r_pos, r_tgt, r_idx = [], [], [], []
        for example in row:
            r_ids += example.input_ids
            r_pos += range(len(example))
            r_tgt += example.labels[1:] + [IGNORE_INDEX]
            r_idx += [n] * len(example)
            n += 1
        pad = width - len(r_ids)
        next_pos = (r_pos[-1] + 1) if r_pos else 0
        ids.append(r_ids + [pad_token_id] * pad)
        pos.append(r_pos + list(range(next_pos, next_pos + pad)))
        tgt.append(r_tgt + [IGNORE_INDEX] * pad)
        idx.append(r_idx + [-1] * pad)
    tensor = lambda rows_: torch.tensor(rows_, dtype=torch.long)  # noqa: E731
    n_tokens = sum(len(e) for row in rows for e in row)
    batch = Batch(tensor(ids), tensor(pos), tensor(tgt), tensor(idx), n, n_tokens)
    if flatten:
        lengths = [len(e) for e in rows[0]]
        bounds = [0]
        for length in lengths:
            bounds.append(bounds[-1] + length)
        batch.cu_seq_lens = torch.tensor(bounds, dtype=torch.int32)
        batch.max_length = max(lengths)
    return batch


def example_losses(logits, batch: Batch):
    """Each example's mean token loss (float32), shape [n_examples]. ``logits`` cover every
    position ``[rows, length, vocab]``, or only the positions with a target ``[n_targets, vocab]``."""
    import torch
    import torch.nn.functional as F

    keep = batch.targets != IGNORE_INDEX
    if logits.ndim == 2 and logits.shape[0] != int(keep.sum()):
        raise RuntimeError(f"the model returned {logits.shape[0]} logit rows for {int(keep.sum())} targets")
    flat = (logits[keep] if logits.ndim == 3 else logits).float()
    token_loss = F.cross_entropy(flat, batch.targets[keep], reduction="none")
    owner = batch.example_index[keep]
    sums = torch.zeros(batch.n_examples, device=flat.device).index_add(0, owner, token_loss)
    counts = torch.zeros(batch.n_examples, device=flat.device).index_add(0, owner, torch.ones_like(token_loss))
    return sums / counts.clamp(min=1)


def forward_losses(model, batch: Batch):
    """Run ``model`` on ``batch`` and return each example's mean loss. Where transformers can, the
    output layer runs only at positions that have a target (with ``train_on_inputs`` false, not
    over the prompt), which saves the vocabulary-sized logits of every prompt token."""
    inputs = batch.model_inputs()
    if _mask_logits_supported():
        inputs["logits_to_keep"] = batch.targets != IGNORE_INDEX
    return example_losses(model(**inputs).logits, batch)


@lru_cache(maxsize=1)
def _mask_logits_supported() -> bool:
    """Whether transformers slices the hidden states with a boolean ``logits_to_keep`` mask."""
    import torch
    from transformers import modeling_utils

    slicer = getattr(modeling_utils, "slice_logits_to_keep", None)
    if slicer is None:
        return False
    try:
        return tuple(slicer(torch.zeros(1, 3, 2), torch.tensor([[True, False, True]])).shape) == (2, 2)
    except Exception:  # an older signature or other semantics
        return False
