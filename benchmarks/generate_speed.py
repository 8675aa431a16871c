"""Generation speed: polyplatypus' engine (``SharedContextLM.generate_until``) against lm-evaluation-harness
0.4.13's ``HFLM.generate_until``, side by side in one process, on the same requests and model.

    OMP_NUM_THREADS=1 python benchmarks/generate_speed.py --json generate_speed.json

runs the whole suite: every shape with varied answer lengths at batch 1 (one run) and 8 (median of
3), then the run-to-the-limit rows (8 documents, batch 1 and 8, one run each).

The model is a scaled-down Polyglot-ko layout (GPT-NeoX, parallel residual, partial rotary; 512x6x8 by
default: 49.6M parameters, where a forward costs its positions, not its fixed overhead) with the real
Polyglot-ko tokenizer (``../shared/data/polyglot-ko-tokenizer`` or ``--tokenizer``) and random weights.

**Varied answer lengths** (``--lengths varied``). A real instruct model stops at varied lengths, and
that is where continuous batching gains (``hf``'s static batches run to their longest row). Training
a model of this size to stop is not affordable on a CPU, so the random model is made to stop: the
row of the output head (``embed_out``) for EOS is set to ``scale * d``, ``d`` a fixed random direction
of the head rows' mean norm. Nothing else changes, so until EOS wins a row follows exactly the
greedy path of the unmodified model; along that path the EOS logit is ``scale * (h . d)``, and the
row stops at the first step where it beats every other logit. ``scale`` is chosen per shape by
bisection so that the mean generation length over the shape's documents, computed on those paths
(one greedy run to ``max_gen_toks`` at batch 16, EOS held back), is the shape's target
(:data:`VARIED`): the rule gives answers of 1 to ``max_gen_toks`` tokens, geometric-like, and rows
that fall into a loop without EOS run to the limit, as real models' sometimes do. The measured
distribution (min/median/max tokens) is reported per row.

**Run to the limit** (``--lengths limit``, the worst case): the unmodified random model never emits
EOS, so every row runs to ``max_gen_toks`` (:data:`LIMIT`); only prefix sharing can gain there.

Request shapes follow the Korean generative tasks:

* ``first_n``: KorMedMCQA-like, the same 5 long shots before every question (one shared prefix),
  letter answers (a letter and a stop: mean 3 tokens);
* ``first_n_long``: the same prompts with varied free answers;
* ``cot``: 3 short fixed chain-of-thought shots (about 280 tokens in all) and long generations
  (24 documents, ``--cot-docs``);
* ``cot_hard``: KMMLU ``cot_hard`` itself: lm-eval 0.4.13's 5 fixed chain-of-thought examples of one
  subject (2,110 tokens; 1,787 to 3,536 over the 45 subjects), the task's layout and stop string
  ``질문:``, before 4-option questions, long generations (``--cot-docs`` documents; the model takes
  ``--max-positions`` 4096, so that the contexts are not truncated);
* ``random``: 5 shots drawn per document from 40, in random order;
* ``random5``: KMMLU ``direct``-like: a subject's dev split holds exactly 5 examples, so lm-eval's
  default sampler puts the same 5 shots before every question, in a random order per document;
* ``zero``: 0-shot questions.

Time is the process CPU time of the ``generate_until`` call (tokenization included; with ``--device
cuda`` the wall time, the GPU synchronised), torch on one thread, the median of ``--repeats`` runs
(per batch size), the two engines alternating. Every run's answers are
checked equal to ``HFLM``'s at the same batch size (``same``).
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
# shape: (max_gen_toks, target mean generation length) with --lengths varied
VARIED = {
    "first_n": (32, 3),
    "first_n_long": (64, 24),
    "cot": (256, 100),
    "cot_hard": (256, 100),
    "random": (64, 24),
    "random5": (64, 24),
    "zero": (64, 24),
}
LIMIT = {"first_n": 4, "first_n_long": 32, "cot": 128, "cot_hard": 128, "random": 4, "random5": 4, "zero": 4}
# --lengths limit
UNTIL = {"cot_hard": ["질문:"]}  # the task's own stop string; the others stop at a blank line
# KMMLU cot_hard's few-shot examples as lm-eval 0.4.13 ships them (one subject, 2,110 tokens with
# the Polyglot-ko tokenizer; the 45 subjects' range from 1,787 to 3,536)
COT_HARD_SUBJECT = "accounting"
CALIBRATION_ROWS = 16


def korean_paragraphs() -> list[str]:
    return [
        p.strip()
        for path in sorted(CORPUS.glob("*.txt"))
        for p in path.read_text(encoding="utf-8").split("\n\n")
        if len(p.strip()) > 20
    ]


def shapes(docs: int, seed: int = 0, cot_docs: int | None = None, cot_hard: bool = True) -> dict[str, list[str]]:
    """Each shape's contexts (``cot_docs`` for ``cot``: long generations gain from continuous
    batching with the number of documents, as a subject of hundreds does); ``cot_hard`` False leaves
    out the shape that reads lm-eval's KMMLU task file (a trimmed lm-eval has no task files)."""
    rng = random.Random(seed)
    texts = korean_paragraphs()
    questions = [t[: rng.randint(10, 60)] for t in texts[-max(docs, cot_docs or 0) :]]
    cot_questions, questions = questions[-(cot_docs or docs) :], questions[-docs:]
    shots = [f"질문: {t[:400]}\n답: {t[400:460]}" for t in texts[:40]]
    cot = [f"질문: {t[:100]}\n풀이: {t[100:400]} 따라서 답은 {t[:5]}이다." for t in texts[40:43]]
    first_n = ["\n\n".join(shots[:5] + [q]) for q in questions]
    hard_docs = [
        dict(question=q, A=texts[i][:12], B=texts[i + 1][:12], C=texts[i + 2][:12], D=texts[i + 3][:12])
        for i, q in enumerate(cot_questions, start=43)
    ]
    return {
        "first_n": first_n,
        "first_n_long": first_n,
        "cot": ["\n\n".join(cot + [q]) for q in cot_questions],
        **({"cot_hard": kmmlu_cot_hard_contexts(hard_docs)} if cot_hard else {}),
        "random": ["\n\n".join(rng.sample(shots, 5) + [q]) for q in questions],
        "random5": ["\n\n".join(rng.sample(shots[:5], 5) + [q]) for q in questions],
        "zero": questions,
    }


