"""How far the engine's logits move from ``hf``'s batch-1 path: the ``K`` that the generation
near-tie bound must exceed (``polyplatypus.eval.precision.logits_near_tie``, K = 32).

    OMP_NUM_THREADS=1 python benchmarks/generate_drift.py --dtypes bfloat16,float16,float32 --json drift.json

The engine (``GenerationEngine``, shared prefixes, continuous batching, ``--batch`` rows) and
``model.generate`` at batch 1 (what lm-eval's ``HFLM`` runs at batch size 1) compute the same
logits in another order. At every step where the engine's tokens so far equal the batch-1 path's,
with ``a`` and ``b`` the engine's top two tokens, the ratio

    |(z_a - z_b) - (r_a - r_b)| / (u * (|z_a| + |z_b| + 2))

(``z`` the engine's logits, ``r`` the batch-1 path's, ``u`` the dtype's unit roundoff) is what ``K``
must exceed for the bound to hold at that step; "K seen" is its largest value. The engine runs
with ``near_ties="keep"`` so that its own token is taken at every step and nothing is re-decided.
A *flip* is a step where the two paths' argmax differ; "unflagged flips" (a flip the bound did not
flag, i.e. the default ``redecide`` would have kept the wrong token) must be 0. For comparison, the
same figures for ``hf``'s own left-padded batch (``model.generate`` at ``--batch`` rows).

The model: a local model folder (``--model``: a real model on a GPU, or tests/fixtures' briefly
trained tiny models), or by default generate_speed.py's random Polyglot-ko-layout model
(``--sizes``) with the real Polyglot-ko tokenizer; the contexts are generate_speed.py's shapes.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate_speed  # noqa: E402  (the benchmark model and request shapes)

from polyplatypus.eval.generation import GenerationEngine, GenerationSettings, eos_ids_of  # noqa: E402
from polyplatypus.eval.precision import ERROR_FACTOR, logits_near_tie, unit_roundoff  # noqa: E402


class RecordingEngine(GenerationEngine):
    """The engine, noting each row's top two logits where it decides its next token."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen: dict[tuple[int, int], tuple[list[int], list[float]]] = {}

    def _advance(self, row, logits, top=None):
        values, ids = torch.topk(logits.float(), 2)
        self.seen[(row.doc, len(row.tokens))] = (ids.tolist(), values.tolist())
        return super()._advance(row, logits, top)


def batch_one(model, contexts: list[list[int]], max_new_tokens: int, pad_id: int):
    """Per document, ``hf``'s batch-1 path: its tokens and each step's logits (float32 of the model's)."""
    paths = []
    with torch.inference_mode():
        for ids in contexts:
            out = model.generate(
                input_ids=torch.tensor([ids], device=model.device),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                output_logits=True,
                return_dict_in_generate=True,
                pad_token_id=pad_id,
            )
            paths.append((out.sequences[0, len(ids) :].tolist(), torch.stack(out.logits)[:, 0].float().cpu()))
    return paths


def padded_batch(model, contexts: list[list[int]], rows: int, max_new_tokens: int, pad_id: int, eos: frozenset):
    """Per document, ``hf``'s left-padded batch of ``rows``: its tokens (up to its first EOS) and
    each step's top two logits."""
    seen, tokens = {}, {}
    with torch.inference_mode():
        for start in range(0, len(contexts), rows):
            group = contexts[start : start + rows]
            width = max(map(len, group))
            ids = torch.tensor([[pad_id] * (width - len(c)) + c for c in group], device=model.device)
            mask = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in group], device=model.device)
            out = model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                output_logits=True,
                return_dict_in_generate=True,
                pad_token_id=pad_id,
            )
            logits = torch.stack(out.logits, dim=1).float().cpu()  # [rows, steps, vocabulary]
            for r in range(len(group)):
                generated = out.sequences[r, width:].tolist()
                end = next((i + 1 for i, t in enumerate(generated) if t in eos), len(generated))
                tokens[start + r] = generated[:end]
                for step in range(end):
                    values, top = torch.topk(logits[r, step], 2)
                    seen[(start + r, step)] = (top.tolist(), values.tolist())
    return seen, tokens


