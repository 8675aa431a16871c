"""Evaluation speed: polyplatypus's shared-context scorer against EleutherAI's lm-evaluation-harness,
and the fixed cost per cell (time outside the model's forward) of this version against an older one.

All engines score the same random-weight model (a scaled-down Polyglot-ko layout: GPT-NeoX,
parallel residual, partial rotary, the real Polyglot-ko tokenizer from
``../shared/data/polyglot-ko-tokenizer`` or $POLYPLATYPUS_TOKENIZER_DIR) on the same KoBEST
documents, in one process, one after the other. lm-evaluation-harness (``lm_eval`` v0.4) gets,
through its ``HFLM`` engine, exactly the requests the reference harness builds, and is timed end
to end from the request strings: its own ``tok_encode`` on each context and continuation (as the
reference tokenizes them, separately), then ``_loglikelihood_tokens``. Ours is timed from the
request strings too (``score`` tokenizes).

Time is the CPU time of the process over the scoring span, torch on one thread (model building
excluded; the tokenizer's own threads are counted). *compute* is the
time inside the transformer stack, the output head and log-softmax; *outside* is the rest, the
fixed costs: tokenization, packing, masks, host-device copies, synchronisations, gathers and sums.
``--old-commit`` (default: the commit before the fixed-cost work) loads that commit's scorer
modules from git into a temporary folder, so old and new run side by side in one process.

    python benchmarks/eval_speed.py --kobest-dir ../shared/data/kobest/v1.0 --shots 0,5 --limit 16

``--lm-eval-tasks`` measures lm-evaluation-harness tasks instead (``lm_eval:`` cells): the task
files of the parity tests (tests/eval/lm_eval_fixtures.py: lm-eval's kobest tasks over the KoBEST
TSVs, KMMLU-, HAE-RAE- and CLIcK-format tasks) are built once with lm-eval's own machinery, then
the same Instances go through ``SharedContextLM.loglikelihood`` and ``HFLM.loglikelihood`` (both
tokenize with lm-eval's ``_encode_pair``), for each model size of ``--sizes`` and each batch size
of ``--batch-sizes``, the median of ``--repeats`` runs, one after the other in one process:

    python benchmarks/eval_speed.py --lm-eval-tasks all --shots 0,5 --limit 12
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from polyplatypus.data.kobest import load_kobest
from polyplatypus.eval.metrics import macro_f1, predict
from polyplatypus.eval.requests import build_requests
from polyplatypus.eval.scorer import encode_requests, minimum_tokens
from polyplatypus.eval.shared_context import SharedContextScorer
from polyplatypus.models.loading import model_max_length
from polyplatypus.models.tiny import build_tiny_model
from polyplatypus.tasks import get_task

REPO = Path(__file__).resolve().parents[1]
OLD_COMMIT = "c3b4ad0"  # per-document tokenization, CPU float masks, one read-back per continuation


def polyglot_tokenizer_dir(explicit: str | None = None) -> Path:
    """--tokenizer, else $POLYPLATYPUS_TOKENIZER_DIR, else <repo>/../shared/data/polyglot-ko-tokenizer."""
    path = Path(
        explicit
        or os.environ.get("POLYPLATYPUS_TOKENIZER_DIR")
        or REPO.parent / "shared" / "data" / "polyglot-ko-tokenizer"
    )
    if not (path / "tokenizer.json").is_file():
        raise SystemExit(
            f"Polyglot-ko tokenizer not found in {path}; pass --tokenizer or set POLYPLATYPUS_TOKENIZER_DIR"
        )
    return path


def clock(device) -> float:
    """CPU time of the process on CPU (robust on a loaded machine; it includes the Rust tokenizer's
    worker threads, which a thread clock would miss); wall time after a sync on CUDA."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
        return time.perf_counter()
    return time.process_time()