def kmmlu_cot_hard_contexts(docs: list[dict]) -> list[str]:
    """``docs`` as lm-eval 0.4.13's KMMLU ``cot_hard`` task lays them out: its 5 fixed chain-of-thought
    examples (``fewshot_config.samples`` of the installed task file, sampler ``first_n``), each
    ``doc_to_text`` + " " + target, then the question, joined by blank lines."""
    import jinja2
    import lm_eval
    import yaml

    path = Path(lm_eval.__file__).parent / "tasks" / "kmmlu" / "cot_hard" / f"kmmlu_cot_hard_{COT_HARD_SUBJECT}.yaml"
    task = yaml.safe_load(path.read_text(encoding="utf-8"))
    template = jinja2.Template(task["doc_to_text"])
    shots = [f"{template.render(**shot)} {shot['target']}" for shot in task["fewshot_config"]["samples"]]
    return ["\n\n".join([*shots, template.render(**doc)]) for doc in docs]


def build(tokenizer_dir: str, sizes: str, steps: int, max_positions: int):
    import sys

    from transformers import AutoTokenizer

    from polyplatypus.models.tiny import build_tiny_model

    hidden, layers, heads = (int(x) for x in sizes.split("x"))
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    model = build_tiny_model(
        tokenizer, "gpt_neox", seed=0, hidden_size=hidden, layers=layers, heads=heads, max_positions=max_positions
    )
    if steps:
        sys.path.insert(0, str(REPO / "tests" / "fixtures"))
        from make_generation_fixture import pretrain  # reviews end "\n\n", prose EOS

        model = pretrain(model, tokenizer, steps=steps)
    return model, tokenizer


