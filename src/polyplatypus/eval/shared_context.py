"""Fast scoring: each document's context is forwarded once for all of its choices.

A document becomes one packed row: the context tokens, then each choice's continuation (minus
its last token, which is only a target). A custom attention mask lets every continuation see the
whole context and its own earlier tokens but not the other continuations, and position ids
restart after the context for each continuation, so every scored position sees exactly what it
sees in the reference's separate row. Only the scored positions go through the output head.
A row where at most one continuation has tokens beyond its first (e.g. BoolQ's " 아니오" next to
" 예" with the Polyglot-ko tokenizer) is plain causal: it is batched with other such rows and run
without any mask, so SDPA can take its causal (flash) kernels.

When a context does not fit, the reference cuts context+continuation from the left, so the
kept context depends on the continuation's length: choices are grouped by the context they
actually keep, and each group gets its own row (equal-length continuations still share one).
Rows of all documents are sorted by length and batched, so padding stays small; where a batch
would still pad more than a little (rows of different lengths, a cell's short tail), shorter
rows are packed end to end into its lines (:func:`~polyplatypus.eval.batching.pack_batches`),
each row with its own position ids and seeing nothing of its neighbours. A model with
sliding-window layers (Gemma 3, EXAONE 4) gets one mask per layer type, the sliding layers'
cut to their window (:func:`~polyplatypus.models.attention.masks_per_layer_type`).

In half precision the two paths round differently; documents whose top-two margin is within
the error bound of ``polyplatypus.eval.precision`` are scored again the reference way (one row
per choice, batch 1), so every prediction equals the reference path's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from polyplatypus.eval.batching import pack_batches
from polyplatypus.eval.precision import near_tie
from polyplatypus.eval.requests import DocRequest
from polyplatypus.eval.scorer import (
    EncodedDoc,
    RequestScorer,
    ScoredDoc,
    continuation_greedy,
    continuation_sums,
    encode_requests,
    kept_contexts,
    minimum_tokens,
    model_max_length,
    padded,
)
from polyplatypus.models import attention

PAD_BRANCH = 1 << 30  # branch id of padding
PAD_SEGMENT = -1  # segment id of padding: pads see earlier pads only, real tokens never see pads


@dataclass
class PackedRow:
    """One model input row: a kept context followed by the continuations that share it."""

    tokens: list[int]
    positions: list[int]
    branch_of: list[int]  # -1 for context tokens, else the index of the continuation they belong to
    targets: list[tuple[int, list[int], list[int]]]  # (choice, row columns that predict, target ids)

    @property
    def causal(self) -> bool:
        """At most one continuation adds tokens: plain causal attention is exact for this row."""
        return len(set(self.branch_of) - {-1}) <= 1


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


def allowed_pairs(branch: torch.Tensor, segment: torch.Tensor | None = None) -> torch.Tensor:
    """Boolean [batch, 1, width, width] on ``branch``'s device: True where a query may attend.

    ``segment`` numbers the rows packed end to end in a line (default: one row per line). A token
    sees the earlier context tokens of its own row and earlier tokens of its own continuation; a
    pad sees earlier pads and itself, so no softmax row is empty.
    """
    width = branch.shape[1]
    if segment is None:
        segment = torch.where(branch == PAD_BRANCH, PAD_SEGMENT, 0)
    causal = torch.ones((width, width), dtype=torch.bool, device=branch.device).tril()
    visible = (branch[:, None, :] == -1) | (branch[:, :, None] == branch[:, None, :])
    same_row = segment[:, :, None] == segment[:, None, :]
    return (visible & same_row & causal)[:, None]


def _additive(mask, dtype):
    """A boolean mask (or ``{layer type: mask}``) as eager attention adds it to the scores."""
    if isinstance(mask, dict):
        return {kind: _additive(value, dtype) for kind, value in mask.items()}
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(~mask, torch.finfo(dtype).min)


@dataclass
class Line:
    """One model input row: packed rows end to end, each with the (document, row) it scores."""

    rows: list[tuple[int, PackedRow]]

    def joined(self, values: Callable[[int, PackedRow], Sequence[int]]) -> list[int]:
        """``values`` of each packed row (given its number in the line and the row), end to end."""
        return [value for number, (_, row) in enumerate(self.rows) for value in values(number, row)]

    @property
    def width(self) -> int:
        return sum(len(row.tokens) for _, row in self.rows)


@dataclass
class _Tables:
    """Per document of one call: each choice's loglikelihood and greedy flag, tokens forwarded."""

    lls: list[list[float]]
    greedy: list[list[bool]]
    forwarded: list[int]

    @classmethod
    def for_documents(cls, encoded: Sequence[EncodedDoc]) -> "_Tables":
        return cls(
            [[0.0] * len(doc.continuations) for doc in encoded],
            [[False] * len(doc.continuations) for doc in encoded],
            [0] * len(encoded),
        )