def compared_steps(seen: dict, tokens: dict[int, list[int]], reference, dtype: torch.dtype):
    """Per step where the path's tokens so far equal the batch-1 path's: ``(ratio, z_a, z_b, flip)``."""
    u = unit_roundoff(dtype)
    for (doc, step), ((a, b), (z_a, z_b)) in seen.items():
        ref_tokens, ref_logits = reference[doc]
        if step >= len(ref_logits) or tokens[doc][:step] != ref_tokens[:step]:
            continue  # the paths went apart earlier (or the batch-1 path had stopped)
        r = ref_logits[step]
        ratio = abs((z_a - z_b) - float(r[a] - r[b])) / (u * (abs(z_a) + abs(z_b) + 2.0))
        yield ratio, z_a, z_b, int(r.argmax()) != a


def drift(seen: dict, tokens: dict[int, list[int]], reference, dtype: torch.dtype) -> dict:
    """The ratios and flips of one path against the batch-1 path, and how many steps a bound with
    K = 32 and with K = twice the largest ratio seen would flag."""
    steps = list(compared_steps(seen, tokens, reference, dtype))
    if not steps:
        return dict(steps=0)
    ratios = sorted(s[0] for s in steps)
    u = unit_roundoff(dtype)

    def flagged(k: float) -> list[bool]:
        return [z_a - z_b <= k * u * (abs(z_a) + abs(z_b) + 2.0) for _, z_a, z_b, _ in steps]

    near = flagged(ERROR_FACTOR)
    assert near == [logits_near_tie(z_a, z_b, dtype) for _, z_a, z_b, _ in steps]  # the engine's own test
    return dict(
        steps=len(steps),
        k_seen=round(ratios[-1], 3),
        k_p99=round(ratios[int(0.99 * (len(ratios) - 1))], 3),
        k_median=round(statistics.median(ratios), 3),
        near_ties=sum(near),
        near_ties_at_twice_k_seen=sum(flagged(2 * ratios[-1])),
        flips=sum(s[3] for s in steps),
        unflagged_flips=sum(s[3] and not n for s, n in zip(steps, near)),
    )


def measure(model, tokenizer, contexts: list[list[int]], rows: int, max_new_tokens: int) -> dict:
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    reference = batch_one(model, contexts, max_new_tokens, pad_id)
    eos = eos_ids(model, tokenizer)
    settings = GenerationSettings(until=(), max_new_tokens=max_new_tokens, eos_ids=eos)
    engine = RecordingEngine(model, tokenizer, rows=rows, reference=None, near_ties="keep")
    generated = engine.generate(contexts, settings)
    ours = drift(engine.seen, {d: g.tokens for d, g in enumerate(generated)}, reference, model.dtype)
    hf = drift(*padded_batch(model, contexts, rows, max_new_tokens, pad_id, eos), reference, model.dtype)
    return dict(ours=ours, hf_batch=hf)


def eos_ids(model, tokenizer) -> frozenset[int]:
    """What both paths stop at: the tokenizer's EOS and the generation config's (as the engine)."""
    return frozenset({tokenizer.eos_token_id} | set(eos_ids_of(model.generation_config))) - {None}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a local model folder (default: generate_speed.py's random model)")
    parser.add_argument(
        "--tokenizer",
        default=os.environ.get(
            "POLYPLATYPUS_TOKENIZER_DIR", str(generate_speed.REPO.parent / "shared" / "data" / "polyglot-ko-tokenizer")
        ),
    )
    parser.add_argument("--sizes", default="512x6x8", help="the random model: hidden x layers x heads")
    parser.add_argument("--dtypes", default="bfloat16,float16,float32")
    parser.add_argument("--shapes", default="first_n,random5,zero")
    parser.add_argument("--docs", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8, help="rows of the engine and of hf's padded batch")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.model:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.model)
        base = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    else:
        base, tokenizer = generate_speed.build(args.tokenizer, args.sizes, 0, 4096)
    base.eval()
    all_shapes = generate_speed.shapes(args.docs, cot_hard=False)
    rows = []
    for dtype in args.dtypes.split(","):
        model = copy.deepcopy(base).to(device=args.device, dtype=getattr(torch, dtype))  # from fp32 each time
        for shape in args.shapes.split(","):
            contexts = [tokenizer(c, add_special_tokens=False).input_ids for c in all_shapes[shape]]
            row = dict(dtype=dtype, shape=shape, K=ERROR_FACTOR) | measure(
                model, tokenizer, contexts, args.batch, args.max_new_tokens
            )
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(dict(model=args.model or args.sizes, rows=rows), indent=1))


if __name__ == "__main__":
    main()
