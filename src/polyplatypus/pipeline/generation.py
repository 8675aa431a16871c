"""The ``generate`` command: one instruction answered (:func:`polyplatypus.train.generate.generate`;
with ``--chat-template``, by the engine below, as a prompt file's line), or a prompt file answered
by the evaluation's generation engine (:func:`polyplatypus.eval.prompt_file.generate_prompt_file`).
It sits above ``train`` (the model and adapter loading, the trained template) and ``eval`` (the
engine), which do not import each other."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    from polyplatypus.settings import add_flags
    from polyplatypus.train.config import GenerateConfig

    parser = subparsers.add_parser(
        "generate",
        help="answer an instruction, or a file of prompts, with a (merged or base + adapter) model",
        description="Build the prompt with the template the model was trained with and print the response; with "
        "--prompts FILE.jsonl, answer every prompt of the file into --output (resumable, batched by the "
        "evaluation's generation engine). --chat-template puts the instruction(s) in the tokenizer's chat "
        "template, answered by that engine (with a thinking model's options: --think-end-token, --enable-thinking).",
    )
    add_flags(parser, GenerateConfig)
    parser.set_defaults(func=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    from polyplatypus.train.command import run_generate as run_one
    from polyplatypus.train.config import GenerateConfig

    config = GenerateConfig.from_args(args)
    refuse_several_processes(config)
    if config.prompts is None and not config.chat_template:
        return run_one(args)  # the template the model was trained with
    if config.prompts is None:
        print(answer_instruction(config))
        return 0
    written = generate_file(config)
    print(f"{written} response(s) written to {config.output}")
    return 0


def refuse_several_processes(config) -> None:
    """``generate`` runs in one process: under torchrun / accelerate launch every process would load
    the model and print the answer (``--instruction``), or write every answer into the same
    ``--output`` (``--prompts``). Refused before the model loads, from the launcher's WORLD_SIZE."""
    from polyplatypus.errors import ConfigError
    from polyplatypus.eval.distributed import process_count

    processes = process_count()
    if processes <= 1:
        return
    if config.prompts is not None:
        mode, what = "--prompts", "each would answer every prompt into the same --output"
    else:
        mode, what = "--instruction", "each would load the model and print the answer"
    raise ConfigError(
        f"generate {mode} runs in one process, not {processes} (torchrun / accelerate launch): {what}; "
        "run it without a launcher (it uses a GPU when one is visible)"
    )


def answer_instruction(config) -> str:
    """``--instruction`` with ``--chat-template``: the response a prompt file holding this one
    instruction (and ``--input``) gets from :func:`generate_file`, by the same engine."""
    from polyplatypus.eval.prompt_file import answer_prompts
    from polyplatypus.train.generate import load_for_generation

    row = {"index": 1, "instruction": config.instruction, **({"input": config.input} if config.input else {})}
    model, tokenizer, trained, trained_system = load_for_generation(config.model, adapter=config.adapter)
    (line,) = answer_prompts(model, tokenizer, [row], **engine_options(config, trained, trained_system))
    return line["response"]


def generate_file(config) -> int:
    """Answer ``config.prompts`` into ``config.output``; returns how many responses it holds."""
    from polyplatypus.eval.prompt_file import generate_prompt_file, read_prompts
    from polyplatypus.train.generate import load_for_generation, model_and_adapter

    prompts = read_prompts(config.prompts)  # a malformed line is named before the model loads
    model, tokenizer, trained, trained_system = load_for_generation(config.model, adapter=config.adapter)
    options = engine_options(config, trained, trained_system)
    source = " + ".join(_as_given(path) for path in model_and_adapter(config.model, config.adapter) if path)
    return generate_prompt_file(model, tokenizer, prompts, config.output, model_source=source, **options)


def _as_given(path) -> str:
    """A local folder resolved (a re-run from another folder names the same one), a hub id as is."""
    return str(Path(path).resolve()) if Path(path).exists() else str(path)


def engine_options(config, trained: str, trained_system: str | None = None) -> dict:
    """The settings of ``generate`` that :func:`polyplatypus.eval.prompt_file.answer_prompts` takes
    (``trained``: the template the model was trained with, unless --prompt-template; with ``chat``,
    ``trained_system``: the system prompt trained with, unless --system-prompt, as
    :func:`polyplatypus.train.generate.generate` takes them)."""
    from polyplatypus.train.generate import check_system_prompt

    if not config.chat_template:  # with --chat-template the settings refuse --system-prompt already
        check_system_prompt(config.prompt_template or trained, config.system_prompt)
    return dict(
        template=config.prompt_template or trained,
        chat_template=config.chat_template,
        template_args=config.template_args,
        system_prompt=config.system_prompt if config.system_prompt is not None else trained_system,
        think_end_token=config.think_end_token,
        max_new_tokens=config.max_new_tokens,
        batch_size=config.batch_size,
        near_ties=config.near_ties,
        temperature=config.temperature,
        top_p=config.top_p,
        repetition_penalty=config.repetition_penalty,
        seed=config.seed,
    )
