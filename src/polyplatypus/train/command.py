"""Subcommands ``train``, ``merge`` and ``generate``.

Each command's flags are made from its settings object (:class:`TrainConfig`, :class:`MergeConfig`,
:class:`GenerateConfig`) by :mod:`polyplatypus.settings`, as for ``eval`` and ``data curate``:
``learning_rate`` is ``--learning-rate``, a list is one comma-separated value, and ``train``'s
flags are also the keys of its ``--config`` file (only flags given override the file).
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add ``train`` and ``merge`` to the top-level parser."""
    from polyplatypus.settings import add_config_option, add_flags
    from polyplatypus.train.config import MergeConfig, TrainConfig

    parser = subparsers.add_parser(
        "train",
        help="fine-tune a base model with LoRA / QLoRA (the Platypus recipe)",
        description="Fine-tune a causal LM with LoRA on instruction data, with Platypus's hyper-parameters "
        "as defaults. Settings come from the defaults, then --config FILE (YAML), then the flags given. "
        "Runs as is on one device, or under torchrun / accelerate launch for several.",
    )
    add_config_option(parser)
    add_flags(parser, TrainConfig)
    parser.set_defaults(func=run_train)

    parser = subparsers.add_parser(
        "merge",
        help="merge a LoRA adapter into its base model (standalone safetensors model)",
        description="Fold a trained LoRA adapter into the base model and save a standalone model "
        "(safetensors, sharded) with its tokenizer, loadable by from_pretrained and polyplatypus eval.",
    )
    add_flags(parser, MergeConfig)
    parser.set_defaults(func=run_merge)

    # generate: registered by polyplatypus.pipeline.generation (--prompts uses the evaluation's engine)


def run_train(args: argparse.Namespace) -> int:
    from polyplatypus.train.config import TrainConfig
    from polyplatypus.train.recipe import train

    train(TrainConfig.from_args(args))
    return 0


def run_merge(args: argparse.Namespace) -> int:
    from polyplatypus.train.config import MergeConfig
    from polyplatypus.train.merge import logit_change_message, merge

    config = MergeConfig.from_args(args)
    path = merge(**config.model_dump())
    print(f"merged model written to {path}")
    if message := logit_change_message(path):
        print(message)
    return 0


def run_generate(args: argparse.Namespace) -> int:
    """``generate --instruction``: one response, printed."""
    from polyplatypus.train.config import GenerateConfig
    from polyplatypus.train.generate import generate

    options = GenerateConfig.from_args(args).model_dump(exclude=set(GenerateConfig.BATCH_FIELDS))
    print(generate(template=options.pop("prompt_template"), **options))
    return 0
