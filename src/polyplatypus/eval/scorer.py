"""Loglikelihood of continuations, computed as the reference harness does.

For a (context, continuation) pair the reference tokenizes both separately without special
tokens (an empty context becomes the EOS token), keeps the last ``max_length + 1`` tokens of
context+continuation, drops the final one, runs the model, and sums the log-probabilities of the
continuation tokens. The log-softmax and the sum are taken in the model's dtype, so fp16/bf16
runs reproduce the reference too.

This module is the straightforward path: one forward row per (context, continuation).
``polyplatypus.eval.shared_context`` is the fast path that encodes each context once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from polyplatypus.eval.batching import chunk_rows
from polyplatypus.eval.requests import DocRequest
from polyplatypus.models.loading import model_max_length


@dataclass(frozen=True)
class EncodedDoc:
    context: list[int]
    continuations: list[list[int]]

    def truncated(self, max_length: int) -> bool:
        """Whether any choice's context+continuation did not fit the model (left-truncated)."""
        return any(len(self.context) + len(c) > max_length + 1 for c in self.continuations)


@dataclass(frozen=True)
class ScoredDoc:
    loglikelihoods: list[float]
    truncated: bool
    forwarded_tokens: int  # tokens run through the model for this document, padding included
    minimum_tokens: int = 0  # every distinct context and continuation token once
    rescored: bool = False  # a half-precision near-tie scored again the reference way
    greedy: tuple[bool, ...] = ()  # per choice, when asked for: every token is the argmax (lm-eval's is_greedy)


def _encode(tokenizer, texts: list[str]) -> list[list[int]]:
    return tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []


def encode_requests(tokenizer, requests: Sequence[DocRequest]) -> list[EncodedDoc]:
    """Every context in one tokenizer call and every distinct continuation in another.

    Batched calls give the same ids as one call per text (each text is tokenized on its own);
    they only save the per-call overhead, which dominated short cells.
    """
    contexts = _encode(tokenizer, [r.context for r in requests])
    distinct = list(dict.fromkeys(text for r in requests for text in r.continuations))
    table = dict(zip(distinct, _encode(tokenizer, distinct)))
    for text, tokens in table.items():
        if not tokens:
            raise ValueError(f"continuation {text!r} encodes to no tokens")
    return [
        EncodedDoc(
            context=[tokenizer.eos_token_id] if request.context == "" else list(context),
            continuations=[list(table[text]) for text in request.continuations],
        )
        for request, context in zip(requests, contexts)
    ]


def kept_contexts(
    context: list[int], continuations: list[list[int]], max_length: int
) -> dict[tuple[int, ...], list[int]]:
    """Choices grouped by the context tokens their (possibly left-truncated) window keeps.

    Without truncation every choice keeps the whole context; with it, the kept part depends on
    the continuation's length, and only equal-length continuations share it.
    """
    groups: dict[tuple[int, ...], list[int]] = {}
    for choice, continuation in enumerate(continuations):
        inputs = window(context, continuation, max_length)
        groups.setdefault(tuple(inputs[: len(inputs) - (len(continuation) - 1)]), []).append(choice)
    return groups


def minimum_tokens(context: list[int], continuations: list[list[int]], max_length: int) -> int:
    """Every distinct kept context and every continuation token once: the least any exact scorer forwards."""
    return sum(len(p) for p in kept_contexts(context, continuations, max_length)) + sum(len(c) for c in continuations)


def window(context: list[int], continuation: list[int], max_length: int) -> list[int]:
    """The model input: context+continuation, cut from the left to max_length + 1, last token dropped."""
    return (context + continuation)[-(max_length + 1) :][:-1]


def padded(rows: Sequence[Sequence[int]], width: int, fill: int = 0) -> torch.Tensor:
    """Right-padded [len(rows), width] long tensor (filled in numpy: far cheaper than nested lists)."""
    array = np.full((len(rows), width), fill, dtype=np.int64)
    for index, row in enumerate(rows):
        array[index, : len(row)] = row
    return torch.from_numpy(array)


