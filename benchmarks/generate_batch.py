"""transformers' own continuous batching (``model.generate_batch``, transformers 5.25) against
polyplatypus' engine (``SharedContextLM.generate_until``) and lm-evaluation-harness 0.4.13's
``HFLM.generate_until``, on the request shapes of ``benchmarks/generate_speed.py`` (its builders,
imported), in one process.

``generate_batch`` takes token ids, stops a request only at EOS ids or ``max_new_tokens``, and
returns token ids. It is given what ``HFLM`` would generate from: each context encoded and
left-truncated by ``HFLM.tok_batch_encode`` (to ``max_length - max_gen_toks``), ``max_gen_toks``
as ``max_new_tokens``, the tokenizer's and ``generation_config``'s EOS ids; its tokens are decoded
by ``HFLM.tok_decode`` and cut at the ``until`` strings (EOS text added) by lm-eval's own
``postprocess_generated_text``, as ``hf`` cuts its text. Its cache is sized explicitly
(``--page-size``, ``num_blocks`` from the requests): left to itself on a CPU it takes 90% of the
host's free memory.

Two parts:

* **exactness**: a tiny Llama trained as the generation test fixture is (``make_generation_fixture``:
  fixture tokenizer, 32x2x4, 256 positions, so few-shot contexts are left-truncated; reviews end
  with a blank line, prose with EOS), on ``--exact-docs`` documents per shape: documents whose text
  differs from ``HFLM`` at batch 1, at ``generate_batch`` rows 1 and ``--batch``; the tokens it
  generates past the point where ``hf`` stops (a stop string); the 0-shot prompts whose tokens
  differ from ``generate``'s without and with a ``repetition_penalty`` (which it drops, warning
  only); and whether it runs on the
  GPT-NeoX fixture (``tests/fixtures/tiny-gptneox-gen``, Polyglot-ko's architecture) at all.
  The Llama is used because ``generate_batch`` fails on GPT-NeoX in transformers 5.25.
* **speed**: a random-weight Llama of ``--sizes`` with the real Polyglot-ko tokenizer
  (``--tokenizer``), ``--docs`` documents per shape: process CPU time (all threads: the manager
  runs the model in a background thread) of ``hf`` and of our engine at batch ``--batch`` and of
  ``generate_batch`` with at most ``--batch`` requests per forward, back to back, the median of
  ``--repeats``; positions forwarded by each (``generate_batch``'s counted by a forward hook); texts
  compared with our engine's (equal to ``hf`` at batch 1, tested in tests/).

    OMP_NUM_THREADS=1 python benchmarks/generate_batch.py --json benchmarks/results-generate-batch.json
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import statistics
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests" / "fixtures"))

import generate_speed  # noqa: E402  (the request shapes, one definition)

FIXTURE = REPO / "tests" / "fixtures" / "tiny-gptneox-gen"


def shapes(docs: int, answer_toks: int = 4, cot_toks: int = 128) -> dict[str, list[tuple[str, dict]]]:
    """generate_speed's request shapes as (context, generation kwargs) pairs: its stop strings,
    ``cot_toks`` new tokens for the chain-of-thought shapes and ``answer_toks`` for the others."""
    return {
        shape: [
            (
                context,
                {
                    "until": generate_speed.UNTIL.get(shape, ["\n\n"]),
                    "max_gen_toks": cot_toks if "cot" in shape else answer_toks,
                },
            )
            for context in contexts
        ]
        for shape, contexts in generate_speed.shapes(docs, cot_hard=False).items()
    }


def instances(requests):
    from lm_eval.api.instance import Instance

    return [Instance("generate_until", {}, pair, i) for i, pair in enumerate(requests)]


@contextmanager
def counting_positions(model):
    """Count the token positions of every forward of ``model`` (``generate_batch`` packs a step's
    requests into one row, so its positions are ``input_ids.numel()``)."""
    seen = [0]

    def hook(_module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        seen[0] += ids.numel() if ids is not None else 0

    handle = model.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield seen
    finally:
        handle.remove()


def cb_config(prompts: list[list[int]], max_new: int, rows: int, page_size: int, batch_tokens: int):
    """A cache sized for ``rows`` requests at their longest (whole pages), with room for prefix blocks;
    ``batch_tokens`` positions per forward (0: room to prefill ``rows`` of the longest prompt together)."""
    from transformers.generation import ContinuousBatchingConfig

    longest = max(len(p) for p in prompts) + max_new
    return ContinuousBatchingConfig(
        page_size=page_size,
        num_blocks=2 * rows * math.ceil(longest / page_size) + 4,
        max_batch_tokens=batch_tokens or min(rows * max(len(p) for p in prompts), 4096),
        max_requests_per_batch=rows,
        allow_block_sharing=True,
    )


def eos_ids(hf) -> list[int]:
    """The ids ``hf`` stops at: the tokenizer's EOS (its text is an ``until`` string) and ``generate``'s."""
    configured = hf.model.generation_config.eos_token_id
    configured = [] if configured is None else [configured] if isinstance(configured, int) else list(configured)
    return sorted({hf.eot_token_id, *configured})


def generate_batch_until(hf, requests, rows: int, page_size: int, batch_tokens: int = 0):
    """``requests`` answered by ``model.generate_batch`` as ``hf`` would: (texts, tokens per request,
    positions forwarded, errors)."""
    texts, tokens, errors, positions = [""] * len(requests), [[] for _ in requests], [], 0
    groups: dict[str, list[int]] = {}  # hf batches requests by their generation keys; so does this
    for index, (_, kwargs) in enumerate(requests):
        groups.setdefault(json.dumps(kwargs, sort_keys=True), []).append(index)
    for indices in groups.values():
        group = answer_group(hf, [requests[i] for i in indices], rows, page_size, batch_tokens)
        for index, text, generated in zip(indices, group["texts"], group["tokens"], strict=True):
            texts[index], tokens[index] = text, generated
        positions += group["positions"]
        errors += group["errors"]
    return texts, tokens, positions, errors


def answer_group(hf, requests, rows: int, page_size: int, batch_tokens: int) -> dict:
    """One ``generate_batch`` call for requests with the same generation keys."""
    from lm_eval.models.utils import handle_stop_sequences, normalize_gen_kwargs, postprocess_generated_text
    from transformers import GenerationConfig

    kwargs = normalize_gen_kwargs(dict(requests[0][1]), hf.max_gen_toks)
    eos_text = hf.tok_decode(hf.eot_token_id, skip_special_tokens=False)
    until = handle_stop_sequences(kwargs.pop("until", None), eos=eos_text)
    max_new = kwargs.pop("max_gen_toks")
    prompts = [
        hf.tok_batch_encode([context], left_truncate_len=hf.max_length - max_new)[0][0].tolist()
        for context, _ in requests
    ]
    config = GenerationConfig(do_sample=False, max_new_tokens=max_new, eos_token_id=eos_ids(hf))
    with counting_positions(hf.model) as seen:
        cb = cb_config(prompts, max_new, rows, page_size, batch_tokens)
        outputs = hf.model.generate_batch(prompts, generation_config=config, continuous_batching_config=cb)
    # a manager's request ids are req_0, req_1, ... in the order given; a failed request comes back empty
    found = [outputs.get(f"req_{k}") for k in range(len(prompts))]
    errors = [str(o.error) if o is not None else "missing from the results" for o in found if o is None or o.error]
    tokens = [list(o.generated_tokens) if o is not None else [] for o in found]
    texts = [postprocess_generated_text(hf.tok_decode(t), until, None) for t in tokens]
    return dict(texts=texts, tokens=tokens, positions=seen[0], errors=errors)


def train_exactness_model(steps: int):
    """A Llama trained as the GPT-NeoX generation fixture is, on the fixture's tokenizer."""
    from make_generation_fixture import SIZES, pretrain
    from transformers import AutoTokenizer

    from polyplatypus.models.tiny import build_tiny_model

    tokenizer = AutoTokenizer.from_pretrained(FIXTURE)
    return pretrain(build_tiny_model(tokenizer, "llama", seed=7, **SIZES), tokenizer, steps=steps), tokenizer