class ForwardMeter:
    """Tokens entering the transformer stack, and time spent computing: inside the stack and the
    output head (forward hooks) and in log-softmax (``torch.log_softmax`` and
    ``torch.nn.functional.log_softmax`` wrapped while the meter lives; both engines call one)."""

    def __init__(self, model, device, *, timed: bool = True):
        self.device = device
        self.timed = timed  # on CUDA every timing point synchronises: count tokens only when timing is not wanted
        self.tokens = 0
        self.seconds = 0.0
        self._start = None
        for module in (model.get_decoder(), model.get_output_embeddings()):
            module.register_forward_pre_hook(self._enter, with_kwargs=True)
            module.register_forward_hook(self._leave)
        self._decoder = model.get_decoder()
        if timed:
            for owner in (torch, torch.nn.functional):
                owner.log_softmax = self._timed(owner.log_softmax)

    def _timed(self, function):
        def log_softmax(*args, **kwargs):
            start = clock(self.device)
            result = function(*args, **kwargs)
            self.seconds += clock(self.device) - start
            return result

        return log_softmax

    def reset(self):
        self.tokens, self.seconds = 0, 0.0

    def _enter(self, module, args, kwargs):
        if module is self._decoder:
            ids = kwargs.get("input_ids", args[0] if args else None)
            self.tokens += int(ids.numel())
        if self.timed:
            self._start = clock(self.device)

    def _leave(self, module, args, output):
        if self.timed:
            self.seconds += clock(self.device) - self._start


def load_old_scorers(commit: str):
    """``(SharedContextScorer, RequestScorer)`` of ``commit``, imported from git into a temporary folder."""
    folder = Path(tempfile.mkdtemp(prefix="old-scorer-"))
    sources = {}
    for name in ("scorer", "shared_context"):
        text = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{commit}:src/polyplatypus/eval/{name}.py"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        sources[name] = text.replace("from polyplatypus.eval.scorer import", "from old_scorer import")
    modules = {}
    sys.path.insert(0, str(folder))
    for name in ("scorer", "shared_context"):
        path = folder / f"old_{name}.py"
        path.write_text(sources[name], encoding="utf-8")
        spec = importlib.util.spec_from_file_location(f"old_{name}", path)
        modules[name] = importlib.util.module_from_spec(spec)
        sys.modules[f"old_{name}"] = modules[name]
        spec.loader.exec_module(modules[name])
    return modules["shared_context"].SharedContextScorer, modules["scorer"].RequestScorer


def lm_eval_loglikelihoods(harness, requests):
    """lm-eval end to end from strings: its tok_encode per context and continuation, then its engine."""
    flat = []
    for request in requests:
        context = [harness.eot_token_id] if request.context == "" else harness.tok_encode(request.context)
        for continuation in request.continuations:
            flat.append(((request.context, continuation), context, harness.tok_encode(continuation)))
    answers = harness._loglikelihood_tokens(flat, disable_tqdm=True)
    out, i = [], 0
    for request in requests:
        out.append([ll for ll, _ in answers[i : i + len(request.continuations)]])
        i += len(request.continuations)
    return out


def measured(meter, fn):
    meter.reset()
    start = clock(meter.device)
    result = fn()
    total = clock(meter.device) - start
    return result, {"s": total, "compute_s": meter.seconds, "outside_s": total - meter.seconds, "tokens": meter.tokens}


LM_EVAL_TASKS = "kobest_boolq_tsv,kobest_copa_tsv,kobest_hellaswag_tsv,haerae_local,kmmlu_local,click_local_economy"


def lm_eval_cells(args):
    """The benchmark's lm-eval cells, each built once (outside any timing)."""
    sys.path.insert(0, str(REPO))
    from polyplatypus.tasks.lm_eval_tasks import build_cell
    from tests.eval import lm_eval_fixtures as fx

    folder = Path(tempfile.mkdtemp(prefix="lm-eval-bench-"))
    fx.write_kobest_tasks(folder / "kobest", Path(args.kobest_dir))
    fx.write_kmmlu_tasks(folder / "kmmlu", copies=4)
    fx.write_haerae_task(folder / "haerae", copies=4)
    fx.write_click_task(folder / "click", copies=4)
    names = LM_EVAL_TASKS if args.lm_eval_tasks == "all" else args.lm_eval_tasks
    shots = [int(k) for k in args.shots.split(",")]
    return [
        build_cell(f"lm_eval:{name}", k, limit=args.limit, include_path=[str(folder)])
        for name in names.split(",")
        for k in shots
    ]