def continuation_sums(log_probs: torch.Tensor, targets: list[int], segments: list[int], count: int) -> list[float]:
    """Per-continuation sums of the targets' log-probabilities, read back to the host once.

    ``log_probs`` is [len(targets), vocab] in the model's dtype; ``segments`` names the
    continuation each row belongs to. The reference sums each continuation with ``tensor.sum()``
    in the model's dtype, which accumulates in float32 and rounds once to that dtype: the same is
    done here for all continuations together (an fp32 segment sum, then one rounding).
    """
    device = log_probs.device
    ids = torch.tensor(targets, dtype=torch.long).to(device, non_blocking=True)
    owner = torch.tensor(segments, dtype=torch.long).to(device, non_blocking=True)
    picked = torch.gather(log_probs, 1, ids.unsqueeze(-1)).squeeze(-1)
    sums = torch.zeros(count, dtype=torch.float32, device=device).index_add_(0, owner, picked.float())
    return sums.to(log_probs.dtype).float().tolist()


def continuation_greedy(log_probs: torch.Tensor, targets: list[int], segments: list[int], count: int) -> list[bool]:
    """Per continuation: whether each of its tokens is the argmax at its position (lm-eval's
    ``is_greedy``), with the same ``segments`` layout as :func:`continuation_sums`."""
    device = log_probs.device
    ids = torch.tensor(targets, dtype=torch.long).to(device, non_blocking=True)
    owner = torch.tensor(segments, dtype=torch.long).to(device, non_blocking=True)
    misses = (log_probs.argmax(dim=-1) != ids).to(torch.int64)
    return (torch.zeros(count, dtype=torch.int64, device=device).index_add_(0, owner, misses) == 0).tolist()


class RequestScorer:
    """One row per (context, continuation); rows sorted by length and right-padded into batches.

    Right padding needs no attention mask: under causal attention no real token sees a pad, and
    without a mask SDPA can take its causal (flash) kernels.
    """

    def __init__(
        self, model, tokenizer, *, batch_size: int | str = 1, max_length: int | None = None, greedy: bool = False
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size if batch_size == "auto" else max(1, int(batch_size))
        self.max_length = max_length or model_max_length(model)
        self.greedy = greedy  # also report whether each continuation is the greedy one (lm-eval's engine)

    @torch.inference_mode()
    def score(self, requests: Sequence[DocRequest], progress: Callable[[float], None] | None = None) -> list[ScoredDoc]:
        return self.score_encoded(encode_requests(self.tokenizer, requests), progress)

    def score_encoded(self, encoded: Sequence[EncodedDoc], progress=None) -> list[ScoredDoc]:
        rows = []  # (doc number, choice number, input ids, continuation ids)
        for doc_number, doc in enumerate(encoded):
            for choice, continuation in enumerate(doc.continuations):
                rows.append((doc_number, choice, window(doc.context, continuation, self.max_length), continuation))
        rows.sort(key=lambda row: -len(row[2]))  # longest first, as the reference
        results = [[0.0] * len(doc.continuations) for doc in encoded]
        greedy = [[False] * len(doc.continuations) for doc in encoded]
        forwarded = [0] * len(encoded)
        device = self.model.device
        for chunk in chunk_rows([len(row[2]) for row in rows], self.batch_size, self.model, masked=False):
            batch = [rows[i] for i in chunk]
            width = len(batch[0][2])
            logits = self.model(padded([inputs for _, _, inputs, _ in batch], width).to(device)).logits
            picks_row, picks_col, targets, segments = [], [], [], []
            for i, (_, _, inputs, continuation) in enumerate(batch):
                picks_row += [i] * len(continuation)
                picks_col += range(len(inputs) - len(continuation), len(inputs))
                targets += continuation
                segments += [i] * len(continuation)
            selected = logits[torch.tensor(picks_row, device=device), torch.tensor(picks_col, device=device)]
            log_probs = torch.log_softmax(selected, dim=-1)
            sums = continuation_sums(log_probs, targets, segments, len(batch))
            hits = (
                continuation_greedy(log_probs, targets, segments, len(batch)) if self.greedy else [False] * len(batch)
            )
            done = 0.0
            for (doc_number, choice, inputs, _), value, hit in zip(batch, sums, hits):
                results[doc_number][choice] = value
                greedy[doc_number][choice] = hit
                forwarded[doc_number] += len(inputs)
                done += 1.0 / len(encoded[doc_number].continuations)
            if progress is not None:
                progress(done)
        return [
            ScoredDoc(
                loglikelihoods=lls,
                truncated=doc.truncated(self.max_length),
                forwarded_tokens=tokens,
                minimum_tokens=minimum_tokens(doc.context, doc.continuations, self.max_length),
                greedy=tuple(hits) if self.greedy else (),
            )
            for lls, hits, doc, tokens in zip(results, greedy, encoded, forwarded)
        ]