def gpt_neox_errors(page_size: int) -> list[str]:
    """What ``generate_batch`` says on the GPT-NeoX fixture (Polyglot-ko's layout), two short requests."""
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(FIXTURE, dtype=torch.float32).eval()
    hf = HFLM(pretrained=model, tokenizer=AutoTokenizer.from_pretrained(FIXTURE), batch_size=1, device="cpu")
    requests = [
        ("질문: 서울", {"until": ["\n\n"], "max_gen_toks": 8}),
        ("안녕하세요", {"until": ["\n\n"], "max_gen_toks": 8}),
    ]
    texts, _, _, errors = generate_batch_until(hf, requests, 2, page_size)
    return sorted({e.splitlines()[-1][:160] for e in errors}) or [f"ran: {texts}"]


def timed(call, repeats: int):
    """(median process CPU seconds, last result) of ``call()``."""
    times, result = [], None
    for _ in range(repeats):
        start = time.process_time()
        result = call()
        times.append(time.process_time() - start)
    return statistics.median(times), result


def differing(texts, reference) -> int:
    return sum(a != b for a, b in zip(texts, reference, strict=True))


def penalty_differs(model, tokenizer, requests, penalty: float = 1.3) -> int:
    """Requests whose greedy tokens under ``repetition_penalty`` differ between ``generate_batch`` and
    ``generate`` (which ``hf`` calls); ``generate_batch`` drops processors it does not support."""
    from transformers import GenerationConfig

    prompts = [tokenizer(context, add_special_tokens=False)["input_ids"][-64:] for context, _ in requests]
    config = GenerationConfig(do_sample=False, max_new_tokens=24, eos_token_id=tokenizer.eos_token_id)
    config.repetition_penalty = penalty
    cb = cb_config(prompts, 24, 8, 16, 0)
    outputs = model.generate_batch(prompts, generation_config=config, continuous_batching_config=cb)
    batch = [list(output.generated_tokens) for output in outputs.values()]
    alone = [model.generate(torch.tensor([p]), generation_config=config)[0, len(p) :].tolist() for p in prompts]
    return sum(a != b for a, b in zip(batch, alone, strict=True))


