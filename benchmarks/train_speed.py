"""Training speed: the plain Platypus recipe (micro batch 1) against the fast path (sample packing).

    .venv/bin/python benchmarks/train_speed.py                       # tiny GPT-NeoX on CPU, ~1 minute
    .venv/bin/python benchmarks/train_speed.py --hidden 128 --layers 4 --output speed.json
    .venv/bin/python benchmarks/train_speed.py --layouts all            # every layout train names

Both variants train the same model on the same data for the same number of optimizer steps, so
they see the same examples in the same steps (the fast path packs each step's examples into
rows of up to the cutoff, attention kept per example). Each variant runs in its own process, so
that its peak memory (CUDA allocations on a GPU, resident set size on CPU) is its own.

Throughput is training tokens (prompt and response) per second over the steps after the first,
which carries one-off warm-up costs; model loading is excluded. It is shown per wall-clock second
and per CPU second of the process: on a shared machine the second one is the steadier measure.
The loss after the same examples must agree within ``--tolerance`` (LoRA dropout draws different
masks in the two layouts; nothing else differs), otherwise the script exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "train" / "data" / "ko_instructions.jsonl"
TOKENIZER = ROOT / "tests" / "fixtures" / "tiny-gptneox"


def make_data(path: Path, n: int, repeats: int = 1) -> None:
    """``n`` Korean instruction records from the test sample; the i-th output is repeated
    ``1 + i % repeats`` times (``repeats`` > 1 makes longer, more varied examples)."""
    base = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            record = dict(base[i % len(base)])
            record["output"] = " ".join([record["output"]] * (1 + i % repeats))
            record["instruction"] = f"{i + 1}번. {record['instruction']}"
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def make_model(path: Path, hidden: int, layers: int, max_positions: int, layout: str = "gpt_neox") -> None:
    from transformers import AutoTokenizer

    from polyplatypus.models.tiny import build_tiny_model, save_tiny_model

    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER)
    model = build_tiny_model(
        tokenizer, layout, seed=0, hidden_size=hidden, layers=layers, heads=4, max_positions=max_positions
    )
    save_tiny_model(path, tokenizer, model)


def worker(settings_json: str) -> None:
    """Run one variant (in its own process) and write its summary, with the throughput of the
    steps after the first, per wall-clock and per CPU second."""
    import time

    import torch

    settings = json.loads(settings_json)
    torch.set_num_threads(settings.pop("threads"))
    summary_path = settings.pop("summary_path")
    from polyplatypus.train import TrainConfig, train

    marks = []

    def on_step(info):
        marks.append((time.perf_counter(), time.process_time(), info["tokens"]))

    summary = train(TrainConfig(**settings), on_step=on_step)
    tokens = sum(t for _, _, t in marks[1:])
    summary["steady_tokens_per_s"] = tokens / (marks[-1][0] - marks[0][0])
    summary["steady_tokens_per_cpu_s"] = tokens / (marks[-1][1] - marks[0][1])
    Path(summary_path).write_text(json.dumps(summary), encoding="utf-8")


def run_variant(name: str, settings: dict, tmp: Path, threads: int) -> dict:
    slug = "".join(c if c.isalnum() else "-" for c in name)
    settings = {**settings, "output": str(tmp / slug), "summary_path": str(tmp / f"{slug}.json"), "threads": threads}
    env = dict(os.environ, POLYPLATYPUS_NO_PROGRESS="1", OMP_NUM_THREADS=str(threads))
    done = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(settings)], env=env, capture_output=True, text=True
    )
    if done.returncode:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"variant {name!r} failed")
    return json.loads((tmp / f"{slug}.json").read_text(encoding="utf-8"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=320, help="training examples (default: 320)")
    parser.add_argument("--steps", type=int, default=12, help="optimizer steps per variant (default: 12)")
    parser.add_argument("--batch-size", type=int, default=16, help="global batch (default: Platypus's 16)")
    parser.add_argument("--cutoff-len", type=int, default=1024, help="(default: 1024)")
    parser.add_argument("--hidden", type=int, default=32, help="model width (default: 32)")
    parser.add_argument("--layers", type=int, default=2, help="model depth (default: 2)")
    parser.add_argument(
        "--template",
        default="korean",
        help="prompt template (default: korean; alpaca adds "
        "~100 English-prompt tokens per example with this Korean tokenizer)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="longer outputs: the i-th output repeated 1 + i %% REPEATS times (default: 1, the sample's short answers)",
    )
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=4e-3,
        help="(default: 4e-3 with 2 warm-up steps, so that the loss moves within a few steps)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    parser.add_argument(
        "--group-by-length",
        action="store_true",
        help="add --group-by-length to the fast path (steps then hold other examples)",
    )
    parser.add_argument("--tolerance", type=float, default=0.02, help="max |loss difference| (default: 0.02)")
    parser.add_argument(
        "--layouts",
        default="gpt_neox",
        help="comma-separated tiny layouts (gpt_neox, llama, "
        "qwen2, qwen3, gemma3_text, gemma3, exaone4) or 'all' (default: gpt_neox)",
    )
    parser.add_argument("--output", help="also write the results as JSON here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return 0

    from polyplatypus.models.tiny import LAYOUTS

    layouts = list(LAYOUTS) if args.layouts == "all" else args.layouts.split(",")
    measured = {layout: measure_layout(args, layout) for layout in layouts}
    agree = all(report(args, layout, results) for layout, results in measured.items())
    if len(layouts) > 1:
        print_layout_table(measured)
    if args.output:
        Path(args.output).write_text(
            json.dumps(
                {
                    "settings": {k: v for k, v in vars(args).items() if k != "worker"},
                    **(
                        summarise(*measured.values())
                        if len(layouts) == 1
                        else {"layouts": {layout: summarise(results) for layout, results in measured.items()}}
                    ),
                    "tolerance": args.tolerance,
                },
                indent=2,
            ),
            encoding="utf-8",
        )
    return 0 if agree else 1


def measure_layout(args, layout: str) -> dict:
    """{variant: train summary} of the plain and the fast path on a tiny model of ``layout``."""
    fast_name = "packing + group by length" if args.group_by_length else "packing"
    fast = {"packing": True, "group_by_length": args.group_by_length}
    with tempfile.TemporaryDirectory(prefix="train-speed-") as tmp:
        tmp = Path(tmp)
        make_data(tmp / "data.jsonl", args.examples, args.repeats)
        make_model(tmp / "model", args.hidden, args.layers, max(2048, args.cutoff_len), layout)
        common = dict(
            base=str(tmp / "model"),
            data=str(tmp / "data.jsonl"),
            batch_size=args.batch_size,
            max_steps=args.steps,
            cutoff_len=args.cutoff_len,
            prompt_template=args.template,
            learning_rate=args.learning_rate,
            warmup_steps=2,
            logging_steps=max(1, args.steps // 3),
            save_steps=10**6,
            report_to=[],
        )
        results = {"plain (micro batch 1)": run_variant("plain", {**common, "packing": False}, tmp, args.threads)}
        results[fast_name] = run_variant("fast", {**common, **fast}, tmp, args.threads)
    return results


def report(args, layout: str, results: dict) -> bool:
    """Print one layout's table; whether the two paths' losses agree."""
    plain, quick = results.values()
    print(
        f"\n{layout}: {args.steps} steps x batch {args.batch_size} = {plain['examples']} examples, "
        f"{plain['tokens']} tokens; hidden {args.hidden} x {args.layers} layers; template {args.template}, "
        f"repeats {args.repeats}, cutoff {args.cutoff_len}; {args.threads} CPU thread(s)\n"
    )
    print(
        f"{'variant':<28}{'tokens/s':>10}{'tokens/CPU-s':>14}{'peak memory':>14}{'final loss':>12}"
        f"{'speed-up':>10}{'(CPU)':>8}"
    )
    for name, s in results.items():
        print(
            f"{name:<28}{s['steady_tokens_per_s']:>10.0f}{s['steady_tokens_per_cpu_s']:>14.0f}"
            f"{s['peak_memory_bytes'] / 2**20:>11.0f} MiB{s['final_loss']:>12.4f}"
            f"{s['steady_tokens_per_s'] / plain['steady_tokens_per_s']:>9.2f}x"
            f"{s['steady_tokens_per_cpu_s'] / plain['steady_tokens_per_cpu_s']:>7.2f}x"
        )
    difference = abs(quick["final_loss"] - plain["final_loss"])
    agree = difference <= args.tolerance and quick["examples"] == plain["examples"]
    print(
        f"\nloss over the last logged steps, after {plain['examples']} examples: |difference| = {difference:.4f} "
        f"({'within' if agree else 'OUTSIDE'} the tolerance {args.tolerance})"
    )
    return agree


def print_layout_table(measured: dict) -> None:
    """One line per layout: tokens per CPU second without and with packing (the steadier measure)."""
    print(f"\n{'layout':<14}{'plain tok/CPU-s':>17}{'packing tok/CPU-s':>19}{'speed-up':>10}{'|d loss|':>10}")
    for layout, results in measured.items():
        plain, quick = results.values()
        print(
            f"{layout:<14}{plain['steady_tokens_per_cpu_s']:>17.0f}{quick['steady_tokens_per_cpu_s']:>19.0f}"
            f"{quick['steady_tokens_per_cpu_s'] / plain['steady_tokens_per_cpu_s']:>9.2f}x"
            f"{abs(quick['final_loss'] - plain['final_loss']):>10.4f}"
        )


def summarise(results: dict) -> dict:
    keys = (
        "steady_tokens_per_s",
        "steady_tokens_per_cpu_s",
        "tokens_per_s",
        "peak_memory_bytes",
        "initial_loss",
        "final_loss",
        "examples",
        "tokens",
        "wall_time_s",
    )
    plain, quick = results.values()
    return {
        "results": {name: {k: s[k] for k in keys} for name, s in results.items()},
        "speedup": quick["steady_tokens_per_s"] / plain["steady_tokens_per_s"],
        "speedup_cpu": quick["steady_tokens_per_cpu_s"] / plain["steady_tokens_per_cpu_s"],
        "loss_difference": abs(quick["final_loss"] - plain["final_loss"]),
    }


if __name__ == "__main__":
    sys.exit(main())
