"""``polyplatypus eval``: score Hugging Face causal LMs on KoBEST."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate causal LMs on KoBEST (reference-harness scoring)",
        description="Score one or more causal LMs on KoBEST at several shot counts, exactly as the "
        "reference ko-lm-evaluation-harness does (same prompts, few-shot draws, truncation and "
        "macro-F1). Finished cells are saved as they complete; re-running the same command resumes.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--model", action="append", required=True, metavar="[LABEL=]PATH",
                        help="local model folder or hub id, repeatable; LABEL names the table row")
    parser.add_argument("--tasks", default="kobest_copa,kobest_hellaswag,kobest_boolq,kobest_sentineg,kobest_wic",
                        help="comma-separated task names")
    parser.add_argument("--shots", default="0,5,10,50", help="comma-separated few-shot counts")
    parser.add_argument("--output", default="results", help="folder for results.json, results.md, cells/ and samples/")
    parser.add_argument("--kobest-dir", default=None,
                        help="folder with the KoBEST v1.0 TSVs (BoolQ/ COPA/ ...); default: $POLYPLATYPUS_KOBEST_DIR, else the hub")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N documents after the reference's shuffle")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "float16", "bfloat16"],
                        help="weights dtype; float16 reproduces the model card's runs on a GPU")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--device-map", default=None, help="'auto' to spread a large model over the GPUs (accelerate)")
    parser.add_argument("--batch-size", default="1", help="documents per forward batch, or 'auto' (from GPU memory)")
    parser.add_argument("--scorer", default="shared", choices=["shared", "reference"],
                        help="'shared' encodes each context once (fast); 'reference' forwards one row per choice")
    parser.add_argument("--log-samples", action="store_true",
                        help="write per-document JSONL under OUTPUT/samples/<model>/<task>_<k>shot.jsonl")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from polyplatypus.eval.runner import evaluate

    records = evaluate(
        args.model, args.tasks, args.shots, output=args.output, kobest_dir=args.kobest_dir, limit=args.limit,
        dtype=args.dtype, device=args.device, device_map=args.device_map, batch_size=args.batch_size,
        scorer=args.scorer, log_samples=args.log_samples, progress=not args.no_progress,
    )
    from polyplatypus.eval.distributed import is_main_process
    from polyplatypus.report.tables import results_markdown

    if not is_main_process():
        return 0
    print(results_markdown(records))
    print(f"wrote {args.output}/results.json and {args.output}/results.md")
    return 0