def exactness_rows(args) -> list[dict]:
    from lm_eval.models.huggingface import HFLM

    from polyplatypus.eval.lm_eval_engine import SharedContextLM

    model, tokenizer = train_exactness_model(args.train_steps)
    zero_shot = shapes(args.exact_docs)["zero"]
    rows = [dict(docs=len(zero_shot))]  # generate_batch against generate, without and with a repetition penalty
    for penalty in (1.0, 1.3):
        rows[0][f"repetition_penalty_{penalty}_differ"] = penalty_differs(model, tokenizer, zero_shot, penalty)
    print(json.dumps(rows[0]), flush=True)
    for shape, requests in shapes(args.exact_docs).items():
        if shape not in args.shapes.split(","):
            continue
        reference = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=1, device="cpu")
        want = reference.generate_until(instances(requests), disable_tqdm=True)
        ours = SharedContextLM(pretrained=model, tokenizer=tokenizer, batch_size=args.batch, device="cpu")
        got = ours.generate_until(instances(requests), disable_tqdm=True)
        needed = sum(record.n_tokens for record in ours.last_generated)  # = hf's tokens where the texts agree
        row = dict(shape=shape, docs=len(requests), ours_differ=differing(got, want), hf_tokens=needed)
        row["stops"] = dict(Counter(record.stop_reason for record in ours.last_generated))
        for batch in sorted({1, args.batch}):
            texts, tokens, positions, errors = generate_batch_until(
                reference, requests, batch, args.page_size, args.batch_tokens
            )
            row[f"gb{batch}_differ"] = differing(texts, want)
            row[f"gb{batch}_tokens"] = sum(len(t) for t in tokens)
            row[f"gb{batch}_positions"] = positions
            row[f"gb{batch}_errors"] = len(errors)
        row["extra_tokens"] = row[f"gb{args.batch}_tokens"] - needed
        row["ours_positions"] = ours.generation_counters.positions_forwarded
        row["minimum"] = ours.generation_counters.minimum_positions
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)
    return rows


