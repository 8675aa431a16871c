"""Generation speed: polyplatypus' engine (``SharedContextLM.generate_until``) against lm-evaluation-harness
0.4.13's ``HFLM.generate_until``, side by side in one process, on the same requests and model.

The model is a scaled-down Polyglot-ko layout (GPT-NeoX, parallel residual, partial rotary) with the
real Polyglot-ko tokenizer (``../shared/data/polyglot-ko-tokenizer`` or ``--tokenizer``), trained
for ``--train-steps`` on the bundled Korean corpus as the test fixture is (reviews end with a blank
line, prose with EOS), so that rows stop at different steps as a real model's do. Request shapes follow the Korean generative tasks:

* ``first_n``: KorMedMCQA-like, the same 5 long shots before every question (one shared prefix);
* ``cot``: fixed chain-of-thought shots and long generations (KMMLU ``cot_hard``-like);
* ``random``: 5 shots drawn per document from 40, in random order;
* ``random5``: KMMLU ``direct``-like: a subject's dev split holds exactly 5 examples, so lm-eval's
  default sampler puts the same 5 shots before every question, in a random order per document;
* ``zero``: 0-shot questions.

A random-weight model (``--train-steps 0``, the only affordable choice at sizes where compute
matters on a CPU) never stops, so its answers run to ``max_gen_toks``: ``--answer-toks`` (the
short-answer shapes) and ``--cot-toks`` set the answer lengths modelled. KorMedMCQA's answer is one
letter followed by a stop string (its ``until`` has ``.`` and ``\n\n``), i.e. a few tokens.

Time is the process CPU time of the ``generate_until`` call (tokenization
included), torch on one thread, the median of ``--repeats`` runs. Every run's answers are checked
equal to HFLM's.

    python benchmarks/generate_speed.py --docs 16 --batch-sizes 1,8
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "src" / "polyplatypus" / "assets" / "corpus"


def korean_paragraphs() -> list[str]:
    return [
        p.strip()
        for path in sorted(CORPUS.glob("*.txt"))
        for p in path.read_text(encoding="utf-8").split("\n\n")
        if len(p.strip()) > 20
    ]


def shapes(docs: int, seed: int = 0, answer_toks: int = 32, cot_toks: int = 128) -> dict[str, list[tuple[str, dict]]]:
    rng = random.Random(seed)
    texts = korean_paragraphs()
    questions = [t[: rng.randint(10, 60)] for t in texts[-docs:]]
    shots = [f"질문: {t[:400]}\n답: {t[400:460]}" for t in texts[:40]]
    cot = [f"질문: {t[:100]}\n풀이: {t[100:400]} 따라서 답은 {t[:5]}이다." for t in texts[40:43]]
    short = {"until": ["\n\n"], "max_gen_toks": answer_toks}
    return {
        "first_n": [("\n\n".join(shots[:5] + [q]), short) for q in questions],
        "cot": [("\n\n".join(cot + [q]), {"until": ["\n\n"], "max_gen_toks": cot_toks}) for q in questions],
        "random": [("\n\n".join(rng.sample(shots, 5) + [q]), short) for q in questions],
        "random5": [("\n\n".join(rng.sample(shots[:5], 5) + [q]), short) for q in questions],
        "zero": [(q, short) for q in questions],
    }


def build(tokenizer_dir: str, sizes: str, steps: int):
    import sys

    from transformers import AutoTokenizer

    from polyplatypus.models.tiny import build_tiny_model

    sys.path.insert(0, str(REPO / "tests" / "fixtures"))
    from make_generation_fixture import pretrain  # the fixture's short training: reviews end "\n\n", prose EOS

    hidden, layers, heads = (int(x) for x in sizes.split("x"))
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    model = build_tiny_model(
        tokenizer, "gpt_neox", seed=0, hidden_size=hidden, layers=layers, heads=heads, max_positions=2048
    )
    return pretrain(model, tokenizer, steps=steps) if steps else model, tokenizer


def timed(lm, requests, repeats: int):
    from lm_eval.api.instance import Instance

    times, answers = [], None
    for _ in range(repeats):
        instances = [Instance("generate_until", {}, pair, i) for i, pair in enumerate(requests)]
        start = time.process_time()
        answers = lm.generate_until(instances, disable_tqdm=True)
        times.append(time.process_time() - start)
    return statistics.median(times), answers


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--tokenizer",
        default=os.environ.get(
            "POLYPLATYPUS_TOKENIZER_DIR", str(REPO.parent / "shared" / "data" / "polyglot-ko-tokenizer")
        ),
    )
    parser.add_argument("--sizes", default="128x2x4", help="hidden x layers x heads")
    parser.add_argument("--train-steps", type=int, default=150)
    parser.add_argument("--docs", type=int, default=16)
    parser.add_argument("--batch-sizes", default="1,8")
    parser.add_argument("--shapes", default="first_n,cot,random,random5,zero")
    parser.add_argument(
        "--answer-toks",
        type=int,
        default=32,
        help="max_gen_toks of the short-answer shapes (a random-weight model runs to it)",
    )
    parser.add_argument("--cot-toks", type=int, default=128, help="max_gen_toks of the cot shape")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(1)

    from lm_eval.models.huggingface import HFLM

    from polyplatypus.eval.lm_eval_engine import SharedContextLM

    model, tokenizer = build(args.tokenizer, args.sizes, args.train_steps)
    rows = []
    for shape, requests in shapes(args.docs, answer_toks=args.answer_toks, cot_toks=args.cot_toks).items():
        if shape not in args.shapes.split(","):
            continue
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            hf = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch, device="cpu")
            ours = SharedContextLM(pretrained=model, tokenizer=tokenizer, batch_size=batch, device="cpu")
            hf_time, want = timed(hf, requests, args.repeats)
            our_time, got = timed(ours, requests, args.repeats)
            same = got == want
            counters = ours.generation_counters
            reasons = sorted({r.stop_reason for r in ours.last_generated})
            row = dict(
                shape=shape,
                batch=batch,
                hf_s=round(hf_time, 3),
                ours_s=round(our_time, 3),
                speedup=round(hf_time / our_time, 2),
                same=same,
                positions=counters.positions_forwarded,
                minimum=counters.minimum_positions,
                redone=counters.redone,
                stops="/".join(reasons),
                tokens=sum(r.n_tokens for r in ours.last_generated),
            )
            rows.append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                dict(sizes=args.sizes, docs=args.docs, answer_toks=args.answer_toks, cot_toks=args.cot_toks, rows=rows),
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
