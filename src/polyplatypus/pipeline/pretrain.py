"""Build a tiny base model offline: a byte-level BPE tokenizer trained on a Korean corpus, a small
GPT-NeoX (Polyglot-ko layout) or Llama, and a short causal-LM pre-training on the same corpus, so
that the model's KoBEST scores reflect something learned rather than random weights.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Callable

from polyplatypus.errors import ConfigError, DataError
from polyplatypus.utils.io import atomic_write_json

SUMMARY_FILE = "pretrain_summary.json"


def read_corpus(path: str | Path) -> list[str]:
    """Paragraphs (blank-line separated) of a .txt file, or of every .txt file in a folder, in name order."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("**/*.txt"))
    elif path.is_file():
        files = [path]
    else:
        raise DataError("corpus not found", path=path)
    if not files:
        raise DataError("no .txt files in the corpus folder", path=path)
    paragraphs = []
    for file in files:
        text = file.read_text(encoding="utf-8").replace("\r\n", "\n")
        paragraphs += [p.strip() for p in text.split("\n\n") if p.strip()]
    if not paragraphs:
        raise DataError("the corpus is empty", path=path)
    return paragraphs


def _token_stream(tokenizer, paragraphs: list[str]) -> list[int]:
    eos = tokenizer.eos_token_id
    stream: list[int] = []
    for paragraph in paragraphs:
        stream += tokenizer(paragraph, add_special_tokens=False)["input_ids"] + [eos]
    return stream


def _windows(stream, seq_len: int) -> list[list[int]]:
    """Non-overlapping windows of seq_len tokens (the model shifts labels itself)."""
    return [stream[i:i + seq_len] for i in range(0, len(stream) - seq_len + 1, seq_len)]


def _mean_loss(model, windows, batch_size: int) -> float | None:
    import torch

    if not windows:
        return None
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(windows), batch_size):
            batch = torch.tensor(windows[start:start + batch_size])
            loss = model(input_ids=batch, labels=batch).loss
            total += loss.item() * len(batch)
            count += len(batch)
    model.train()
    return total / count


def build_tiny_base(spec, corpus_path: str | Path, output: str | Path, *, progress: bool = True,
                    log: Callable[[str], None] = print) -> dict:
    """Train the tokenizer, build the model, pre-train it and save both to ``output``.

    ``spec`` is a :class:`polyplatypus.pipeline.config.TinySection`. Returns the summary also
    written to ``output/pretrain_summary.json``.
    """
    import torch
    from tqdm.auto import tqdm
    from transformers import get_cosine_schedule_with_warmup

    from polyplatypus.models.tiny import build_tiny_model, save_tiny_model, train_tokenizer

    started = time.perf_counter()
    output = Path(output)
    paragraphs = read_corpus(corpus_path)
    tokenizer = train_tokenizer(paragraphs, vocab_size=spec.vocab_size)
    model = build_tiny_model(
        tokenizer, spec.arch, seed=spec.seed, hidden_size=spec.hidden_size, layers=spec.layers,
        heads=spec.heads, max_positions=spec.max_positions,
    )
    parameters = sum(p.numel() for p in model.parameters())
    pre = spec.pretrain
    if pre.seq_len > spec.max_positions:
        raise ConfigError(f"base.tiny.pretrain.seq_len {pre.seq_len} exceeds base.tiny.max_positions {spec.max_positions}")

    rng = random.Random(spec.seed)
    order = list(range(len(paragraphs)))
    rng.shuffle(order)
    n_holdout = int(round(len(paragraphs) * pre.holdout)) if pre.holdout else 0
    holdout = [paragraphs[i] for i in sorted(order[:n_holdout])]
    train_texts = [paragraphs[i] for i in sorted(order[n_holdout:])]
    train_stream = _token_stream(tokenizer, train_texts)
    holdout_windows = _windows(_token_stream(tokenizer, holdout), pre.seq_len)[:64]
    if len(train_stream) <= pre.seq_len:
        raise DataError(f"the corpus has {len(train_stream)} tokens, too few for sequences of {pre.seq_len}",
                        path=corpus_path)
    log(f"tokenizer: {len(tokenizer)} tokens; model: {spec.arch}, {parameters / 1e6:.2f}M parameters; "
        f"corpus: {len(paragraphs)} paragraphs, {len(train_stream)} training tokens")

    torch.manual_seed(spec.seed)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=pre.learning_rate, weight_decay=pre.weight_decay,
                                  betas=(0.9, 0.95))
    scheduler = get_cosine_schedule_with_warmup(optimizer, min(pre.warmup_steps, pre.steps), max(pre.steps, 1))
    holdout_before = _mean_loss(model, holdout_windows, pre.batch_size)
    losses: list[float] = []
    last_start = len(train_stream) - pre.seq_len
    bar = tqdm(total=pre.steps, desc="pre-train tiny base", unit="step", disable=not progress)
    for step in range(pre.steps):
        starts = [rng.randrange(0, last_start + 1) for _ in range(pre.batch_size)]
        batch = torch.tensor([train_stream[s:s + pre.seq_len] for s in starts])
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
    holdout_after = _mean_loss(model, holdout_windows, pre.batch_size)
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
        "train_tokens": len(train_stream),
        "holdout_windows": len(holdout_windows),
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