class SharedContextScorer:
    """Scores documents in batches of packed rows (rows sorted by length, longest first)."""

    def __init__(
        self,
        model,
        tokenizer,
        *,
        batch_size: int | str = 1,
        max_length: int | None = None,
        rescore_near_ties: bool = True,
        greedy: bool = False,
    ):
        self.model = model
        self.greedy = greedy  # also report whether each continuation is the greedy one (lm-eval's engine)
        self.tokenizer = tokenizer
        self.batch_size = batch_size if batch_size == "auto" else max(1, int(batch_size))
        self.max_length = max_length or model_max_length(model)
        self.rescore_near_ties = rescore_near_ties
        self.decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
        self.head = model.get_output_embeddings()
        self.dtype = next(model.parameters()).dtype
        # SDPA takes a boolean mask as is; eager attention adds the mask to the scores.
        self.boolean_mask = getattr(model.config, "_attn_implementation", "sdpa") == "sdpa"

    def _scored_log_probs(self, tokens, positions, mask, rows, cols) -> torch.Tensor:
        """Log-probabilities (model dtype) at the selected (row, column) positions."""
        if self.decoder is not None and self.head is not None:
            hidden = self.decoder(input_ids=tokens, position_ids=positions, attention_mask=mask).last_hidden_state
            logits = self.head(hidden[rows, cols])
        else:
            logits = self.model(input_ids=tokens, position_ids=positions, attention_mask=mask).logits[rows, cols]
        return torch.log_softmax(logits, dim=-1)

    def _forward(self, lines: list[Line], width: int, causal: bool, picks_row, picks_col) -> torch.Tensor:
        device = self.model.device

        def per_token(values, fill=0):
            return padded([line.joined(values) for line in lines], width, fill).to(device, non_blocking=True)

        tokens = per_token(lambda _, row: row.tokens)
        if causal:  # one row per line, positions 0..n-1 and no mask: the model's own causal path
            positions = mask = None
        else:
            positions = per_token(lambda _, row: row.positions)
            branch = per_token(lambda _, row: row.branch_of, PAD_BRANCH)
            segment = per_token(lambda number, row: [number] * len(row.tokens), PAD_SEGMENT)
            mask = attention.masks_per_layer_type(self.model.config, allowed_pairs(branch, segment), positions)
            if not self.boolean_mask:
                mask = _additive(mask, self.dtype)
        index = torch.tensor([picks_row, picks_col], dtype=torch.long).to(device, non_blocking=True)
        return self._scored_log_probs(tokens, positions, mask, index[0], index[1])

    @torch.inference_mode()
    def score(self, requests: Sequence[DocRequest], progress: Callable[[float], None] | None = None) -> list[ScoredDoc]:
        return self.score_encoded(encode_requests(self.tokenizer, requests), progress)

    @torch.inference_mode()
    def score_encoded(
        self, encoded: Sequence[EncodedDoc], progress: Callable[[float], None] | None = None
    ) -> list[ScoredDoc]:
        """Score documents already tokenized (lm-eval's engine gives its own token pairs)."""
        packed = [
            (number, row)
            for number, doc in enumerate(encoded)
            for row in pack_document(doc.context, doc.continuations, self.max_length)
        ]
        rows_per_doc = [0] * len(encoded)
        for number, _ in packed:
            rows_per_doc[number] += 1
        tables = _Tables.for_documents(encoded)
        for causal in (True, False):  # mask-free rows batch together; masked rows among themselves
            group = sorted((item for item in packed if item[1].causal == causal), key=lambda item: -len(item[1].tokens))
            widths = [len(row.tokens) for _, row in group]
            for batch in pack_batches(widths, self.batch_size, self.model, masked=not causal):
                lines = [Line([group[i] for i in line]) for line in batch]
                self._score_batch(
                    tables,
                    lines,
                    width=max(line.width for line in lines),
                    causal=causal and all(len(line) == 1 for line in batch),
                )
                if progress is not None:
                    progress(sum(1.0 / rows_per_doc[number] for line in lines for number, _ in line.rows))
        scored = [
            ScoredDoc(
                loglikelihoods=tables.lls[number],
                truncated=doc.truncated(self.max_length),
                forwarded_tokens=tables.forwarded[number],
                minimum_tokens=minimum_tokens(doc.context, doc.continuations, self.max_length),
                greedy=tuple(tables.greedy[number]) if self.greedy else (),
            )
            for number, doc in enumerate(encoded)
        ]
        return self.rescore(encoded, scored) if self.rescore_near_ties else scored

    def _score_batch(self, tables: "_Tables", lines: list[Line], width: int, causal: bool) -> None:
        """One forward pass over ``lines`` (padded to ``width``); the results go into ``tables``."""
        picks_row, picks_col, targets, segments, owners = [], [], [], [], []
        for line_number, line in enumerate(lines):
            start = 0  # where the packed row begins in its line
            for number, row in line.rows:
                for choice, predicting, target in row.targets:
                    picks_row += [line_number] * len(predicting)
                    picks_col += [start + column for column in predicting]
                    targets += target
                    segments += [len(owners)] * len(target)
                    owners.append((number, choice))
                start += len(row.tokens)
                tables.forwarded[number] += len(row.tokens)
            tables.forwarded[line.rows[0][0]] += width - start  # a line's padding, to its first row
        log_probs = self._forward(lines, width, causal, picks_row, picks_col)
        # summed in the model's dtype, as the reference; one read-back per batch
        for (number, choice), value in zip(owners, continuation_sums(log_probs, targets, segments, len(owners))):
            tables.lls[number][choice] = value
        if self.greedy:
            for (number, choice), hit in zip(owners, continuation_greedy(log_probs, targets, segments, len(owners))):
                tables.greedy[number][choice] = hit

    def rescore(self, encoded, scored: list[ScoredDoc]) -> list[ScoredDoc]:
        """Near-ties scored again the reference way (one row per choice, batch 1).

        A document whose continuations are all one token (KMMLU's and CLIcK's letters) is left
        as it is: its row is the bare context with no mask, the very input the reference forwards
        for each choice, and all choices are read from that one log-softmax, as lm-eval's engine
        reads them too. Scoring it again would forward the same row once per choice."""
        ties = [
            number
            for number, (doc, result) in enumerate(zip(encoded, scored))
            if any(len(c) > 1 for c in doc.continuations)
            and near_tie(result.loglikelihoods, [len(c) for c in doc.continuations], self.dtype)
        ]
        if not ties:
            return scored
        reference = RequestScorer(
            self.model, self.tokenizer, batch_size=1, max_length=self.max_length, greedy=self.greedy
        )
        again = reference.score_encoded([encoded[number] for number in ties])
        scored = list(scored)
        for number, result in zip(ties, again):
            scored[number] = ScoredDoc(
                loglikelihoods=result.loglikelihoods,
                truncated=result.truncated,
                forwarded_tokens=scored[number].forwarded_tokens + result.forwarded_tokens,
                minimum_tokens=result.minimum_tokens,
                rescored=True,
                greedy=result.greedy,
            )
        return scored
