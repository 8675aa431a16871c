"""Build a tiny base model offline: a byte-level BPE tokenizer trained on a Korean corpus, a small
GPT-NeoX (Polyglot-ko layout) or Llama, and a short causal-LM pre-training on the same corpus, so
that the model's KoBEST scores reflect something learned rather than random weights.
"""

from __future__ import annotations

import bisect
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from polyplatypus.errors import ConfigError, DataError
from polyplatypus.utils.io import atomic_write_json

SUMMARY_FILE = "pretrain_summary.json"


def _corpus_files(path: str | Path) -> list[Path]:
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("**/*.txt"))
    elif path.is_file():
        files = [path]
    else:
        raise DataError("corpus not found", path=path)
    if not files:
        raise DataError("no .txt files in the corpus folder", path=path)
    return files


def _paragraphs(file: Path) -> list[str]:
    text = file.read_text(encoding="utf-8").replace("\r\n", "\n")
    return [p.strip() for p in text.split("\n\n") if p.strip()]


def read_corpus_documents(path: str | Path) -> list[list[str]]:
    """The paragraphs of each .txt file (a document), files in name order; empty files left out."""
    documents = [paragraphs for paragraphs in map(_paragraphs, _corpus_files(path)) if paragraphs]
    if not documents:
        raise DataError("the corpus is empty", path=path)
    return documents


def read_corpus(path: str | Path) -> list[str]:
    """Paragraphs (blank-line separated) of a .txt file, or of every .txt file in a folder, in name order."""
    return [paragraph for document in read_corpus_documents(path) for paragraph in document]


PARAGRAPH_SEPARATOR = "\n\n"  # as few-shot prompts separate their examples


def _token_stream(tokenizer, documents: list[list[str]]) -> tuple[list[int], list[int]]:
    """Each document's paragraphs joined by a blank line, documents ended by the end-of-text token;
    returns the tokens and the offset where each paragraph starts. A document is tokenized whole,
    so the blank lines come out as they do in a few-shot prompt."""
    eos = tokenizer.eos_token_id
    stream: list[int] = []
    starts: list[int] = []
    for document in documents:
        if not document:
            continue
        encoded = tokenizer(PARAGRAPH_SEPARATOR.join(document), add_special_tokens=False, return_offsets_mapping=True)
        token_starts = [start for start, _ in encoded["offset_mapping"]]
        position = 0
        for paragraph in document:
            starts.append(len(stream) + bisect.bisect_left(token_starts, position))
            position += len(paragraph) + len(PARAGRAPH_SEPARATOR)
        stream += encoded["input_ids"] + [eos]
    return stream, starts


def _windows(stream, seq_len: int) -> list[list[int]]:
    """Non-overlapping windows of seq_len tokens (the model shifts labels itself)."""
    return [stream[i : i + seq_len] for i in range(0, len(stream) - seq_len + 1, seq_len)]


def _mean_loss(model, windows, batch_size: int) -> float | None:
    import torch

    if not windows:
        return None
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(windows), batch_size):
            batch = torch.tensor(windows[start : start + batch_size])
            loss = model(input_ids=batch, labels=batch).loss
            total += loss.item() * len(batch)
            count += len(batch)
    model.train()
    return total / count


