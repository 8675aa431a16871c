"""Evaluation speed: polyplatypus's shared-context scorer against EleutherAI's lm-evaluation-harness.

Both engines score the same random-weight model (a scaled-down Polyglot-ko layout: GPT-NeoX,
parallel residual, partial rotary) on the same KoBEST documents, in one process, one after the
other. lm-evaluation-harness (the ``lm_eval`` package, v0.4) gets, through its ``HFLM`` engine,
exactly the requests the reference harness builds: the same contexts (reference document order
and few-shot draws) and continuations, already tokenized the same way, so both engines must
produce the same loglikelihoods and the same F1.

Time is the CPU time of the scoring span on one thread (model loading excluded on both sides);
wall time is printed too. Tokens forwarded are counted at the model's transformer stack for both.
The minimum is every distinct (kept) context token and every continuation token once.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/eval_speed.py --kobest-dir ../shared/data/kobest/v1.0 --shots 0,5 --limit 16
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from polyplatypus.data.kobest import SOURCES, load_kobest
from polyplatypus.eval.metrics import macro_f1, predict
from polyplatypus.eval.requests import build_requests
from polyplatypus.eval.scorer import encode_requests, minimum_tokens, model_max_length
from polyplatypus.eval.shared_context import SharedContextScorer
from polyplatypus.models.tiny import build_tiny_model, train_tokenizer
from polyplatypus.tasks import get_task


class ForwardCounter:
    """Counts tokens (padding included) entering the transformer stack."""

    def __init__(self, module):
        self.tokens = 0
        module.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.tokens += int(ids.numel())


def build_model(kobest_dir, hidden, layers, heads, vocab):
    texts = [" ".join(v for v in doc.values() if isinstance(v, str))
             for task in SOURCES for doc in load_kobest(task, "train", kobest_dir)[:1500]]
    tokenizer = train_tokenizer(texts, vocab_size=vocab)
    model = build_tiny_model(tokenizer, "gpt_neox", seed=0, hidden_size=hidden, layers=layers, heads=heads,
                             max_positions=2048)
    return model, tokenizer


def timed(fn):
    wall, cpu = time.perf_counter(), time.thread_time()
    result = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return result, time.thread_time() - cpu, time.perf_counter() - wall


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kobest-dir", default=os.environ.get("POLYPLATYPUS_KOBEST_DIR", "../shared/data/kobest/v1.0"))
    parser.add_argument("--tasks", default="kobest_boolq,kobest_copa,kobest_hellaswag,kobest_sentineg,kobest_wic")
    parser.add_argument("--shots", default="0,5")
    parser.add_argument("--limit", type=int, default=16, help="documents per task")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args()

    torch.set_num_threads(1)
    from lm_eval.models.huggingface import HFLM  # the package under comparison

    model, tokenizer = build_model(args.kobest_dir, args.hidden, args.layers, args.heads, args.vocab)
    model = model.to(device=args.device, dtype=getattr(torch, args.dtype))
    params = sum(p.numel() for p in model.parameters())
    max_length = model_max_length(model)
    counter = ForwardCounter(model.get_decoder())
    harness = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=1, max_length=max_length, device=args.device)
    ours = SharedContextScorer(model, tokenizer, batch_size=1)
    print(f"model: GPT-NeoX {args.layers} layers, hidden {args.hidden}, vocab {len(tokenizer)}, "
          f"{params / 1e6:.1f}M parameters, max length {max_length}; torch threads 1\n")
    header = (f"{'task':<17}{'shots':>5}{'docs':>5} | {'ours cpu s':>10}{'lm-eval cpu s':>14}{'speed-up':>9}"
              f"{'target':>8} | {'ours tok/min':>12}{'lm-eval tok/min':>16} | {'F1 ours':>8}{'F1 lm-eval':>11}{'max|dLL|':>10}"
              f" | {'wall ours':>9}{'wall lm-eval':>13}")
    print(header)
    print("-" * len(header))
    rows = []
    for name in args.tasks.split(","):
        task = get_task(name)
        test, train = load_kobest(task.source, "test", args.kobest_dir), load_kobest(task.source, "train", args.kobest_dir)
        for shots in [int(s) for s in args.shots.split(",")]:
            requests = build_requests(task, test, train, shots, args.limit)
            encoded = encode_requests(tokenizer, requests)
            minimum = sum(minimum_tokens(d.context, d.continuations, max_length) for d in encoded)

            counter.tokens = 0
            scored, ours_cpu, ours_wall = timed(lambda: ours.score(requests))
            ours_tokens = counter.tokens

            flat = [((r.context, c), doc.context, cont) for r, doc in zip(requests, encoded)
                    for c, cont in zip(r.continuations, doc.continuations)]
            counter.tokens = 0
            with torch.inference_mode():
                answers, lm_cpu, lm_wall = timed(lambda: harness._loglikelihood_tokens(flat, disable_tqdm=True))
            lm_tokens = counter.tokens

            lm_lls, i = [], 0
            for r in requests:
                lm_lls.append([ll for ll, _ in answers[i:i + len(r.continuations)]])
                i += len(r.continuations)
            golds = [r.gold for r in requests]
            f1_ours = macro_f1(golds, [predict(s.loglikelihoods) for s in scored])
            f1_lm = macro_f1(golds, [predict(lls) for lls in lm_lls])
            max_diff = max(abs(a - b) for s, lls in zip(scored, lm_lls) for a, b in zip(s.loglikelihoods, lls))
            row = {
                "task": name, "shots": shots, "docs": len(requests), "ours_cpu_s": ours_cpu, "lm_eval_cpu_s": lm_cpu,
                "speedup": lm_cpu / ours_cpu, "target_speedup": 0.9 * lm_tokens / minimum,
                "ours_tokens_over_min": ours_tokens / minimum, "lm_eval_tokens_over_min": lm_tokens / minimum,
                "f1_ours": f1_ours, "f1_lm_eval": f1_lm, "max_abs_ll_diff": max_diff,
                "ours_wall_s": ours_wall, "lm_eval_wall_s": lm_wall, "minimum_tokens": minimum,
            }
            rows.append(row)
            print(f"{name:<17}{shots:>5}{len(requests):>5} | {ours_cpu:>10.2f}{lm_cpu:>14.2f}{row['speedup']:>8.2f}x"
                  f"{row['target_speedup']:>7.2f}x | {row['ours_tokens_over_min']:>12.3f}{row['lm_eval_tokens_over_min']:>16.3f}"
                  f" | {f1_ours:>8.4f}{f1_lm:>11.4f}{max_diff:>10.1e} | {ours_wall:>9.2f}{lm_wall:>13.2f}", flush=True)
    agree = all(abs(r["f1_ours"] - r["f1_lm_eval"]) < 1e-12 for r in rows)
    print(f"\nF1 identical in every cell: {agree}")
    print("target: speed-up >= 0.9 x (lm-eval tokens / minimum); ours tokens/min <= 1.05")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"rows": rows, "params": params, "max_length": max_length}, handle, indent=2)


if __name__ == "__main__":
    main()