class EosRow:
    """The output head's EOS row: ``scale * direction`` (a fixed random direction), or the original."""

    def __init__(self, model, eos_id: int, seed: int = 0):
        self.weight = model.get_output_embeddings().weight
        self.eos_id = eos_id
        self.original = self.weight[eos_id].detach().clone()
        direction = torch.randn(self.weight.shape[1], generator=torch.Generator().manual_seed(seed))
        direction = direction.to(device=self.weight.device, dtype=torch.float32)
        scale = self.weight.detach().float().norm(dim=1).mean()
        self.direction = (direction / direction.norm() * scale).to(self.weight.dtype)

    def set(self, scale: float | None) -> None:
        with torch.no_grad():
            self.weight[self.eos_id] = self.original if scale is None else scale * self.direction


def greedy_paths(model, tokenizer, contexts: list[str], max_new_tokens: int, eos: EosRow):
    """Per document, along the unmodified greedy path: ``h . d`` and the best other logit, per step."""
    probe = 1e-6  # EOS row = probe * d: EOS never wins, and its logit / probe is h . d
    eos.set(probe)
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    z, best = [], []
    with torch.inference_mode():
        for start in range(0, len(contexts), CALIBRATION_ROWS):
            batch = tokenizer(contexts[start : start + CALIBRATION_ROWS], return_tensors="pt", padding=True)
            batch = batch.to(model.device)
            out = model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                min_new_tokens=max_new_tokens,
                do_sample=False,
                output_logits=True,
                return_dict_in_generate=True,
                pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos.eos_id,
            )
            logits = torch.stack(out.logits, dim=1).float()  # [rows, steps, vocabulary]
            z.append(logits[..., eos.eos_id] / probe)
            logits[..., eos.eos_id] = float("-inf")
            best.append(logits.max(dim=-1).values)
    tokenizer.padding_side = side
    return torch.cat(z), torch.cat(best)


def lengths_at(scale: float, z: torch.Tensor, best: torch.Tensor) -> torch.Tensor:
    """Each document's generation length when EOS first beats the best other logit (else the limit)."""
    fires = scale * z > best
    first = torch.where(fires.any(dim=1), fires.float().argmax(dim=1) + 1, torch.tensor(z.shape[1]))
    return first.float()


def calibrate(z: torch.Tensor, best: torch.Tensor, mean_length: float) -> float:
    """An EOS scale whose mean generation length along the greedy paths is at most ``mean_length``
    and as close to it as the paths allow: the geometric middle of the two steps' critical scales (``best / z``, where a
    document's length changes) around it, so that no step is left within rounding of a tie."""
    critical = sorted(set((best / z)[z > 0].tolist()))
    below = [c for c in critical if lengths_at(c * (1 + 1e-9), z, best).mean() <= mean_length]
    if not below:
        return 2 * critical[-1] if critical else 1.0
    first = below[0]
    above = [c for c in critical if c > first * (1 + 1e-9)]
    return (first * above[0]) ** 0.5 if above else 2 * first


def timed(lm, contexts: list[str], max_gen_toks: int, until: list[str]) -> tuple[float, list[str]]:
    from lm_eval.api.instance import Instance

    kwargs = {"until": list(until), "max_gen_toks": max_gen_toks}
    instances = [Instance("generate_until", {}, (c, dict(kwargs)), i) for i, c in enumerate(contexts)]
    start = clock(lm.model)
    answers = lm.generate_until(instances, disable_tqdm=True)
    return clock(lm.model) - start, answers


def clock(model) -> float:
    """The process's CPU time on a CPU (other processes' load left out); on a GPU, wall time once the
    device has finished its queued work."""
    if model.device.type == "cuda":
        torch.cuda.synchronize(model.device)
        return time.perf_counter()
    return time.process_time()


