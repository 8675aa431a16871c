"""Which examples go into which optimizer step, forward pass and row, and the tensors of a pass.

The plan is global and deterministic: every epoch is a permutation drawn from ``seed + epoch``,
cut into steps of ``batch_size`` examples. Each process takes its contiguous share of a step
and splits it into micro-batches (``micro_batch_size`` examples, or with ``packing`` up to
``micro_batch_size`` rows of several examples each, up to the cutoff). Because the plan depends
only on the seed, a resumed run skips the finished steps and sees the same data in the same
order, on any number of processes. The loss over a pass is in ``loss.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import count
from typing import Iterator, Sequence

from polyplatypus.data.tokenize import IGNORE_INDEX, TokenizedExample

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
    lengths: Sequence[int],
    *,
    batch_size: int,
    world_size: int,
    seed: int,
    epoch: int,
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
    lengths: Sequence[int],
    *,
    batch_size: int,
    world_size: int,
    seed: int,
    group_by_len: bool = False,
) -> Iterator[tuple[int, list[int]]]:
    """(epoch, step examples) for ever; the caller stops after its number of steps."""
    for epoch in count():
        for step in epoch_steps(
            lengths, batch_size=batch_size, world_size=world_size, seed=seed, epoch=epoch, group_by_len=group_by_len
        ):
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
    indices: Sequence[int],
    lengths: Sequence[int],
    *,
    micro_batch_size: int,
    packing: bool = False,
    capacity: int = 0,
) -> list[list[list[int]]]:
    """Split one process's share of a step into forward passes: each a list of rows, each row a
    list of example indices (one example per row unless ``packing``)."""
    rows = pack(indices, lengths, capacity) if packing else [[i] for i in indices]
    return [rows[i : i + micro_batch_size] for i in range(0, len(rows), micro_batch_size)]


@dataclass
class Batch:
    """One forward pass. Everything the loss needs is computed here, on the host, from the
    token lists: the device then never has to report a count or a mask back (each such read,
    e.g. ``int(mask.sum())`` or ``logits[mask]``, stops the host until the GPU has caught up,
    so it cannot queue the next kernels)."""

    input_ids: "object"  # LongTensor [rows, width], right-padded
    position_ids: "object"  # restarting per example; None when every row holds one example
    keep_positions: "object"  # LongTensor [rows, kept]: positions whose logits the loss reads
    target_rows: (
        "object"  # LongTensor [n_targets]: row of the kept logits [rows * kept] for each target, or None (in order)
    )
    target_ids: "object"  # LongTensor [n_targets]: the token each target position predicts
    target_owner: "object"  # LongTensor [n_targets]: which example (0..n_examples-1) it belongs to
    example_targets: "object"  # LongTensor [n_examples]: targets of each example (at least 1)
    n_examples: int
    n_tokens: int  # real (non-padding) tokens
    cu_seq_lens: "object" = None  # flattened packed batch: example boundaries (flash-attention style)
    max_length: int = 0

    _TENSORS = (
        "input_ids",
        "position_ids",
        "keep_positions",
        "target_rows",
        "target_ids",
        "target_owner",
        "example_targets",
        "cu_seq_lens",
    )

    def to(self, device) -> "Batch":
        """The batch on ``device``: one host-to-device copy of all its tensors, from pinned memory
        and without waiting for it on CUDA (a plain ``.to(cuda)`` of pageable memory waits)."""
        import torch

        device = torch.device(device)
        present = [(name, getattr(self, name)) for name in self._TENSORS if getattr(self, name) is not None]
        if device.type == "cpu":
            return self
        flat = torch.cat([t.reshape(-1).long() for _, t in present])
        if device.type == "cuda":
            flat = flat.pin_memory()
        flat = flat.to(device, non_blocking=True)
        moved, offset = {}, 0
        for name, t in present:
            moved[name] = flat[offset : offset + t.numel()].view(t.shape).to(t.dtype)
            offset += t.numel()
        return replace(self, **moved)

    def model_inputs(self) -> dict:
        inputs = {"input_ids": self.input_ids, "use_cache": False}
        if self.position_ids is not None:
            inputs["position_ids"] = self.position_ids
        if self.cu_seq_lens is not None:
            inputs.update(
                cu_seq_lens_q=self.cu_seq_lens,
                cu_seq_lens_k=self.cu_seq_lens,
                max_length_q=self.max_length,
                max_length_k=self.max_length,
            )
        return inputs


def collate(rows: Sequence[Sequence[TokenizedExample]], pad_token_id: int, *, flatten: bool = False) -> Batch:
    """Concatenate each row's examples (position ids restarting per example), pad rows on the
    right. No attention mask is built: right padding is never attended to by the real tokens
    before it, and packed examples are kept apart by the attention (``packed_sdpa`` or
    flash-attention reading ``cu_seq_lens``; ``sdpa``/``eager`` build a block-diagonal mask
    from the restarting position ids).

    ``flatten`` puts all examples into one row without padding and adds the example boundaries
    that per-example attention reads (``packed_sdpa``, flash-attention varlen)."""
    import torch

    if flatten:
        rows = [[e for row in rows for e in row]]
    width = max(sum(len(e) for e in row) for row in rows)
    ids, pos, keep, target_ids, owner, counts = [], [], [], [], [], []
    for row in rows:
        r_ids, r_pos, r_keep = [], [], []
        for example in row:
            start = len(r_ids)
            r_ids += example.input_ids
            r_pos += range(len(example))
            # position t predicts token t + 1: it has a target where the next label is not ignored
            targets = [(start + t, label) for t, label in enumerate(example.labels[1:]) if label != IGNORE_INDEX]
            r_keep += [p for p, _ in targets]
            target_ids += [label for _, label in targets]
            owner += [len(counts)] * len(targets)
            counts.append(max(len(targets), 1))
        pad = width - len(r_ids)
        ids.append(r_ids + [pad_token_id] * pad)
        pos.append(r_pos + list(range(len(r_pos), len(r_pos) + pad)))
        keep.append(r_keep)
    kept = max(len(k) for k in keep)
    # rows keep the same number of positions (transformers slices [rows, kept]); a row with fewer
    # targets repeats position 0, whose logits the loss never reads
    target_rows = [r * kept + j for r, k in enumerate(keep) for j in range(len(k))]
    tensor = lambda values: torch.tensor(values, dtype=torch.long)  # noqa: E731
    one_per_row = all(len(row) == 1 for row in rows)
    batch = Batch(
        input_ids=tensor(ids),
        position_ids=None if one_per_row else tensor(pos),  # arange: the model's own default
        keep_positions=tensor([k + [0] * (kept - len(k)) for k in keep]),
        target_rows=None if len(rows) == 1 else tensor(target_rows),
        target_ids=tensor(target_ids),
        target_owner=tensor(owner),
        example_targets=tensor(counts),
        n_examples=len(counts),
        n_tokens=sum(len(e) for row in rows for e in row),
    )
    if flatten:
        lengths = [len(e) for e in rows[0]]
        bounds = [0]
        for length in lengths:
            bounds.append(bounds[-1] + length)
        batch.cu_seq_lens = torch.tensor(bounds, dtype=torch.int32)
        batch.max_length = max(lengths)
    return batch
