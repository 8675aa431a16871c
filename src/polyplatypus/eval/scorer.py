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

import torch

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


def encode_requests(tokenizer, requests: Sequence[DocRequest]) -> list[EncodedDoc]:
    def encode(texts: list[str]) -> list[list[int]]:
        return tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []

    contexts = encode([r.context for r in requests])
    encoded = []
    for request, context in zip(requests, contexts):
        if request.context == "":
            context = [tokenizer.eos_token_id]
        continuations = encode(list(request.continuations))
        for text, tokens in zip(request.continuations, continuations):
            if not tokens:
                raise ValueError(f"continuation {text!r} encodes to no tokens")
        encoded.append(EncodedDoc(context=list(context), continuations=[list(c) for c in continuations]))
    return encoded


def kept_contexts(context: list[int], continuations: list[list[int]], max_length: int) -> dict[tuple[int, ...], list[int]]:
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
    return (context + continuation)[-(max_length + 1):][:-1]


def continuation_logprob(log_probs: torch.Tensor, continuation: list[int]) -> float:
    """Sum of the continuation tokens' log-probabilities; ``log_probs`` is [len(cont), vocab]."""
    targets = torch.tensor(continuation, dtype=torch.long, device=log_probs.device).unsqueeze(-1)
    return float(torch.gather(log_probs, 1, targets).squeeze(-1).sum())


class RequestScorer:
    """One row per (context, continuation); rows sorted by length and right-padded into batches.

    Right padding needs no attention mask: under causal attention no real token sees a pad.
    """

    def __init__(self, model, tokenizer, *, batch_size: int = 1, max_length: int | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = max(1, int(batch_size))
        self.max_length = max_length or model_max_length(model)

    @torch.inference_mode()
    def score(self, requests: Sequence[DocRequest], progress: Callable[[float], None] | None = None) -> list[ScoredDoc]:
        encoded = encode_requests(self.tokenizer, requests)
        rows = []  # (doc number, choice number, input ids, continuation ids)
        for doc_number, doc in enumerate(encoded):
            for choice, continuation in enumerate(doc.continuations):
                rows.append((doc_number, choice, window(doc.context, continuation, self.max_length), continuation))
        rows.sort(key=lambda row: -len(row[2]))  # longest first, as the reference
        results = [[0.0] * len(doc.continuations) for doc in encoded]
        forwarded = [0] * len(encoded)
        device = self.model.device
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start:start + self.batch_size]
            width = len(chunk[0][2])
            batch = torch.zeros((len(chunk), width), dtype=torch.long)
            for i, (_, _, inputs, _) in enumerate(chunk):
                batch[i, : len(inputs)] = torch.tensor(inputs, dtype=torch.long)
            logits = self.model(batch.to(device)).logits
            for i, (doc_number, choice, inputs, continuation) in enumerate(chunk):
                length = len(inputs)
                rows_logits = logits[i, length - len(continuation): length]
                log_probs = torch.log_softmax(rows_logits, dim=-1)
                results[doc_number][choice] = continuation_logprob(log_probs, continuation)
                forwarded[doc_number] += length
                if progress is not None:
                    progress(1.0 / len(encoded[doc_number].continuations))
        return [
            ScoredDoc(loglikelihoods=lls, truncated=doc.truncated(self.max_length), forwarded_tokens=tokens,
                      minimum_tokens=minimum_tokens(doc.context, doc.continuations, self.max_length))
            for lls, doc, tokens in zip(results, encoded, forwarded)
        ]