class ForwardCount:
    """What an engine asks of the model: forward calls and the positions they carry (padding included),
    counted by a hook on the model, for ``hf`` as for ours. Decode steps cost about the same per
    forward call whatever the rows on a small model, prefill about the same per position, so these
    two counts bound what any engine that computes the same logits can gain over ``hf``."""

    def __init__(self, model):
        self.calls = self.positions = 0
        self.handle = model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.calls += 1
        self.positions += ids.numel() if ids is not None else 0

    def take(self) -> tuple[int, int]:
        taken, self.calls, self.positions = (self.calls, self.positions), 0, 0
        return taken


def compare(
    model,
    tokenizer,
    shape: str,
    contexts: list[str],
    max_gen_toks: int,
    batch: int,
    repeats: int,
    near_ties: str = "redecide",
) -> dict:
    from lm_eval.models.huggingface import HFLM

    from polyplatypus.eval.lm_eval_engine import SharedContextLM

    device = str(model.device)
    ours = SharedContextLM(pretrained=model, tokenizer=tokenizer, batch_size=batch, device=device, near_ties=near_ties)
    if batch == "auto":  # hf's own "auto" probes by forwarding max_length-wide batches: not affordable on a CPU,
        # so hf gets the row count our "auto" chose (the key/value budget, at most MAX_CPU_ROWS on a CPU)
        from polyplatypus.eval.generation import MAX_CPU_ROWS, auto_rows

        width = max(len(tokenizer(c).input_ids) for c in contexts) + max_gen_toks
        batch = f"auto ({min(len(contexts), auto_rows(model, width), MAX_CPU_ROWS)})"
    hf = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=_rows(batch), device=device)
    hf_times, our_times, same = [], [], True
    count = ForwardCount(model)
    for _ in range(repeats):  # alternating, so that a change of load hits both sides
        until = UNTIL.get(shape, ["\n\n"])
        hf_time, want = timed(hf, contexts, max_gen_toks, until)
        hf_calls, hf_positions = count.take()
        our_time, got = timed(ours, contexts, max_gen_toks, until)
        our_calls, our_positions = count.take()
        hf_times.append(hf_time)
        our_times.append(our_time)
        same = same and got == want
        differing = sum(a != b for a, b in zip(got, want))  # half precision: hf's text moves with its batch size
    count.handle.remove()
    counters = ours.generation_counters
    lengths = sorted(r.n_tokens for r in ours.last_generated)
    hf_time, our_time = statistics.median(hf_times), statistics.median(our_times)
    return dict(
        shape=shape,
        batch=batch,
        max_gen_toks=max_gen_toks,
        hf_s=round(hf_time, 3),
        ours_s=round(our_time, 3),
        speedup=round(hf_time / our_time, 2),
        same=same,
        differing=differing,
        positions=counters.positions_forwarded,
        hf_forwards=hf_calls,
        ours_forwards=our_calls,
        hf_positions=hf_positions,
        ours_positions=our_positions,  # padding included (positions: the engine's count, without)
        minimum=counters.minimum_positions,
        padding=counters.padding_positions,
        redone=counters.redone,
        sent_whole=counters.sent_whole,
        redone_positions=counters.redone_positions,
        near_ties=near_ties,
        near_ties_kept=counters.near_ties_kept,
        dtype=str(model.dtype).removeprefix("torch."),
        stops="/".join(sorted({r.stop_reason for r in ours.last_generated})),
        tokens=sum(lengths),
        lengths=f"{lengths[0]}/{statistics.median(lengths):g}/{lengths[-1]}",
        load=round(os.getloadavg()[0], 1),
    )


def _rows(batch) -> int:
    return int(str(batch).removeprefix("auto (").removesuffix(")"))