def build_tiny_base(
    spec, corpus_path: str | Path, output: str | Path, *, progress: bool = True, log: Callable[[str], None] = print
) -> dict:
    """Train the tokenizer, build the model, pre-train it and save both to ``output``.

    ``spec`` is a :class:`polyplatypus.pipeline.config.TinySection`. Returns the summary also
    written to ``output/pretrain_summary.json``.
    """
    from polyplatypus.models.tiny import build_tiny_model, save_tiny_model, train_tokenizer

    started = time.perf_counter()
    output, pre = Path(output), spec.pretrain
    if pre.seq_len > spec.max_positions:
        raise ConfigError(
            f"base.tiny.pretrain.seq_len {pre.seq_len} exceeds base.tiny.max_positions {spec.max_positions}"
        )
    documents = read_corpus_documents(corpus_path)
    paragraphs = [paragraph for document in documents for paragraph in document]
    tokenizer = train_tokenizer(paragraphs, vocab_size=spec.vocab_size)
    model = build_tiny_model(
        tokenizer,
        spec.arch,
        seed=spec.seed,
        hidden_size=spec.hidden_size,
        layers=spec.layers,
        heads=spec.heads,
        max_positions=spec.max_positions,
    )
    parameters = sum(p.numel() for p in model.parameters())
    rng = random.Random(spec.seed)  # the held-out paragraphs, then the training sequences
    corpus = _PretrainCorpus.split(tokenizer, documents, pre, rng, corpus_path)
    log(
        f"tokenizer: {len(tokenizer)} tokens; model: {spec.arch}, {parameters / 1e6:.2f}M parameters; "
        f"corpus: {len(paragraphs)} paragraphs, {len(corpus.train_stream)} training tokens"
    )
    losses, holdout_before, holdout_after = _pretrain(model, corpus, pre, spec.seed, rng, progress)
    model.eval()
    save_tiny_model(output, tokenizer, model)

    window = max(1, min(10, len(losses) // 5)) if losses else 1
    summary = {
        "arch": spec.arch,
        "parameters": parameters,
        "vocab_size": len(tokenizer),
        "max_positions": spec.max_positions,
        "corpus": str(corpus_path),
        "corpus_paragraphs": len(paragraphs),
        "train_tokens": len(corpus.train_stream),
        "holdout_windows": len(corpus.holdout_windows),
        "steps": pre.steps,
        "tokens_seen": pre.steps * pre.batch_size * pre.seq_len,
        "initial_loss": sum(losses[:window]) / window if losses else None,
        "final_loss": sum(losses[-window:]) / window if losses else None,
        "holdout_loss_before": holdout_before,
        "holdout_loss_after": holdout_after,
        "holdout_perplexity_after": math.exp(holdout_after) if holdout_after is not None else None,
        "wall_time_s": round(time.perf_counter() - started, 2),
        "losses": [round(x, 4) for x in losses],
    }
    atomic_write_json(output / SUMMARY_FILE, summary)
    return summary


@dataclass
class _PretrainCorpus:
    """The corpus as pre-training reads it: one token stream to sample sequences from, and
    held-out windows to measure the loss on."""

    train_stream: list[int]
    paragraph_starts: list[int]  # where each training paragraph begins in the stream
    holdout_windows: list[list[int]]
    seq_len: int

    @classmethod
    def split(cls, tokenizer, documents: list[list[str]], pre, rng: random.Random, corpus_path) -> "_PretrainCorpus":
        """Hold out a random share ``pre.holdout`` of the paragraphs; each document keeps its
        remaining paragraphs in order."""
        paragraphs = [paragraph for document in documents for paragraph in document]
        order = list(range(len(paragraphs)))
        rng.shuffle(order)
        n_holdout = int(round(len(paragraphs) * pre.holdout)) if pre.holdout else 0
        held = set(order[:n_holdout])
        owner = [d for d, document in enumerate(documents) for _ in document]
        train_documents = [[] for _ in documents]
        holdout_documents = [[] for _ in documents]
        for i, paragraph in enumerate(paragraphs):
            (holdout_documents if i in held else train_documents)[owner[i]].append(paragraph)
        train_stream, paragraph_starts = _token_stream(tokenizer, train_documents)
        holdout_stream, _ = _token_stream(tokenizer, holdout_documents)
        # held-out windows spread over the whole held-out text (every file), at most 64
        holdout_windows = _windows(holdout_stream, pre.seq_len)
        holdout_windows = holdout_windows[:: max(1, math.ceil(len(holdout_windows) / 64))][:64]
        if len(train_stream) <= pre.seq_len:
            raise DataError(
                f"the corpus has {len(train_stream)} tokens, too few for sequences of {pre.seq_len}", path=corpus_path
            )
        return cls(train_stream, paragraph_starts, holdout_windows, pre.seq_len)

    def sample(self, rng: random.Random, batch_size: int) -> list[list[int]]:
        """``batch_size`` training sequences: half begin where a paragraph begins, as an
        evaluation prompt does; the others anywhere, so that the ends of long paragraphs are
        seen too."""
        last_start = len(self.train_stream) - self.seq_len
        aligned = [s for s in self.paragraph_starts if s <= last_start] or [0]
        starts = [rng.choice(aligned) if i % 2 == 0 else rng.randrange(0, last_start + 1) for i in range(batch_size)]
        return [self.train_stream[s : s + self.seq_len] for s in starts]


def _pretrain(
    model, corpus: _PretrainCorpus, pre, seed: int, rng: random.Random, progress: bool
) -> tuple[list[float], float | None, float | None]:
    """``pre.steps`` AdamW steps (cosine schedule after warm-up, gradients clipped at 1); returns
    the loss of each step and the held-out loss before and after."""
    import torch
    from tqdm.auto import tqdm
    from transformers import get_cosine_schedule_with_warmup

    torch.manual_seed(seed)
    model.train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=pre.learning_rate, weight_decay=pre.weight_decay, betas=(0.9, 0.95)
    )
    scheduler = get_cosine_schedule_with_warmup(optimizer, min(pre.warmup_steps, pre.steps), max(pre.steps, 1))
    holdout_before = _mean_loss(model, corpus.holdout_windows, pre.batch_size)
    losses: list[float] = []
    bar = tqdm(total=pre.steps, desc="pre-train tiny base", unit="step", disable=not progress)
    for step in range(pre.steps):
        batch = torch.tensor(corpus.sample(rng, pre.batch_size))
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        bar.update(1)
        if step % 10 == 0 or step == pre.steps - 1:
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    bar.close()
    return losses, holdout_before, _mean_loss(model, corpus.holdout_windows, pre.batch_size)
