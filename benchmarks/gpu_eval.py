"""Evaluation on the GPU at real Polyglot-ko sizes: ours (shared and reference) against lm-eval's HF engine.

Random-weight Polyglot-ko-1.3b / -12.8b layouts (GPT-NeoX, vocab 30080, max length 2048) are
built straight on the GPU in fp16 (no fp32 copy, no disk), with the real Polyglot-ko tokenizer
(../shared/data/polyglot-ko-tokenizer or $POLYPLATYPUS_TOKENIZER_DIR). For each of the five KoBEST
tasks at 0/5/10/50 shots, the first --limit test documents (reference shuffle and few-shot draws)
are scored by each engine at the same batch size, timed end to end from the request strings
(tokenization included on every side; lm-eval through its own ``tok_encode``):

  shared     polyplatypus SharedContextScorer, near-ties re-scored (``shared_raw_s`` is the time
             without the re-scoring, ``rescored`` how many documents it re-scored)
  reference  polyplatypus RequestScorer (one row per choice)
  lm-eval    lm_eval.models.huggingface.HFLM._loglikelihood_tokens (v0.4)
  shared-auto  the shared scorer with --batch-size auto (batches sized by row width; CUDA only)

Per cell it prints wall seconds, useful TFLOP/s (2 x parameters x minimum tokens / s), forwarded
tokens / minimum, F1, re-scored near-ties, and ``K seen``: the largest |shared - reference| in units
of u x (|LL| + n) (polyplatypus.eval.precision; re-scoring assumes it stays below ERROR_FACTOR).
At the end, each engine's time for the cells run is extrapolated to their full test sets
(seconds per document x documents; the whole grid when the budget allowed every cell). JSON rows are appended to OUT/rows.jsonl as they finish,
and OUT/summary.json is written at the end. Work stops when --budget-s is spent (a cell that is
started is finished). ``--layout tiny`` runs on CPU in float32 in well under a minute (the
test suite runs it so the script cannot rot).

    python benchmarks/gpu_eval.py --layout 1.3b --out $OUT/eval-1.3b --limit 64 --budget-s 90

Where ../shared is not beside the checkout (a GPU machine without network access), copy the
KoBEST TSVs and the tokenizer along with it (benchmarks/gpu_prepare.sh puts them in gpu-carry/,
which benchmarks/gpu.sh reads) and pass --kobest-dir and --tokenizer (or set
POLYPLATYPUS_KOBEST_DIR / POLYPLATYPUS_TOKENIZER_DIR); lm_eval must be importable (gpu-carry/site
has it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_speed import ForwardMeter, clock, lm_eval_loglikelihoods, polyglot_tokenizer_dir  # noqa: E402

from polyplatypus.data.kobest import load_kobest  # noqa: E402
from polyplatypus.eval.metrics import macro_f1, predict  # noqa: E402
from polyplatypus.eval.precision import ERROR_FACTOR, error_ratio  # noqa: E402
from polyplatypus.eval.requests import build_requests  # noqa: E402
from polyplatypus.eval.scorer import RequestScorer, encode_requests, minimum_tokens  # noqa: E402
from polyplatypus.eval.shared_context import SharedContextScorer  # noqa: E402
from polyplatypus.tasks import get_task  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TASKS = ("kobest_boolq", "kobest_copa", "kobest_hellaswag", "kobest_sentineg", "kobest_wic")
SHOTS = (0, 5, 10, 50)
# EleutherAI/polyglot-ko-1.3b and -12.8b configs (vocab 30080, rotary on half the head, parallel residual)
LAYOUTS = {
    "tiny": dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, max_position_embeddings=256
    ),
    "1.3b": dict(
        hidden_size=2048,
        num_hidden_layers=24,
        num_attention_heads=16,
        intermediate_size=8192,
        max_position_embeddings=2048,
    ),
    "12.8b": dict(
        hidden_size=5120,
        num_hidden_layers=40,
        num_attention_heads=40,
        intermediate_size=20480,
        max_position_embeddings=2048,
    ),
}
DEFAULTS = {"tiny": (2, 2), "1.3b": (64, 32), "12.8b": (16, 8)}  # (documents per cell, batch size)


def build_model(layout: str, device: str, dtype: torch.dtype):
    """A random-weight GPT-NeoX of the layout, created directly on ``device`` in ``dtype``."""
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    config = GPTNeoXConfig(
        vocab_size=30080,
        rotary_pct=0.5,
        rotary_emb_base=10000,
        use_parallel_residual=True,
        tie_word_embeddings=False,
        bos_token_id=0,
        eos_token_id=0,
        **LAYOUTS[layout],
    )
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # no fp32 copy: 12.8b in fp32 would need 51 GB before casting
    try:
        torch.manual_seed(0)
        with torch.device(device):
            model = GPTNeoXForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    return model.eval()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layout", choices=sorted(LAYOUTS), required=True)
    parser.add_argument("--out", required=True, help="folder for rows.jsonl and summary.json")
    parser.add_argument(
        "--limit", type=int, default=None, help="documents per cell (default: tiny 2, 1.3b 64, 12.8b 16)"
    )
    parser.add_argument("--budget-s", type=float, default=180.0, help="stop starting cells after this many seconds")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="rows per batch for every engine (default: tiny 2, 1.3b 32, 12.8b 8)",
    )
    parser.add_argument(
        "--engines",
        default=None,
        help="default: shared,reference,lm-eval, plus shared-auto (--batch-size auto) on CUDA",
    )
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--shots", default=",".join(map(str, SHOTS)))
    parser.add_argument(
        "--dtype",
        default=None,
        choices=["float16", "bfloat16", "float32"],
        help="default: float16 on CUDA, float32 on CPU",
    )
    parser.add_argument(
        "--kobest-dir", default=os.environ.get("POLYPLATYPUS_KOBEST_DIR", str(REPO.parent / "shared/data/kobest/v1.0"))
    )
    parser.add_argument("--tokenizer", default=None)
    args = parser.parse_args(argv)
    started = time.perf_counter()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    dtype = getattr(torch, args.dtype or ("float16" if device == "cuda" else "float32"))
    limit = args.limit or DEFAULTS[args.layout][0]
    batch = args.batch_size or DEFAULTS[args.layout][1]
    engines = [
        e
        for e in (args.engines or "shared,reference,lm-eval" + (",shared-auto" if device == "cuda" else "")).split(",")
        if e
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows_file = out / "rows.jsonl"

    import logging

    import transformers
    from transformers import AutoTokenizer

    transformers.logging.set_verbosity_error()  # per-request truncation notices from both libraries
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    tokenizer = AutoTokenizer.from_pretrained(polyglot_tokenizer_dir(args.tokenizer))
    model = build_model(args.layout, device, dtype)
    params = sum(p.numel() for p in model.parameters())
    meter = ForwardMeter(model, device, timed=False)  # tokens only: no extra synchronisations
    max_length = model.config.max_position_embeddings
    scorers = {
        "shared": SharedContextScorer(model, tokenizer, batch_size=batch, rescore_near_ties=False),
        "reference": RequestScorer(model, tokenizer, batch_size=batch),
        "shared-auto": SharedContextScorer(model, tokenizer, batch_size="auto", rescore_near_ties=False),
    }
    harness = None
    if "lm-eval" in engines:
        from lm_eval.models.huggingface import HFLM

        harness = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch, max_length=max_length, device=device)
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    print(
        f"{args.layout}: {params / 1e9:.3f}B parameters, {dtype}, {name}, batch {batch}, {limit} documents per cell, "
        f"budget {args.budget_s:.0f} s; built in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    header = (
        f"{'task':<17}{'k':>3}{'docs':>5} {'engine':<10}{'wall s':>8}{'TFLOP/s':>9}{'tok/min':>8}{'F1':>8}"
        f"{'rescored':>9}{'K seen':>8}"
    )
    print(header + "\n" + "-" * len(header), flush=True)

    def run(engine, requests):
        if engine in ("shared", "shared-auto"):
            scorer = scorers[engine]
            raw = scorer.score(requests)
            raw_s = clock(device)
            final = scorer.rescore(encode_requests(tokenizer, requests), raw)
            return [r.loglikelihoods for r in final], sum(r.rescored for r in final), raw, raw_s
        if engine == "reference":
            return [r.loglikelihoods for r in scorers["reference"].score(requests)], None, None, None
        with torch.inference_mode():
            return lm_eval_loglikelihoods(harness, requests), None, None, None

    warm = build_requests(get_task("kobest_copa"), load_kobest("copa", "test", args.kobest_dir), [], 0, 2)
    for engine in engines:  # first calls pay one-time costs (CUDA context, cuBLAS handles, kernel choice)
        run(engine, warm)
    totals = {engine: 0.0 for engine in engines}  # each engine's time for the cells run, on their full test sets
    cells_done, stopped = 0, False
    for shots in [int(s) for s in args.shots.split(",")]:
        for task_name in args.tasks.split(","):
            if time.perf_counter() - started > args.budget_s:
                stopped = True
                break
            task = get_task(task_name)
            test = load_kobest(task.source, "test", args.kobest_dir)
            train = load_kobest(task.source, "train", args.kobest_dir)
            requests = build_requests(task, test, train, shots, limit)
            encoded = encode_requests(tokenizer, requests)
            minimum = sum(minimum_tokens(d.context, d.continuations, max_length) for d in encoded)
            golds = [r.gold for r in requests]
            results = {}
            for engine in engines:
                meter.reset()
                start = clock(device)
                lls, rescored, raw, raw_end = run(engine, requests)
                seconds = clock(device) - start
                results[engine] = (lls, raw)
                row = {
                    "layout": args.layout,
                    "device": name,
                    "dtype": str(dtype).replace("torch.", ""),
                    "batch_size": "auto" if engine == "shared-auto" else batch,
                    "task": task_name,
                    "shots": shots,
                    "docs": len(requests),
                    "full_docs": len(test),
                    "engine": engine,
                    "wall_s": seconds,
                    "useful_tflops": 2 * params * minimum / seconds / 1e12,
                    "minimum_tokens": minimum,
                    "forwarded_tokens": meter.tokens,
                    "tokens_over_min": meter.tokens / minimum,
                    "f1": macro_f1(golds, [predict(x) for x in lls]),
                    "rescored": rescored,
                    "shared_raw_s": (raw_end - start) if raw_end is not None else None,
                    "full_grid_cell_s": seconds / len(requests) * len(test),
                }
                if engine != "shared" and "shared" in results:
                    row["pred_differs_from_shared"] = sum(
                        predict(a) != predict(b) for a, b in zip(lls, results["shared"][0])
                    )
                if engine == "reference" and "shared" in results and results["shared"][1] is not None:
                    row["k_seen"] = max(
                        error_ratio(a, b, len(c), dtype)
                        for s, ref, doc in zip(results["shared"][1], lls, encoded)
                        for a, b, c in zip(s.loglikelihoods, ref, doc.continuations)
                    )
                totals[engine] += row["full_grid_cell_s"]
                with rows_file.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(row) + "\n")
                k_seen = row.get("k_seen")
                print(
                    f"{task_name:<17}{shots:>3}{len(requests):>5} {engine:<10}{seconds:>8.3f}{row['useful_tflops']:>9.2f}"
                    f"{row['tokens_over_min']:>8.3f}{row['f1']:>8.4f}{'' if rescored is None else rescored:>9}"
                    f"{'' if k_seen is None else f'{k_seen:.2f}':>8}",
                    flush=True,
                )
            cells_done += 1
        if stopped:
            break
    summary = {
        "layout": args.layout,
        "device": name,
        "params": params,
        "dtype": str(dtype),
        "batch_size": batch,
        "limit": limit,
        "cells_done": cells_done,
        "stopped_by_budget": stopped,
        "error_factor": ERROR_FACTOR,
        "elapsed_s": time.perf_counter() - started,
        "full_test_sets_s_for_cells_done": totals,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(
        f"\n{cells_done} cells{' (budget reached: the rest of the grid was not run)' if stopped else ''}; "
        f"their time on the full test sets, extrapolated (s): " + ", ".join(f"{e} {t:.0f}" for e, t in totals.items()),
        flush=True,
    )
    return summary


if __name__ == "__main__":
    main()
