"""Fast scoring: each document's context is forwarded once for all of its choices.

A document becomes one packed row: the context tokens, then each choice's continuation (minus
its last token, which is only a target). A custom attention mask lets every continuation see the
whole context and its own earlier tokens but not the other continuations, and position ids
restart after the context for each continuation, so every scored position sees exactly what it
sees in the reference's separate row. Only the scored positions go through the output head.

When a context does not fit, the reference cuts context+continuation from the left, so the
kept context depends on the continuation's length: choices are grouped by the context they
actually keep, and each group gets its own row (equal-length continuations still share one).
Rows of all documents are sorted by length and batched, so padding stays small.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from polyplatypus.eval.requests import DocRequest
from polyplatypus.eval.scorer import ScoredDoc, encode_requests, kept_contexts, minimum_tokens, model_max_length


@dataclass
class PackedRow:
    """One model input row: a kept context followed by the continuations that share it."""

    tokens: list[int]
    positions: list[int]
    branch_of: list[int]  # -1 for context tokens, else the index of the continuation they belong to
    targets: list[tuple[int, list[int], list[int]]]  # (choice, row columns that predict, target ids)


def pack_document(context: list[int], continuations: list[list[int]], max_length: int) -> list[PackedRow]:
    """The rows that score every choice of one document (one row unless truncation splits it)."""
    rows = []
    for prefix, choices in kept_contexts(context, continuations, max_length).items():
        row = PackedRow(list(prefix), list(range(len(prefix))), [-1] * len(prefix), [])
        for branch, choice in enumerate(choices):
            body = continuations[choice][:-1]  # the last token is only ever a target
            first = len(row.tokens)
            row.tokens += body
            row.positions += range(len(prefix), len(prefix) + len(body))
            row.branch_of += [branch] * len(body)
            predicting = [len(prefix) - 1] + list(range(first, first + len(body)))
            row.targets.append((choice, predicting, list(continuations[choice])))
        rows.append(row)
    return rows


def attention_mask(rows: list[PackedRow], width: int, dtype: torch.dtype) -> torch.Tensor:
    """Additive mask [batch, 1, width, width]: 0 where a query may attend, dtype-min elsewhere.

    A token sees earlier context tokens and earlier tokens of its own continuation; padding
    attends to itself only, so that no softmax row is empty.
    """
    allowed = torch.zeros((len(rows), width, width), dtype=torch.bool)
    for index, row in enumerate(rows):
        n = len(row.tokens)
        branch = torch.tensor(row.branch_of)
        causal = torch.ones((n, n), dtype=torch.bool).tril()
        visible = (branch[None, :] == -1) | (branch[:, None] == branch[None, :])
        allowed[index, :n, :n] = causal & visible
        pad = torch.arange(n, width)
        allowed[index, pad, pad] = True
    mask = torch.zeros(allowed.shape, dtype=dtype)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[:, None]


class SharedContextScorer:
    """Scores documents in batches of packed rows (rows sorted by length, longest first)."""

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
        packed = [(number, row) for number, doc in enumerate(encoded)
                  for row in pack_document(doc.context, doc.continuations, self.max_length)]
        rows_per_doc = [0] * len(encoded)
        for number, _ in packed:
            rows_per_doc[number] += 1
        packed.sort(key=lambda item: -len(item[1].tokens))  # longest first: batches need little padding
        lls = [[0.0] * len(doc.continuations) for doc in encoded]
        forwarded = [0] * len(encoded)
        device = self.model.device
        dtype = next(self.model.parameters()).dtype
        for start in range(0, len(packed), self.batch_size):
            chunk = packed[start:start + self.batch_size]
            rows = [row for _, row in chunk]
            width = len(rows[0].tokens)
            tokens = torch.zeros((len(rows), width), dtype=torch.long)
            positions = torch.zeros((len(rows), width), dtype=torch.long)
            picks_row, picks_col, spans = [], [], []
            for index, (number, row) in enumerate(chunk):
                tokens[index, : len(row.tokens)] = torch.tensor(row.tokens)
                positions[index, : len(row.positions)] = torch.tensor(row.positions)
                for choice, predicting, target in row.targets:
                    spans.append((number, choice, len(picks_col), target))
                    picks_row += [index] * len(predicting)
                    picks_col += predicting
            log_probs = self._scored_log_probs(
                tokens.to(device), positions.to(device), attention_mask(rows, width, dtype).to(device),
                torch.tensor(picks_row, device=device), torch.tensor(picks_col, device=device),
            )
            for number, choice, offset, target in spans:
                ids = torch.tensor(target, device=device).unsqueeze(-1)
                picked = torch.gather(log_probs[offset:offset + len(target)], 1, ids)
                lls[number][choice] = float(picked.sum())  # summed in the model's dtype, as the reference
            for number, _ in chunk:
                forwarded[number] += width
                if progress is not None:
                    progress(1.0 / rows_per_doc[number])
        return [
            ScoredDoc(loglikelihoods=lls[number], truncated=doc.truncated(self.max_length),
                      forwarded_tokens=forwarded[number],
                      minimum_tokens=minimum_tokens(doc.context, doc.continuations, self.max_length))
            for number, doc in enumerate(encoded)
        ]
