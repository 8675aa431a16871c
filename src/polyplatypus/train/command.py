"""Subcommands ``train``, ``merge`` and ``generate``.

``train``'s flags are made from :class:`TrainConfig`'s fields (``learning_rate`` ->
``--learning-rate``), so the YAML keys, the Python API and the command line never drift apart.
Only flags given on the command line override the YAML file.
"""

from __future__ import annotations

import argparse
import typing


def register(subparsers) -> None:
    """Add ``train``, ``merge`` and ``generate`` to the top-level parser."""
    _register_train(subparsers)
    _register_merge(subparsers)
    _register_generate(subparsers)


# --- train --------------------------------------------------------------------------------------

def _register_train(subparsers) -> None:
    from polyplatypus.train.config import TrainConfig

    parser = subparsers.add_parser(
        "train", help="fine-tune a base model with LoRA / QLoRA (the Platypus recipe)",
        description="Fine-tune a causal LM with LoRA on instruction data, with Platypus's hyper-parameters "
        "as defaults. Settings come from the defaults, then --config FILE (YAML), then the flags given. "
        "Runs as is on one device, or under torchrun / accelerate launch for several.",
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("--config", metavar="FILE", help="YAML file of settings (keys as the flags, with _)")
    for name, field in TrainConfig.model_fields.items():
        flag = "--" + name.replace("_", "-")
        kwargs = _flag_kwargs(field.annotation)
        help_text = field.description or ""
        if not field.is_required() and "default" not in help_text:
            help_text += f" (default: {_show(field.default)})"
        parser.add_argument(flag, dest=name, help=help_text, **kwargs)
    parser.set_defaults(func=run_train)


def _unwrap(annotation):
    """``Annotated[int, Strict()]`` -> ``int`` (the metadata is the model's business, not argparse's)."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _flag_kwargs(annotation) -> dict:
    annotation = _unwrap(annotation)
    args = [_unwrap(a) for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if annotation is bool:
        return {"action": argparse.BooleanOptionalAction}
    if origin is typing.Literal:
        return {"choices": list(typing.get_args(annotation))}
    if origin is list or (args and typing.get_origin(args[0]) is list):
        inner = typing.get_args(args[0] if origin is not list else annotation)
        choices = list(typing.get_args(inner[0])) if inner and typing.get_origin(inner[0]) is typing.Literal else None
        if choices:
            return {"nargs": "+", "choices": choices + ["none"], "metavar": "|".join(choices + ["none"])}
        return {"nargs": "+", "metavar": "NAME"}
    if args and typing.get_origin(args[0]) is typing.Literal:
        return {"choices": list(typing.get_args(args[0]))}
    base = args[0] if args else annotation
    return {"type": base if base in (int, float, str) else str}


def _show(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return " ".join(map(str, value)) or "none"
    return str(value)


def build_config(args: argparse.Namespace):
    """The :class:`TrainConfig` of parsed ``train`` arguments: defaults < --config file < flags given."""
    from polyplatypus.train.config import TrainConfig

    given = {k: v for k, v in vars(args).items() if k in TrainConfig.model_fields}
    if "report_to" in given:
        given["report_to"] = [t for t in given["report_to"] if t != "none"]
    return TrainConfig.load(getattr(args, "config", None), **given)


def run_train(args: argparse.Namespace) -> int:
    from polyplatypus.train.recipe import train

    train(build_config(args))
    return 0


# --- merge --------------------------------------------------------------------------------------

def _register_merge(subparsers) -> None:
    parser = subparsers.add_parser(
        "merge", help="merge a LoRA adapter into its base model (standalone safetensors model)",
        description="Fold a trained LoRA adapter into the base model and save a standalone model "
        "(safetensors, sharded) with its tokenizer, loadable by from_pretrained and polyplatypus eval.",
    )
    parser.add_argument("--adapter", required=True, help="adapter folder written by polyplatypus train")
    parser.add_argument("--output", required=True, help="folder for the merged model")
    parser.add_argument("--base", help="base model (default: the one recorded in the adapter)")
    from polyplatypus.models.loading import DTYPES

    parser.add_argument("--dtype", default="auto", choices=DTYPES,
                        help="dtype of the merged weights (default: auto, the base checkpoint's)")
    parser.add_argument("--max-shard-size", default="5GB", help="largest safetensors shard (default: 5GB)")
    parser.add_argument("--device-map", help="e.g. auto to merge on GPUs (default: CPU)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.set_defaults(func=run_merge)


def run_merge(args: argparse.Namespace) -> int:
    from polyplatypus.train.merge import merge

    path = merge(args.adapter, args.output, base=args.base, dtype=args.dtype, max_shard_size=args.max_shard_size,
                 device_map=args.device_map, overwrite=args.overwrite)
    print(f"merged model written to {path}")
    return 0


# --- generate -----------------------------------------------------------------------------------

def _register_generate(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate", help="answer an instruction with a (merged or base + adapter) model",
        description="Build the prompt with the template the model was trained with and print the response.",
    )
    parser.add_argument("--model", required=True,
                        help="merged model folder or hub id; an adapter folder (its base is loaded); or a base "
                        "model with --adapter")
    parser.add_argument("--adapter", help="LoRA adapter folder to apply to --model")
    parser.add_argument("--instruction", required=True, help="the instruction")
    parser.add_argument("--input", default="", help="optional input / context for the instruction")
    parser.add_argument("--prompt-template", help="template name or .json file (default: the trained one, else alpaca)")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="(default: 256)")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 decodes greedily (default: 0)")
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling (default: 1.0)")
    parser.add_argument("--repetition-penalty", type=float, default=1.0, help="(default: 1.0)")
    parser.add_argument("--seed", type=int, help="seed for sampling")
    parser.set_defaults(func=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    from polyplatypus.train.generate import generate

    print(generate(args.model, args.instruction, args.input, adapter=args.adapter, template=args.prompt_template,
                   max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
                   repetition_penalty=args.repetition_penalty, seed=args.seed))
    return 0