def per_document_predictions(instances, answers) -> list[int]:
    by_doc: dict = {}
    for inst, (ll, _) in zip(instances, answers):
        by_doc.setdefault((inst.task_name, inst.doc_id), []).append(ll)
    return [max(range(len(lls)), key=lambda i: (lls[i], -i)) for lls in by_doc.values()]


def median_run(meter, fn, repeats: int):
    runs = [measured(meter, fn) for _ in range(repeats)]
    ordered = sorted(runs, key=lambda run: run[1]["s"])
    return ordered[len(ordered) // 2]


def lm_eval_main(args):
    """--lm-eval-tasks: SharedContextLM against lm-eval's HFLM on lm-eval task cells."""
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoTokenizer

    from polyplatypus.eval.lm_eval_engine import SharedContextLM

    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(polyglot_tokenizer_dir(args.tokenizer))
    cells = lm_eval_cells(args)
    print(
        f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
        f"median of {args.repeats} runs; CPU seconds\n"
    )
    header = (
        f"{'size':>9}{'batch':>6} {'cell':<34}{'docs':>5} | {'ours s':>7}{'lm-eval s':>10}{'speed-up':>9} | "
        f"{'ours t/min':>10}{'lm t/min':>9} | {'same preds':>10}{'max|dLL|':>9}"
    )
    print(header + "\n" + "-" * len(header))
    rows = []
    for size in args.sizes.split(","):
        hidden, layers, heads = (int(x) for x in size.split("x"))
        model = build_tiny_model(
            tokenizer, "gpt_neox", seed=0, hidden_size=hidden, layers=layers, heads=heads, max_positions=2048
        ).to(args.device)
        meter = ForwardMeter(model, args.device)
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            ours = SharedContextLM(
                pretrained=model, tokenizer=tokenizer, batch_size=batch, max_length=2048, device=args.device
            )
            theirs = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch, max_length=2048, device=args.device)
            warm = cells[0].all_instances()[:4]
            ours.loglikelihood(warm, disable_tqdm=True), theirs.loglikelihood(warm, disable_tqdm=True)
            for cell in cells:
                instances = cell.all_instances()
                mine, ours_t = median_run(meter, lambda: ours.loglikelihood(instances, disable_tqdm=True), args.repeats)
                minimum = sum(s.minimum_tokens for s in ours.last_scored.scored)
                ref, lm_t = median_run(meter, lambda: theirs.loglikelihood(instances, disable_tqdm=True), args.repeats)
                row = {
                    "size": size,
                    "params": sum(p.numel() for p in model.parameters()),
                    "batch": batch,
                    "cell": f"{cell.name} {cell.shots}-shot",
                    "docs": sum(len({i.doc_id for i in v}) for v in cell.instances.values()),
                    "ours": ours_t,
                    "lm_eval": lm_t,
                    "speedup": lm_t["s"] / ours_t["s"],
                    "minimum_tokens": minimum,
                    "ours_tokens_over_min": ours_t["tokens"] / minimum,
                    "lm_eval_tokens_over_min": lm_t["tokens"] / minimum,
                    "same_predictions": per_document_predictions(instances, mine)
                    == per_document_predictions(instances, ref),
                    "max_abs_ll_diff": max(abs(a[0] - b[0]) for a, b in zip(mine, ref)),
                }
                rows.append(row)
                print(
                    f"{size:>9}{batch:>6} {row['cell']:<34}{row['docs']:>5} | {ours_t['s']:>7.2f}{lm_t['s']:>10.2f}"
                    f"{row['speedup']:>8.2f}x | {row['ours_tokens_over_min']:>10.3f}{row['lm_eval_tokens_over_min']:>9.3f} | "
                    f"{str(row['same_predictions']):>10}{row['max_abs_ll_diff']:>9.1e}",
                    flush=True,
                )
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"rows": rows, "args": vars(args), "load_average_end": os.getloadavg()[0]}, handle, indent=2)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--kobest-dir", default=os.environ.get("POLYPLATYPUS_KOBEST_DIR", str(REPO.parent / "shared/data/kobest/v1.0"))
    )
    parser.add_argument("--tokenizer", default=None, help="Polyglot-ko tokenizer folder (default: ../shared/...)")
    parser.add_argument("--tasks", default="kobest_boolq,kobest_copa,kobest_hellaswag,kobest_sentineg,kobest_wic")
    parser.add_argument("--shots", default="0,5")
    parser.add_argument("--limit", type=int, default=16, help="documents per task")
    parser.add_argument("--batch-size", type=int, default=1, help="rows per batch, the same for every engine")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument(
        "--old-commit", default=OLD_COMMIT, help="older scorer to compare fixed costs with; '' skips it"
    )
    parser.add_argument("--no-lm-eval", action="store_true", help="skip lm-evaluation-harness")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    parser.add_argument(
        "--lm-eval-tasks",
        default=None,
        metavar="NAMES",
        help=f"comma-separated lm-eval task names of the parity tests' task files, or 'all' ({LM_EVAL_TASKS})",
    )
    parser.add_argument("--sizes", default="256x4x4,32x1x2", help="with --lm-eval-tasks: HIDDENxLAYERSxHEADS,...")
    parser.add_argument("--batch-sizes", default="1,8", help="with --lm-eval-tasks: batch sizes to run")
    parser.add_argument("--repeats", type=int, default=3, help="with --lm-eval-tasks: runs per measurement (median)")
    args = parser.parse_args()
    if args.lm_eval_tasks:
        return lm_eval_main(args)

    torch.set_num_threads(1)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(polyglot_tokenizer_dir(args.tokenizer))
    model = build_tiny_model(
        tokenizer, "gpt_neox", seed=0, hidden_size=args.hidden, layers=args.layers, heads=args.heads, max_positions=2048
    )
    model = model.to(device=args.device, dtype=getattr(torch, args.dtype))
    params = sum(p.numel() for p in model.parameters())
    max_length = model_max_length(model)
    meter = ForwardMeter(model, args.device)
    ours = SharedContextScorer(model, tokenizer, batch_size=args.batch_size)
    old = None
    if args.old_commit:
        old_shared, _ = load_old_scorers(args.old_commit)
        old = old_shared(model, tokenizer, batch_size=args.batch_size)
    harness = None
    if not args.no_lm_eval:
        from lm_eval.models.huggingface import HFLM  # the package under comparison

        harness = HFLM(
            pretrained=model, tokenizer=tokenizer, batch_size=args.batch_size, max_length=max_length, device=args.device
        )
    print(
        f"model: GPT-NeoX {args.layers} layers, hidden {args.hidden}, Polyglot-ko tokenizer ({len(tokenizer)}), "
        f"{params / 1e6:.1f}M parameters, {args.dtype}, max length {max_length}, batch {args.batch_size}; "
        f"torch threads 1; seconds are {'CPU' if args.device == 'cpu' else 'wall'} time\n"
    )
    header = (
        f"{'task':<17}{'k':>3}{'docs':>5} | {'ours s':>7}{'outside':>8}{'old s':>7}{'outside':>8}"
        f"{'lm-eval s':>10}{'outside':>8}{'vs lm':>7} | {'ours t/min':>10}{'old t/min':>10}{'lm t/min':>9} | {'F1 ours':>8}"
        f"{'F1 lm':>7}{'max|dLL|':>9}"
    )
    print(header)
    print("-" * len(header))
    warm = build_requests(get_task("kobest_copa"), load_kobest("copa", "test", args.kobest_dir), [], 0, 2)
    for engine in (ours, old):  # first calls pay one-time costs (allocations, kernel selection)
        if engine is not None:
            engine.score(warm)
    if harness is not None:
        with torch.inference_mode():
            lm_eval_loglikelihoods(harness, warm)
    rows = []
    for name in args.tasks.split(","):
        task = get_task(name)
        test, train = (
            load_kobest(task.source, "test", args.kobest_dir),
            load_kobest(task.source, "train", args.kobest_dir),
        )
        for shots in [int(s) for s in args.shots.split(",")]:
            requests = build_requests(task, test, train, shots, args.limit)
            encoded = encode_requests(tokenizer, requests)
            minimum = sum(minimum_tokens(d.context, d.continuations, max_length) for d in encoded)
            golds = [r.gold for r in requests]
            scored, new_t = measured(meter, lambda: ours.score(requests))
            ours_lls = [s.loglikelihoods for s in scored]
            row = {
                "task": name,
                "shots": shots,
                "docs": len(requests),
                "minimum_tokens": minimum,
                "ours": new_t,
                "ours_tokens_over_min": new_t["tokens"] / minimum,
                "f1_ours": macro_f1(golds, [predict(x) for x in ours_lls]),
                "rescored": sum(s.rescored for s in scored),
            }
            if old is not None:
                old_scored, old_t = measured(meter, lambda: old.score(requests))
                row["old"] = old_t
                row["old_tokens_over_min"] = old_t["tokens"] / minimum
                row["max_abs_ll_diff_old"] = max(
                    abs(a - b) for s, t in zip(old_scored, scored) for a, b in zip(s.loglikelihoods, t.loglikelihoods)
                )
            if harness is not None:
                with torch.inference_mode():
                    lm_lls, lm_t = measured(meter, lambda: lm_eval_loglikelihoods(harness, requests))
                row["lm_eval"] = lm_t
                row["lm_eval_tokens_over_min"] = lm_t["tokens"] / minimum
                row["f1_lm_eval"] = macro_f1(golds, [predict(x) for x in lm_lls])
                row["max_abs_ll_diff"] = max(abs(a - b) for x, y in zip(ours_lls, lm_lls) for a, b in zip(x, y))
                row["speedup"] = lm_t["s"] / new_t["s"]
            rows.append(row)
            o, lm = row.get("old", {}), row.get("lm_eval", {})
            nan = float("nan")
            print(
                f"{name:<17}{shots:>3}{len(requests):>5} | {new_t['s']:>7.2f}{new_t['outside_s']:>8.3f}"
                f"{o.get('s', nan):>7.2f}{o.get('outside_s', nan):>8.3f}{lm.get('s', nan):>10.2f}"
                f"{lm.get('outside_s', nan):>8.3f}{row.get('speedup', nan):>6.2f}x | {row['ours_tokens_over_min']:>10.3f}"
                f"{row.get('old_tokens_over_min', nan):>10.3f}"
                f"{row.get('lm_eval_tokens_over_min', nan):>9.3f} | {row['f1_ours']:>8.4f}{row.get('f1_lm_eval', nan):>7.4f}"
                f"{row.get('max_abs_ll_diff', nan):>9.1e}",
                flush=True,
            )
    summary = {"outside_share_ours": sum(r["ours"]["outside_s"] for r in rows) / sum(r["ours"]["s"] for r in rows)}
    if old is not None:
        summary["outside_share_old"] = sum(r["old"]["outside_s"] for r in rows) / sum(r["old"]["s"] for r in rows)
        summary["outside_s_per_cell_old"] = sum(r["old"]["outside_s"] for r in rows) / len(rows)
    summary["outside_s_per_cell_ours"] = sum(r["ours"]["outside_s"] for r in rows) / len(rows)
    if harness is not None:
        summary["f1_identical"] = all(abs(r["f1_ours"] - r["f1_lm_eval"]) < 1e-12 for r in rows)
        summary["outside_share_lm_eval"] = sum(r["lm_eval"]["outside_s"] for r in rows) / sum(
            r["lm_eval"]["s"] for r in rows
        )
    print("\n" + "\n".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in summary.items()))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(
                {"rows": rows, "summary": summary, "params": params, "max_length": max_length, "args": vars(args)},
                handle,
                indent=2,
            )


if __name__ == "__main__":
    main()
