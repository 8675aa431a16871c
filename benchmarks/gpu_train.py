"""Fine-tuning speed on one GPU: the Polyglot-ko layouts with random weights, the project's own step.

    python benchmarks/gpu_train.py --layout tiny --out /tmp/gt        # CPU check, well under a minute
    python benchmarks/gpu_train.py --layout 1.3b --layout 12.8b --out $OUT/train   # (benchmarks/gpu.sh)

For each layout the base model is built once, straight on the device in its training dtype (bf16
on a GPU, fp32 on CPU; 12.8b takes a second this way, while saving and reloading it would take a
minute), with the real Polyglot-ko tokenizer and vocabulary (30080). Each variant wraps it in a
fresh LoRA adapter with the Platypus settings (r16/alpha16 on the MLP, dropout 0.05, AdamW 4e-4,
global batch 16, cutoff 4096 capped at 2048) and runs optimizer steps through the function
``polyplatypus train`` runs (``recipe.train_step``, with Accelerate's mixed precision) on the
bundled instruction sample (``builtin:instructions/ko_platypus_sample.jsonl``, Alpaca template):

* ``plain``: micro batch 1, one example per pass (``--no-packing``, the literal Platypus layout);
* ``packed``: the default (a step's examples packed into rows of up to 2048 tokens);
* ``packed+gc``: the default with ``--gradient-checkpointing``;
* ``long`` / ``long+gc``: examples of 2048 tokens, micro batch 1 (the memory question at 12.8b);
* ``qlora``: the default on the base quantized to 4-bit NF4 (``--load-in 4bit``), if bitsandbytes
  imports and a GPU is there. The layers are quantized in place (the weights are random anyway)
  instead of through ``from_pretrained``; the adapter is added by the project's ``add_lora``.

Printed and written as JSON rows to ``--out``: training tokens/s over the steps after the first,
model FLOP/s (4 x parameters x tokens/s: the forward pass and the backward pass through the frozen
weights) and its share of a bf16 matrix product measured here, peak memory, each step's loss and
the largest difference from ``plain`` over the same steps, host synchronisations in one step (CUDA
sync debug mode), and torch.profiler's top kernels for one step of ``packed``. Every variant stops
after ``--steps`` steps or ``--budget-s`` seconds, whichever comes first; a variant that fails is
recorded with its error and the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = "builtin:instructions/ko_platypus_sample.jsonl"
SAMPLE_FILE = ROOT / "src" / "polyplatypus" / "assets" / "instructions" / "ko_platypus_sample.jsonl"
TOKENIZER_PLACES = ("gpu-carry/polyglot-ko-tokenizer", "../shared/data/polyglot-ko-tokenizer")

# EleutherAI/polyglot-ko-1.3b and -12.8b (config.json): GPT-NeoX, parallel residual, rotary on half
# of each head, 2048 positions, vocabulary 30080. ``tiny`` keeps the layout at a CPU-friendly size.
LAYOUTS = {
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256),
    # deep and narrow: little arithmetic per layer, so the fixed cost of each pass and layer shows
    "deep-narrow": dict(hidden_size=64, num_hidden_layers=24, num_attention_heads=4, intermediate_size=256),
    "1.3b": dict(hidden_size=2048, num_hidden_layers=24, num_attention_heads=16, intermediate_size=8192),
    "12.8b": dict(hidden_size=5120, num_hidden_layers=40, num_attention_heads=40, intermediate_size=20480),
}
LONG_STEPS = 3  # the long variants answer a memory question: a few steps do
VARIANTS = {  # name: (TrainConfig settings, long examples)
    "plain": ({"packing": False}, False),
    "packed": ({}, False),
    "packed+gc": ({"gradient_checkpointing": True}, False),
    "long": ({"packing": False, "batch_size": 4}, True),
    "long+gc": ({"packing": False, "batch_size": 4, "gradient_checkpointing": True}, True),
    "qlora": ({"load_in": "4bit"}, False),
}
# the CPU check only has to run every line: fewer, shorter examples per step
TINY_SETTINGS = {"batch_size": 2, "cutoff_len": 128}
DEFAULT_VARIANTS = {
    "deep-narrow": ["plain", "packed", "packed+gc"],
    "tiny": ["plain", "packed", "packed+gc", "long", "long+gc", "qlora"],
    "1.3b": ["plain", "packed", "packed+gc", "qlora"],
    "12.8b": ["plain", "packed", "long", "long+gc", "qlora"],
}


def polyglot_config(layout: str, tokenizer):
    from transformers import GPTNeoXConfig

    return GPTNeoXConfig(
        vocab_size=30080,
        max_position_embeddings=2048,
        rotary_pct=0.5,
        rotary_emb_base=10000,
        use_parallel_residual=True,
        tie_word_embeddings=False,
        layer_norm_eps=1e-5,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **LAYOUTS[layout],
    )


def find_tokenizer(given: str | None) -> Path:
    env = os.environ.get("POLYPLATYPUS_TOKENIZER_DIR")
    for place in [given, env] + [str(ROOT / p) for p in TOKENIZER_PLACES]:
        if place and (Path(place) / "tokenizer.json").is_file():
            return Path(place)
    raise SystemExit(f"no Polyglot-ko tokenizer found (give --tokenizer; looked in {', '.join(TOKENIZER_PLACES)})")


def build_model(layout: str, tokenizer, device, dtype):
    """A random-weight model of ``layout`` made directly on ``device`` in ``dtype``."""
    import torch
    from transformers import AutoModelForCausalLM

    from polyplatypus.models import attention

    attention.register()
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = AutoModelForCausalLM.from_config(
                polyglot_config(layout, tokenizer), dtype=dtype, attn_implementation=attention.NAME
            )
    finally:
        torch.set_default_dtype(previous)
    model.config.use_cache = False
    return model


def quantize_4bit(model, compute_dtype) -> None:
    """Replace the decoder's linear layers by bitsandbytes NF4 layers (double quantization), as
    ``--load-in 4bit`` loads them; the output layer stays in 16-bit, as transformers keeps it."""
    import bitsandbytes as bnb
    import torch

    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is not torch.nn.Linear or name == "embed_out":
                continue
            device = child.weight.device
            layer = bnb.nn.Linear4bit(
                child.in_features,
                child.out_features,
                bias=child.bias is not None,
                compute_dtype=compute_dtype,
                compress_statistics=True,
                quant_type="nf4",
                device="meta",
            )
            layer.weight = bnb.nn.Params4bit(
                child.weight.data, requires_grad=False, compress_statistics=True, quant_type="nf4", module=layer
            ).to(device)  # quantizes there
            if child.bias is not None:
                layer.bias = torch.nn.Parameter(child.bias.data, requires_grad=False)
            setattr(parent, name, layer)
    model.is_loaded_in_4bit = True  # what PEFT reads to prepare a k-bit model


def training_data(tokenizer, long: bool, cutoff: int):
    """The bundled sample tokenized with the Alpaca template; ``long`` stretches every answer to
    fill the cutoff (2048 tokens an example)."""
    from polyplatypus.data.instructions import load_instructions
    from polyplatypus.data.templates import get_template
    from polyplatypus.data.tokenize import tokenize_records

    records = load_instructions(str(SAMPLE_FILE))
    if long:
        records = [{**r, "output": " ".join([r["output"]] * 400)} for r in records]
    examples = tokenize_records(records, tokenizer, get_template("alpaca"), cutoff_len=cutoff)
    return [e for e in examples if e.n_targets > 0]


def matmul_peak(device, dtype) -> float:
    """FLOP/s of a large square matrix product here (the yardstick for model FLOP/s)."""
    import torch

    n = 8192 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    _sync(device)
    reps = 20 if device.type == "cuda" else 3
    started = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - started)


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_variant(name: str, base, layout: str, tokenizer, accelerator, args, out: Path) -> dict:
    """Train ``steps`` steps of variant ``name`` with a fresh adapter on ``base``; afterwards ``base``
    is as before (4-bit quantization excepted: run ``qlora`` last)."""
    import torch

    from polyplatypus.train import recipe
    from polyplatypus.train.config import TrainConfig
    from polyplatypus.train.lora import add_lora

    settings, long = VARIANTS[name]
    settings = {**settings, **(TINY_SETTINGS if layout == "tiny" else {})}
    config = TrainConfig(base=layout, data=SAMPLE, output=str(out / "unused"), report_to=[], **settings)
    cutoff = min(config.cutoff_len, base.config.max_position_embeddings)
    examples = training_data(tokenizer, long, cutoff)
    data = recipe.PreparedData(tokenizer, cutoff, examples, [], 0)
    _, flatten = recipe.attention_layout(config)
    if config.load_in == "4bit":
        quantize_4bit(base, torch.bfloat16)
    torch.manual_seed(config.seed)
    model = add_lora(
        base,
        r=config.lora_r,
        alpha=config.lora_alpha,
        dropout=config.lora_dropout,
        layers=config.lora_layers,
        gradient_checkpointing=config.gradient_checkpointing,
    )
    try:
        return _train_variant(name, model, layout, config, data, flatten, accelerator, args, out)
    finally:
        accelerator.free_memory()
        accelerator.unwrap_model(model).unload()  # the LoRA layers out again
        if config.gradient_checkpointing:
            (getattr(base, "activation_checkpointing_disable", None) or base.gradient_checkpointing_disable)()
            base.disable_input_require_grads()


def _train_variant(name, model, layout, config, data, flatten, accelerator, args, out: Path) -> dict:
    import torch
    from transformers import get_scheduler

    from polyplatypus.train import batching, recipe

    device = accelerator.device
    cutoff = data.cutoff_len
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = get_scheduler(
        config.lr_scheduler, optimizer, num_warmup_steps=config.warmup_steps, num_training_steps=args.steps
    )
    model, optimizer = accelerator.prepare(model, optimizer)
    model.train()
    lengths = data.lengths
    plan = batching.iter_steps(lengths, batch_size=config.batch_size, world_size=1, seed=config.seed)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    marks, losses, syncs = [], [], None
    started = time.perf_counter()
    for index, (_, step) in enumerate(plan):
        steps = min(args.steps, LONG_STEPS) if name.startswith("long") else args.steps
        if index >= steps or (index >= 2 and time.perf_counter() - started > args.budget_s):
            break
        count_syncs = device.type == "cuda" and index == 1
        with warnings.catch_warnings(record=True) as caught:
            if count_syncs:
                warnings.simplefilter("always")
                torch.cuda.set_sync_debug_mode("warn")
            try:
                loss = recipe.train_step(
                    model, optimizer, scheduler, accelerator, data, step, config, flatten=flatten
                ).loss
            finally:
                if count_syncs:
                    torch.cuda.set_sync_debug_mode("default")
        if count_syncs:
            syncs = sum("synchroniz" in str(w.message) for w in caught)
        _sync(device)
        marks.append((time.perf_counter(), sum(lengths[j] for j in step)))
        losses.append(loss)
    steady_tokens = sum(t for _, t in marks[1:])
    seconds = marks[-1][0] - marks[0][0] if len(marks) > 1 else float("nan")
    passes = len(
        batching.micro_batches(
            list(range(config.batch_size)),
            lengths[: config.batch_size],
            micro_batch_size=config.micro_batch_size,
            packing=config.packing,
            capacity=cutoff,
        )
    )
    row = {
        "layout": layout,
        "variant": name,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "steps": len(marks),
        "examples_per_step": config.batch_size,
        "tokens_per_step": round(sum(t for _, t in marks) / len(marks), 1),
        "passes_per_step_approx": passes,
        "tokens_per_s": steady_tokens / seconds if seconds > 0 else None,
        "ms_per_step": 1000 * seconds / (len(marks) - 1) if len(marks) > 1 else None,
        "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
        "step_losses": losses,
        "host_syncs_in_step_2": syncs,
    }
    if name == "packed" and args.profile:
        row["top_kernels"] = profile_step(
            model, optimizer, scheduler, accelerator, data, config, flatten, out / f"profile-{layout}-{name}.txt"
        )
    return row


def profile_step(model, optimizer, scheduler, accelerator, data, config, flatten, path: Path) -> list[dict]:
    """torch.profiler over one optimizer step: the table goes to ``path``; the top kernels are returned."""
    from torch.profiler import ProfilerActivity, profile

    from polyplatypus.train import recipe

    cuda = accelerator.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    step = list(range(config.batch_size))
    with profile(activities=activities) as prof:
        recipe.train_step(model, optimizer, scheduler, accelerator, data, step, config, flatten=flatten)
        _sync(accelerator.device)
    key = "self_device_time_total" if cuda else "self_cpu_time_total"
    averages = prof.key_averages()
    path.write_text(averages.table(sort_by=key, row_limit=40), encoding="utf-8")
    top = sorted(averages, key=lambda e: getattr(e, key, 0) or 0, reverse=True)[:12]
    return [{"name": e.key, "calls": e.count, "self_ms": round(getattr(e, key) / 1000, 3)} for e in top]


def lora_flops_per_token(model) -> float:
    """4 x the parameters that multiply (all but the input embedding): forward 2, backward to the input 2."""
    embed = model.get_input_embeddings().weight.numel()
    return 4.0 * (sum(p.numel() for p in model.parameters()) - embed)


def run_layout(layout: str, variants: list[str], accelerator, args, out: Path) -> list[dict]:
    import importlib.util

    import torch
    from transformers import AutoTokenizer

    device = accelerator.device
    cuda = device.type == "cuda"
    dtype = torch.bfloat16 if cuda else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(find_tokenizer(args.tokenizer))
    peak = matmul_peak(device, dtype)
    started = time.perf_counter()
    base = build_model(layout, tokenizer, device, dtype)
    flops_per_token = lora_flops_per_token(base)
    print(
        f"\n{layout}: {flops_per_token / 4 / 1e9:.2f}B multiplying parameters, built on {device} in "
        f"{time.perf_counter() - started:.1f} s; {str(dtype).removeprefix('torch.')} matmul peak "
        f"{peak / 1e12:.3g} TFLOP/s",
        flush=True,
    )
    rows = []
    for name in sorted(variants, key=lambda v: v == "qlora"):  # quantizing changes the base: last
        if name == "qlora" and not (cuda and importlib.util.find_spec("bitsandbytes")):
            rows.append({"layout": layout, "variant": name, "skipped": "needs a CUDA GPU and bitsandbytes"})
            print(f"  {name:<10} skipped (needs a CUDA GPU and bitsandbytes)", flush=True)
            continue
        try:
            row = run_variant(name, base, layout, tokenizer, accelerator, args, out)
        except Exception as error:  # record it; the other variants still run
            rows.append(
                {
                    "layout": layout,
                    "variant": name,
                    "error": f"{type(error).__name__}: {error}",
                    "traceback": traceback.format_exc()[-3000:],
                }
            )
            print(f"  {name:<10} FAILED: {type(error).__name__}: {error}", flush=True)
            if cuda:
                torch.cuda.empty_cache()
            continue
        if row["tokens_per_s"]:
            row["model_tflops"] = flops_per_token * row["tokens_per_s"] / 1e12
            row["share_of_matmul_peak"] = flops_per_token * row["tokens_per_s"] / peak
        row["matmul_peak_tflops"] = peak / 1e12
        rows.append(row)
        _print_row(row)
        _write(out, rows, layout)
    plain = next((r for r in rows if r.get("variant") == "plain" and "step_losses" in r), None)
    for row in rows:
        if plain and "step_losses" in row and row["variant"] in ("packed", "packed+gc"):
            common = min(len(plain["step_losses"]), len(row["step_losses"]))
            row["max_loss_difference_vs_plain"] = max(
                abs(a - b) for a, b in zip(plain["step_losses"][:common], row["step_losses"][:common])
            )
            print(
                f"  {row['variant']:<10} loss vs plain over {common} steps: max |difference| "
                f"{row['max_loss_difference_vs_plain']:.4f}"
            )
    _write(out, rows, layout)
    del base
    if cuda:
        torch.cuda.empty_cache()
    return rows


def _print_row(row: dict) -> None:
    tps = row["tokens_per_s"]
    memory = f"{row['peak_memory_gib']:.1f} GiB" if row["peak_memory_gib"] is not None else "-"
    share = f"{100 * row['share_of_matmul_peak']:.1f}%" if row.get("share_of_matmul_peak") else "-"
    print(
        f"  {row['variant']:<10} {row['steps']} steps, {row['tokens_per_step']:.0f} tokens/step: "
        f"{tps:,.0f} tokens/s, {row['ms_per_step']:.0f} ms/step, model {row.get('model_tflops', 0):.3g} TFLOP/s "
        f"({share} of the matmul peak), peak memory {memory}, syncs in a step {row['host_syncs_in_step_2']}, "
        f"last loss {row['step_losses'][-1]:.4f}",
        flush=True,
    )


def _write(out: Path, rows: list[dict], layout: str) -> None:
    (out / f"train-{layout}.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--layout",
        action="append",
        choices=list(LAYOUTS),
        help="model layout; repeat for several (default: 1.3b and 12.8b)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        choices=list(VARIANTS),
        help="variants to run (default: per layout, see DEFAULT_VARIANTS)",
    )
    parser.add_argument("--out", required=True, help="folder for the JSON rows and profiler tables")
    parser.add_argument("--steps", type=int, help="optimizer steps per variant (default: 8; tiny: 2)")
    parser.add_argument(
        "--budget-s",
        type=float,
        default=25.0,
        help="stop a variant after this many seconds (at least 2 steps; default: 25)",
    )
    parser.add_argument(
        "--tokenizer",
        help="Polyglot-ko tokenizer folder (default: $POLYPLATYPUS_TOKENIZER_DIR, "
        "gpu-carry/polyglot-ko-tokenizer or ../shared/data/polyglot-ko-tokenizer)",
    )
    parser.add_argument("--no-profile", dest="profile", action="store_false", help="skip the profiler step")
    args = parser.parse_args(argv)
    if args.steps is None:  # tiny is the CPU check of the script: enough to run every line once
        args.steps = 2 if args.layout == ["tiny"] else 8
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from accelerate import Accelerator

    # one Accelerator for the process (its state is global): the training precision of `train`
    cuda = torch.cuda.is_available()
    accelerator = Accelerator(mixed_precision="bf16" if cuda else "no", cpu=not cuda)
    everything = []
    for layout in args.layout or ["1.3b", "12.8b"]:
        everything += run_layout(layout, args.variant or DEFAULT_VARIANTS[layout], accelerator, args, out)
        (out / "train.json").write_text(json.dumps(everything, indent=2), encoding="utf-8")
    failed = [r for r in everything if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