def run(args, lengths: str, model, tokenizer, eos: EosRow) -> list[dict]:
    rows = []
    wanted = args.shapes.split(",")
    for shape, contexts in shapes(args.docs, cot_docs=args.cot_docs, cot_hard="cot_hard" in wanted).items():
        if shape not in args.shapes.split(","):
            continue
        if lengths == "varied":
            max_gen_toks, mean_length = VARIED[shape]
            z, best = greedy_paths(model, tokenizer, contexts, max_gen_toks, eos)
            scale = calibrate(z, best, mean_length)
            eos.set(scale)
        else:
            max_gen_toks, scale = LIMIT[shape], None
            eos.set(None)
        repeats = [int(r) for r in args.repeats.split(",")]
        batches = [b if b == "auto" else int(b) for b in args.batch_sizes.split(",")]
        for batch, times in zip(batches, repeats + repeats[-1:] * 9):
            for near_ties in args.near_ties.split(","):
                row = dict(mode=lengths, eos_scale=scale, docs=len(contexts)) | compare(
                    model, tokenizer, shape, contexts, max_gen_toks, batch, times, near_ties
                )
                rows.append(row)
                print(json.dumps(row, ensure_ascii=False), flush=True)
    eos.set(None)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--tokenizer",
        default=os.environ.get(
            "POLYPLATYPUS_TOKENIZER_DIR", str(REPO.parent / "shared" / "data" / "polyglot-ko-tokenizer")
        ),
    )
    parser.add_argument("--sizes", default="512x6x8", help="hidden x layers x heads")
    parser.add_argument(
        "--max-positions",
        type=int,
        default=4096,
        help="the model's context length (today's bases take far more); at Polyglot-ko's 2048, cot_hard's"
        " contexts are left-truncated to 2048 - max_gen_toks tokens, each by its own amount, and share no prefix",
    )
    parser.add_argument("--train-steps", type=int, default=0, help="train briefly instead (small sizes only)")
    parser.add_argument("--docs", type=int, default=16)
    parser.add_argument("--cot-docs", type=int, default=24, help="documents of the cot shape (--lengths varied)")
    parser.add_argument("--batch-sizes", default="1,8", help="numbers, or auto (ours: auto; hf: the rows ours chose)")
    parser.add_argument("--repeats", default="1,3", help="runs per batch size (the median is reported)")
    parser.add_argument("--shapes", default=",".join(VARIED))
    parser.add_argument(
        "--lengths",
        default="varied,limit",
        help="varied: the EOS row scaled to the shape's mean length; limit: every row runs to max_gen_toks",
    )
    parser.add_argument("--limit-shapes", default="first_n,zero,cot", help="the shapes run with --lengths limit")
    parser.add_argument("--limit-docs", type=int, default=8)
    parser.add_argument("--limit-batch-sizes", default="1,8")
    parser.add_argument("--limit-repeats", default="1")
    parser.add_argument(
        "--dtype",
        default="float32",
        choices=["float32", "bfloat16", "float16"],
        help="the model's dtype (half precision: near ties are frequent, see --near-ties)",
    )
    parser.add_argument(
        "--near-ties",
        default="redecide",
        help="ours: redecide (the text is hf's at batch 1), keep (the batch's token), or both: redecide,keep",
    )
    parser.add_argument("--device", default="cpu", help="cpu, or cuda (times are then wall times)")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, tokenizer = build(args.tokenizer, args.sizes, args.train_steps, args.max_positions)
    model = model.to(device=args.device, dtype=getattr(torch, args.dtype))
    eos = EosRow(model, tokenizer.eos_token_id)
    rows = []
    for lengths in args.lengths.split(","):
        if lengths == "limit":
            limits = dict(shapes=args.limit_shapes, batch_sizes=args.limit_batch_sizes, repeats=args.limit_repeats)
            args = argparse.Namespace(**vars(args) | limits | dict(docs=args.limit_docs, cot_docs=args.limit_docs))
        rows += run(args, lengths, model, tokenizer, eos)
    if args.json:
        Path(args.json).write_text(
            json.dumps(dict(sizes=args.sizes, docs=args.docs, load=os.getloadavg(), rows=rows), indent=1)
        )


if __name__ == "__main__":
    main()
