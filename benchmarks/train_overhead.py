"""Fixed cost per training pass: the plain layout and the packed default, before and after, on a
deep, narrow model where that cost (not arithmetic) dominates.

    .venv/bin/python benchmarks/train_overhead.py                 # ~5 minutes on a 2-core CPU
    .venv/bin/python benchmarks/train_overhead.py --output overhead.json --steps 8

The model is the Polyglot-ko layout (GPT-NeoX, vocabulary 30080) at hidden 64 x 24 layers with
random weights and the real Polyglot-ko tokenizer (../shared/data/polyglot-ko-tokenizer or
$POLYPLATYPUS_TOKENIZER_DIR); the data is the bundled instruction sample with the Alpaca template;
global batch 16, LoRA dropout 0 (so every variant must reach the same losses). Each variant runs
``train()`` in its own process; "before" runs the same code at ``--before`` (default: c3b4ad0, the
commit before the overhead work), extracted with ``git archive``, side by side in the same run.

Per variant: ms per optimizer step and per forward/backward pass (the pass count is measured),
training tokens/s (wall clock, and per CPU second: the steadier figure on a shared machine), and
the host reads of tensor values in one step outside the optimizer (``aten::_local_scalar_dense``:
``.item()``, ``int(t)``, ``if t``; ``aten::nonzero``: boolean-mask indexing), counted by
torch.profiler. On a GPU each such read stops the host until the queued kernels have run (on a
CPU they cost nothing, so the CPU times below cannot show what removing them gains). The first two steps
(warm-up, then the profiled one) are not timed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from gpu_train import SAMPLE_FILE, find_tokenizer, polyglot_config  # noqa: E402  (one definition of the layouts)

VARIANTS = {  # name: (code, settings)
    "plain mb1, before": ("before", {"packing": False}),
    "plain mb1, now (--no-packing)": ("now", {"packing": False}),
    "packing, before (--packing)": ("before", {"packing": True}),
    "packed, now (default)": ("now", {"packing": True}),
    "packed + grad. checkpointing, now": ("now", {"packing": True, "gradient_checkpointing": True}),
}
HOST_READS = ("aten::_local_scalar_dense", "aten::nonzero")


def make_model(path: Path, tokenizer_dir: Path, layout: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(polyglot_config(layout, tokenizer), dtype=torch.float32)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)


def worker(settings_json: str) -> None:
    """One variant in this process: train, time the steps after the second, profile the second."""
    import time

    import torch
    from torch.profiler import ProfilerActivity, profile
    from transformers.models.gpt_neox import modeling_gpt_neox

    settings = json.loads(settings_json)
    torch.set_num_threads(settings.pop("threads"))
    result_path = settings.pop("result_path")
    from polyplatypus.train import train

    passes = [0]
    forward = modeling_gpt_neox.GPTNeoXForCausalLM.forward

    def counting_forward(self, *args, **kwargs):
        passes[0] += 1
        return forward(self, *args, **kwargs)

    modeling_gpt_neox.GPTNeoXForCausalLM.forward = counting_forward
    marks, losses = [], []
    profiler = profile(activities=[ProfilerActivity.CPU])

    def on_step(info):
        if info["step"] == 2:
            profiler.stop()
        marks.append((time.perf_counter(), time.process_time(), info["tokens"], passes[0]))
        losses.append(info["loss"])
        if info["step"] == 1:
            profiler.start()

    summary = train(settings, on_step=on_step, progress=False)
    timed = marks[2:]
    steps = len(timed) - 1
    counts = {}
    for event in profiler.events():
        if event.name in HOST_READS and not _inside_optimizer(event):
            counts[event.name] = counts.get(event.name, 0) + 1
    result = {
        "ms_per_step": 1000 * (timed[-1][0] - timed[0][0]) / steps,
        "cpu_ms_per_step": 1000 * (timed[-1][1] - timed[0][1]) / steps,
        "passes_per_step": (timed[-1][3] - timed[0][3]) / steps,
        "tokens_per_s": sum(m[2] for m in timed[1:]) / (timed[-1][0] - timed[0][0]),
        "tokens_per_cpu_s": sum(m[2] for m in timed[1:]) / (timed[-1][1] - timed[0][1]),
        "host_reads_per_step": sum(counts.values()),
        "host_reads": counts,
        "step_losses": losses,
        "tokens": summary["tokens"],
        "examples": summary["examples"],
    }
    result["ms_per_pass"] = result["ms_per_step"] / result["passes_per_step"]
    Path(result_path).write_text(json.dumps(result), encoding="utf-8")


def _inside_optimizer(event) -> bool:
    """Whether a profiler event ran inside ``optimizer.step()``: torch's AdamW reads its step counters,
    which live on the host (not device reads), once per parameter tensor."""
    parent = event.cpu_parent
    while parent is not None:
        if parent.name.startswith("Optimizer.step"):
            return True
        parent = parent.cpu_parent
    return False


def run_variant(name: str, code: str, settings: dict, tmp: Path, threads: int, sources: dict) -> dict:
    slug = "".join(c if c.isalnum() else "-" for c in name)
    settings = {**settings, "output": str(tmp / slug), "result_path": str(tmp / f"{slug}.json"), "threads": threads}
    env = dict(
        os.environ,
        OMP_NUM_THREADS=str(threads),
        PYTHONPATH=os.pathsep.join(
            [str(sources[code])] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        ),
    )
    done = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(settings)], env=env, capture_output=True, text=True
    )
    if done.returncode:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"variant {name!r} failed")
    return json.loads((tmp / f"{slug}.json").read_text(encoding="utf-8"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8, help="optimizer steps per variant (default: 8; 2 untimed)")
    parser.add_argument("--layout", default="deep-narrow", help="a layout of gpu_train.py (default: deep-narrow)")
    parser.add_argument("--before", default="c3b4ad0", help="git revision timed as 'before' (default: c3b4ad0)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    parser.add_argument("--tokenizer", help="Polyglot-ko tokenizer folder")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=1e-4,
        help="max |loss difference| from 'plain mb1, now' (default: 1e-4; LoRA dropout is 0)",
    )
    parser.add_argument("--output", help="also write the results as JSON here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return 0

    with tempfile.TemporaryDirectory(prefix="train-overhead-") as tmp:
        tmp = Path(tmp)
        (tmp / "before").mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.before, "src"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp / "before")], input=archive, check=True)
        sources = {"before": tmp / "before" / "src", "now": ROOT / "src"}
        make_model(tmp / "model", find_tokenizer(args.tokenizer), args.layout)
        common = dict(
            base=str(tmp / "model"),
            data=str(SAMPLE_FILE),
            batch_size=16,
            max_steps=args.steps,
            prompt_template="alpaca",
            lora_dropout=0.0,
            warmup_steps=2,
            learning_rate=4e-3,
            save_steps=10**6,
            report_to=[],
        )
        results = {}
        for name, (code, settings) in VARIANTS.items():
            results[name] = run_variant(name, code, {**common, **settings}, tmp, args.threads, sources)
            print(f"done: {name}", file=sys.stderr, flush=True)

    reference = results["plain mb1, now (--no-packing)"]
    print(
        f"\n{args.layout} ({polyglot_config_summary(args.layout)}), {args.steps} steps x 16 examples "
        f"({reference['tokens']} tokens), {args.threads} CPU thread(s); 'before' = {args.before}\n"
    )
    print(
        f"{'variant':<36}{'ms/step':>9}{'passes':>8}{'ms/pass':>9}{'tokens/s':>10}{'tok/CPU-s':>11}"
        f"{'reads/step':>12}{'max |Δloss|':>13}"
    )
    worst = 0.0
    for name, r in results.items():
        difference = max(abs(a - b) for a, b in zip(r["step_losses"], reference["step_losses"]))
        r["max_loss_difference"] = difference
        worst = max(worst, difference)
        print(
            f"{name:<36}{r['ms_per_step']:>9.0f}{r['passes_per_step']:>8.1f}{r['ms_per_pass']:>9.1f}"
            f"{r['tokens_per_s']:>10.0f}{r['tokens_per_cpu_s']:>11.0f}{r['host_reads_per_step']:>12}"
            f"{difference:>13.2e}"
        )
    before, now = results["plain mb1, before"], reference
    print(
        f"\nplain layout: {before['cpu_ms_per_step'] / now['cpu_ms_per_step']:.2f}x less CPU time per step than "
        f"before; packed default: {before['cpu_ms_per_step'] / results['packed, now (default)']['cpu_ms_per_step']:.2f}x"
    )
    agree = worst <= args.tolerance
    print(f"losses: max |difference| {worst:.2e} ({'within' if agree else 'OUTSIDE'} {args.tolerance})")
    if args.output:
        Path(args.output).write_text(
            json.dumps(
                {"settings": {k: v for k, v in vars(args).items() if k != "worker"}, "results": results}, indent=2
            ),
            encoding="utf-8",
        )
    return 0 if agree else 1


def polyglot_config_summary(layout: str) -> str:
    from gpu_train import LAYOUTS

    sizes = LAYOUTS[layout]
    return f"GPT-NeoX hidden {sizes['hidden_size']} x {sizes['num_hidden_layers']} layers, vocabulary 30080"


if __name__ == "__main__":
    sys.exit(main())
