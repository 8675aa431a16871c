"""Fast scoring: each document's context is forwarded once for all of its choices.

A document becomes one packed row: the context tokens, then each choice's continuation (minus
its last token, which is only a target). A custom attention mask lets every continuation see the
whole context and its own earlier tokens but not the other continuations, and position ids
restart after the context for each continuation, so every scored position sees exactly what it
sees in the reference's separate row. Only the scored positions go through the output head.

When a context does not fit, the reference cuts context+continuation from the left, so the
kept context depends on the continuation's length: choices are grouped by the context they
actually keep, and each group gets its own segment in the row (equal-length continuations
still share one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from polyplatypus.eval.requests import DocRequest
from polyplatypus.eval.scorer import ScoredDoc, encode_requests, kept_contexts, minimum_tokens, model_max_length


@dataclass
class PackedDoc:
    tokens: list[int]
    positions: list[int]
    segment_of: list[int]  # which context segment each token belongs to
    is_context: list[bool]  # context tokens are visible to the whole segment
    branch_of: list[int]  # continuation branch id (-1 for context tokens)
    targets: list[tuple[int, list[int], list[int]]]  # (choice, positions in row predicting, target ids)
    truncated: bool
    minimum_tokens: int  # every distinct context and continuation token once


def pack_document(context: list[int], continuations: list[list[int]], max_length: int) -> PackedDoc:
    groups = kept_contexts(context, continuations, max_length)
    packed = PackedDoc([], [], [], [], [], [], truncated=False, minimum_tokens=0)
    branch = 0
    for segment, (prefix, choices) in enumerate(groups.items()):
        start = len(packed.tokens)
        packed.tokens += prefix
        packed.positions += range(len(prefix))
        packed.segment_of += [segment] * len(prefix)
        packed.is_context += [True] * len(prefix)
        packed.branch_of += [-1] * len(prefix)
        last_context = start + len(prefix) - 1
        for choice in choices:
            continuation = continuations[choice]
            body = continuation[:-1]
            first = len(packed.tokens)
            packed.tokens += body
            packed.positions += range(len(prefix), len(prefix) + len(body))
            packed.segment_of += [segment] * len(body)
            packed.is_context += [False] * len(body)
            packed.branch_of += [branch] * len(body)
            predicting = [last_context] + list(range(first, first + len(body)))
            packed.targets.append((choice, predicting, list(continuation)))
            branch += 1
    packed.truncated = any(len(context) + len(c) > max_length + 1 for c in continuations)
    packed.minimum_tokens = minimum_tokens(context, continuations, max_length)
    return packed


def attention_mask(docs: list[PackedDoc], width: int, dtype: torch.dtype) -> torch.Tensor:
    """Additive mask [batch, 1, width, width]: 0 where a query may attend, dtype-min elsewhere."""
    allowed = torch.zeros((len(docs), width, width), dtype=torch.bool)
    for row, doc in enumerate(docs):
        n = len(doc.tokens)
        segment = torch.tensor(doc.segment_of)
        branch = torch.tensor(doc.branch_of)
        is_context = torch.tensor(doc.is_context)
        causal = torch.ones((n, n), dtype=torch.bool).tril()
        same_segment = segment[:, None] == segment[None, :]
        # A key is visible if it is context of the query's segment, or in the query's own branch.
        visible_key = is_context[None, :] | (branch[:, None] == branch[None, :])
        allowed[row, :n, :n] = causal & same_segment & visible_key
        pad = torch.arange(n, width)
        allowed[row, pad, pad] = True  # padding attends to itself only, so no row is empty
    mask = torch.zeros(allowed.shape, dtype=dtype)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[:, None]


class SharedContextScorer:
    """Scores documents in batches of packed rows (documents sorted by packed length)."""

    def __init__(self, model, tokenizer, *, batch_size: int = 1, max_length: int | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = max(1, int(batch_size))
        self.max_length = max_length or model_max_length(model)
        self.decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
        self.head = model.get_output_embeddings()

    def _scored_log_probs(self, tokens, positions, mask, rows, cols) -> torch.Tensor:
        """Log-probabilities (model dtype) at the selected (row, column) positions."""
        if self.decoder is not None and self.head is not None:
            hidden = self.decoder(input_ids=tokens, position_ids=positions, attention_mask=mask).last_hidden_state
            logits = self.head(hidden[rows, cols])
        else:
            logits = self.model(input_ids=tokens, position_ids=positions, attention_mask=mask).logits[rows, cols]
        return torch.log_softmax(logits, dim=-1)

    @torch.inference_mode()
    def score(self, requests: Sequence[DocRequest], progress: Callable[[float], None] | None = None) -> list[ScoredDoc]:
        encoded = encode_requests(self.tokenizer, requests)
        packed = [pack_document(doc.context, doc.continuations, self.max_length) for doc in encoded]
        order = sorted(range(len(packed)), key=lambda i: -len(packed[i].tokens))
        results: list[ScoredDoc | None] = [None] * len(packed)
        device = self.model.device
        dtype = next(self.model.parameters()).dtype
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            docs = [packed[i] for i in chunk]
            width = len(docs[0].tokens)
            tokens = torch.zeros((len(docs), width), dtype=torch.long)
            positions = torch.zeros((len(docs), width), dtype=torch.long)
            for row, doc in enumerate(docs):
                tokens[row, : len(doc.tokens)] = torch.tensor(doc.tokens)
                positions[row, : len(doc.positions)] = torch.tensor(doc.positions)
            rows, cols, spans = [], [], []
            for row, doc in enumerate(docs):
                for choice, predicting, target in doc.targets:
                    spans.append((row, choice, len(cols), len(predicting), target))
                    rows += [row] * len(predicting)
                    cols += predicting
            log_probs = self._scored_log_probs(
                tokens.to(device), positions.to(device), attention_mask(docs, width, dtype).to(device),
                torch.tensor(rows, device=device), torch.tensor(cols, device=device),
            )
            lls = [[0.0] * len(doc.targets) for doc in docs]
            for row, choice, offset, length, target in spans:
                picked = torch.gather(log_probs[offset:offset + length], 1,
                                      torch.tensor(target, device=device).unsqueeze(-1))
                lls[row][choice] = float(picked.sum())  # summed in the model's dtype, as the reference
            for row, index in enumerate(chunk):
                doc = packed[index]
                results[index] = ScoredDoc(loglikelihoods=lls[row], truncated=doc.truncated,
                                           forwarded_tokens=width, minimum_tokens=doc.minimum_tokens)
                if progress is not None:
                    progress(1.0)
        return results  # type: ignore[return-value]