def speed_model(tokenizer_dir: str, sizes: str):
    from transformers import AutoTokenizer

    from polyplatypus.models.tiny import build_tiny_model

    hidden, layers, heads = (int(x) for x in sizes.split("x"))
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    model = build_tiny_model(tokenizer, "llama", seed=0, hidden_size=hidden, layers=layers, heads=heads)
    return model, tokenizer


def speed_rows(args) -> list[dict]:
    from lm_eval.models.huggingface import HFLM

    from polyplatypus.eval.lm_eval_engine import SharedContextLM

    model, tokenizer = speed_model(args.tokenizer, args.sizes)
    rows = []
    for shape, requests in shapes(args.docs, answer_toks=args.answer_toks, cot_toks=args.cot_toks).items():
        if shape not in args.shapes.split(","):
            continue
        hf = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=args.batch, device="cpu")
        ours = SharedContextLM(pretrained=model, tokenizer=tokenizer, batch_size=args.batch, device="cpu")
        hf_s, hf_texts = timed(lambda: hf.generate_until(instances(requests), disable_tqdm=True), args.repeats)
        ours_s, ours_texts = timed(lambda: ours.generate_until(instances(requests), disable_tqdm=True), args.repeats)
        gb_s, (texts, tokens, positions, errors) = timed(
            lambda: generate_batch_until(hf, requests, args.batch, args.page_size, args.batch_tokens), args.repeats
        )
        row = dict(
            shape=shape,
            batch=args.batch,
            hf_s=round(hf_s, 3),
            ours_s=round(ours_s, 3),
            gb_s=round(gb_s, 3),
            gb_over_ours=round(gb_s / ours_s, 2),
            hf_differ_from_ours=differing(hf_texts, ours_texts),
            gb_differ_from_ours=differing(texts, ours_texts),
            gb_errors=len(errors),
            ours_positions=ours.generation_counters.positions_forwarded,
            gb_positions=positions,
            minimum=ours.generation_counters.minimum_positions,
            tokens=sum(len(t) for t in tokens),
        )
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--tokenizer",
        default=os.environ.get(
            "POLYPLATYPUS_TOKENIZER_DIR", str(REPO.parent / "shared" / "data" / "polyglot-ko-tokenizer")
        ),
    )
    parser.add_argument("--parts", default="neox,exact,speed", help="which parts to run")
    parser.add_argument("--shapes", default="first_n,cot,random,random5,zero")
    parser.add_argument("--batch", type=int, default=8, help="rows (generate_batch: requests per forward)")
    parser.add_argument("--page-size", type=int, default=256, help="generate_batch's page (transformers' default)")
    parser.add_argument(
        "--batch-tokens", type=int, default=0, help="generate_batch's max_batch_tokens (0: --batch longest prompts)"
    )
    parser.add_argument("--train-steps", type=int, default=400, help="training of the exactness model")
    parser.add_argument("--exact-docs", type=int, default=16)
    parser.add_argument("--sizes", default="512x6x8", help="speed model: hidden x layers x heads")
    parser.add_argument("--docs", type=int, default=8)
    parser.add_argument("--answer-toks", type=int, default=4)
    parser.add_argument("--cot-toks", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in ("lm_eval", "transformers"):  # per-request truncation notes and model-kwarg warnings
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger("ContinuousBatchingLogger").setLevel(logging.CRITICAL)  # failures are counted instead
    parts = args.parts.split(",")
    result = dict(vars(args), load=os.getloadavg())
    if "neox" in parts:
        result["gpt_neox"] = gpt_neox_errors(args.page_size)
        print("gpt_neox:", result["gpt_neox"], flush=True)
    if "exact" in parts:
        result["exactness"] = exactness_rows(args)
    if "speed" in parts:
        result["speed"] = speed_rows(args)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
