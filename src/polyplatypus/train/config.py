"""The typed settings of ``train``, ``merge`` and ``generate``: each command's flags, ``train``'s
``--config`` keys, the recipe's ``train`` section and the keyword arguments of
:func:`polyplatypus.train.recipe.train`, defined once (the machinery is :mod:`polyplatypus.settings`).

Precedence: defaults < YAML file (``--config``) < command-line flags. Keys are the field names
below (``snake_case``; ``kebab-case`` is accepted too); an unknown key is an error naming the
key and the file, so a typo never silently trains with a default. Lists are one comma-separated
value on the command line (``--lora-target-modules query_key_value,dense``), as for every command.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Mapping

from pydantic import BeforeValidator, Field, StrictBool, StrictInt, field_validator, model_validator

from polyplatypus.data.templates import CHAT
from polyplatypus.models.loading import DTYPES
from polyplatypus.settings import Flag, Number, PathText, Settings, comma_list
from polyplatypus.tasks.lm_eval_tasks import (
    DEFAULT_NEAR_TIES,
    NearTies,
    parse_chat_template_args,
    template_kwargs,
    think_end_token_text,
)

LR_SCHEDULERS = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
)


class TrainConfig(Settings):
    """Everything ``train`` needs. Defaults reproduce the Platypus recipe."""

    # what to train, on what, and where to write it
    base: str = Field(description="base model: hub id or local folder (e.g. EleutherAI/polyglot-ko-12.8b)")
    data: str = Field(description="instruction data: hub dataset id or a local .json / .jsonl / .parquet file")
    output: str = Field(description="output folder: adapter, tokenizer, checkpoints, logs, train_summary.json")

    # Platypus hyper-parameters
    batch_size: StrictInt = Field(16, ge=1, description="global batch size (examples per optimizer step)")
    micro_batch_size: StrictInt = Field(
        1, ge=1, description="examples per forward pass and process (packed rows with --packing)"
    )
    num_epochs: StrictInt = Field(1, ge=1, description="passes over the training data")
    learning_rate: Number = Field(4e-4, gt=0, description="peak learning rate")
    cutoff_len: StrictInt = Field(4096, ge=2, description="maximum tokens per example (capped at the model's maximum)")
    val_set_size: Number = Field(0, ge=0, description="held-out examples: a count (>= 1) or a fraction (< 1)")
    lora_r: StrictInt = Field(16, ge=1, description="LoRA rank")
    lora_alpha: StrictInt = Field(16, ge=1, description="LoRA alpha (scale = alpha / r)")
    lora_dropout: Number = Field(0.05, ge=0, lt=1, description="dropout on the LoRA input")
    lora_target_modules: Annotated[list[str] | None, Flag(metavar="MODULES")] = Field(
        None, description="comma-separated modules to adapt (default: by architecture, see --lora-layers)"
    )
    lora_layers: Literal["mlp", "attention", "all"] = Field(
        "mlp", description="which module set to adapt: mlp (as Platypus), attention or all"
    )
    train_on_inputs: StrictBool = Field(False, description="train on prompt tokens too (else they get label -100)")
    add_eos_token: StrictBool = Field(False, description="Platypus's flag: only changes how the prompt is masked")
    group_by_length: StrictBool = Field(False, description="group examples of similar length into the same steps")
    packing: StrictBool = Field(
        True,
        description="pack a pass's examples into rows of up to the cutoff, attention kept per example (same "
        "objective as micro batch 1; --no-packing: one example per row, the literal Platypus layout)",
    )
    prompt_template: str = Field(
        "alpaca",
        description="prompt template name (alpaca, korean), a .json file, or chat: the tokenizer's own chat "
        "template (instruction or messages records; loss on the assistant turns)",
    )
    system_prompt: Annotated[str | None, Flag(metavar="TEXT")] = Field(
        None, description="with --prompt-template chat: a system message for conversations that have none"
    )
    chat_template: Annotated[PathText | None, Flag(metavar="FILE")] = Field(
        None, description="with --prompt-template chat: a Jinja chat template file, for a base without one"
    )
    lr_scheduler: Literal[LR_SCHEDULERS] = Field(  # type: ignore[valid-type]
        "cosine", description="learning-rate schedule"
    )
    warmup_steps: StrictInt = Field(100, ge=0, description="linear warm-up steps")
    weight_decay: Number = Field(0.0, ge=0, description="AdamW weight decay")
    max_grad_norm: Number = Field(1.0, ge=0, description="gradient clipping norm (0 turns it off)")

    # run control
    max_steps: StrictInt | None = Field(
        None, ge=1, description="stop after this many optimizer steps (overrides --num-epochs)"
    )
    save_steps: StrictInt = Field(200, ge=1, description="save a checkpoint every N steps")
    save_total_limit: StrictInt = Field(2, ge=1, description="checkpoints kept")
    eval_steps: StrictInt = Field(200, ge=1, description="evaluate on the validation set every N steps")
    logging_steps: StrictInt = Field(1, ge=1, description="log loss / learning rate every N steps")
    seed: StrictInt = Field(42, description="seed for shuffling, LoRA initialisation and dropout")
    resume: StrictBool = Field(
        False, description="continue the run in the output folder from its latest checkpoint (a fresh folder starts)"
    )
    skip_invalid: StrictBool = Field(False, description="skip malformed records instead of stopping")

    # hardware
    load_in: Literal["4bit", "8bit"] | None = Field(
        None, description="quantize the base model (QLoRA; needs bitsandbytes and a GPU)"
    )
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="auto: bf16 (or fp16) on GPUs, fp32 on CPU"
    )
    gradient_checkpointing: StrictBool = Field(False, description="trade compute for activation memory")
    attn_implementation: str | None = Field(None, description="attention kernel: sdpa, eager, flash_attention_2")

    # logging
    report_to: Annotated[list[Literal["tensorboard", "wandb"]], BeforeValidator(comma_list)] = Field(
        ["tensorboard"], description="comma-separated trackers (tensorboard, wandb); none logs nowhere"
    )
    wandb_project: str | None = Field(None, description="W&B project (turns W&B on)")
    wandb_run_name: str | None = Field(None, description="W&B run name")

    @field_validator("lora_target_modules", mode="before")
    @classmethod
    def _split_modules(cls, value):
        # Platypus passes "[q_proj,k_proj,v_proj,o_proj]"; accept that, "a,b" and lists
        if isinstance(value, str):
            value = [value]
        if isinstance(value, (list, tuple)):
            parts = []
            for item in value:
                parts += [p.strip(" '\"") for p in str(item).strip("[]").split(",") if p.strip(" '\"")]
            return parts or None
        return value

    @field_validator("system_prompt", "chat_template")
    @classmethod
    def _chat_only(cls, value, info):
        if value is not None and info.data.get("prompt_template") != CHAT:
            raise ValueError(f"applies to --prompt-template {CHAT} only")
        return value

    @field_validator("val_set_size")
    @classmethod
    def _whole_count(cls, value):
        if value >= 1 and value != int(value):
            raise ValueError("a count of examples must be a whole number (a fraction must be below 1)")
        return value


# Settings that do not change what is trained; a resumed run may change them freely.
RUN_ONLY_KEYS = frozenset(
    {
        "output",
        "resume",
        "save_steps",
        "save_total_limit",
        "eval_steps",
        "logging_steps",
        "report_to",
        "wandb_project",
        "wandb_run_name",
        "gradient_checkpointing",
        "attn_implementation",
        "skip_invalid",
    }
)


def result_changing_differences(saved: Mapping[str, Any], current: "TrainConfig") -> list[str]:
    """Keys whose values differ between a checkpoint's config and ``current`` and change the result."""
    now = current.model_dump(mode="json")
    return sorted(k for k in now if k not in RUN_ONLY_KEYS and k in saved and saved[k] != now[k])


class MergeConfig(Settings):
    """Everything ``merge`` needs; the keyword arguments of :func:`polyplatypus.train.merge.merge`."""

    adapter: Annotated[PathText, Flag(metavar="DIR")] = Field(
        description="adapter folder written by polyplatypus train"
    )
    output: Annotated[PathText, Flag(metavar="DIR")] = Field(description="folder for the merged model")
    base: Annotated[str | None, Flag(metavar="MODEL")] = Field(
        None, description="base model (default: the one recorded in the adapter)"
    )
    dtype: Literal[DTYPES] = Field(  # type: ignore[valid-type]
        "auto", description="dtype of the merged weights (default: auto, the base checkpoint's)"
    )
    max_shard_size: Annotated[str, Flag(metavar="SIZE")] = Field("5GB", description="largest safetensors shard")
    device_map: str | None = Field(None, description="e.g. auto to merge on GPUs (default: CPU)")
    overwrite: StrictBool = Field(False, description="replace an existing output folder")
    allow_base_mismatch: StrictBool = Field(
        False, description="merge even if --base is not the model the adapter was trained on (recorded in the output)"
    )


class GenerateConfig(Settings):
    """Everything ``generate`` needs; the keyword arguments of
    :func:`polyplatypus.train.generate.generate` (``prompt_template`` is its ``template``)."""

    model: PathText = Field(
        description="merged model folder or hub id; an adapter folder (its base is loaded); or a "
        "base model with --adapter"
    )
    adapter: Annotated[PathText | None, Flag(metavar="DIR")] = Field(
        None, description="LoRA adapter folder to apply to --model"
    )
    instruction: Annotated[str | None, Flag(metavar="TEXT")] = Field(
        None, description="the instruction (or --prompts FILE for many)"
    )
    input: Annotated[str, Flag(metavar="TEXT")] = Field("", description="optional input / context for the instruction")
    prompt_template: Annotated[str | None, Flag(metavar="NAME")] = Field(
        None, description="template name, .json file or chat (default: the trained one, else alpaca)"
    )
    system_prompt: Annotated[str | None, Flag(metavar="TEXT")] = Field(
        None,
        description="with --prompt-template chat: the system message (default: the one trained with, if any; "
        "refused with --chat-template)",
    )
    max_new_tokens: StrictInt = Field(256, ge=1, description="longest response in tokens (at least 1)")
    temperature: Number = Field(
        0.0, ge=0, description="0 decodes greedily; above 0 samples (--instruction without --chat-template)"
    )
    top_p: Number = Field(1.0, gt=0, le=1, description="nucleus sampling (when sampling)")
    repetition_penalty: Number = Field(1.0, gt=0, description="transformers' repetition penalty")
    seed: StrictInt | None = Field(None, description="seed for sampling")
    # many prompts at once: the evaluation's generation engine, resumable (docs/tasks.md)
    prompts: Annotated[PathText | None, Flag(metavar="FILE.jsonl")] = Field(
        None,
        description="JSONL of prompts, one object a line: 'instruction' (and 'input') put in the template, or "
        "'prompt' used as is; responses go to --output",
    )
    output: Annotated[PathText | None, Flag(metavar="FILE.jsonl")] = Field(
        None,
        description="with --prompts: JSONL of responses, one a line; a re-run skips the prompts already there "
        "(refusing responses made for other prompt texts, by another model or with other --max-new-tokens, "
        "--near-ties, ...)",
    )
    chat_template: StrictBool = Field(
        False,
        description="put the instruction (or each of --prompts) in the tokenizer's chat template, as the only "
        "(user) turn, instead of --prompt-template; answered by the --prompts engine",
    )
    batch_size: StrictInt = Field(8, ge=1, description="with --prompts: prompts generated together")
    near_ties: NearTies = Field(
        DEFAULT_NEAR_TIES,
        description="with --prompts, greedy decoding, at a step whose top two logits are within rounding: redecide "
        "it as the prompt alone (batch size 1) would, so that the responses do not depend on --batch-size (slow in "
        "bfloat16/float16, where such steps are frequent), or keep the batch's own token (fast)",
    )
    # thinking models, as eval's options of the same names (lm-eval's HFLM model arguments)
    think_end_token: Annotated[str | None, BeforeValidator(think_end_token_text), Flag(metavar="TEXT|ID")] = Field(
        None,
        description="with --prompts or --chat-template: the text (e.g. '</think>') or token id (digits) that ends "
        "a thinking model's reasoning; the response is what follows its last occurrence (--prompts: "
        "'generation' keeps the whole text)",
    )
    enable_thinking: StrictBool | None = Field(
        None,
        description="with --chat-template: passed to the chat template as enable_thinking (--enable-thinking "
        "needs --think-end-token); default: unset, the template's own default",
    )
    chat_template_args: Annotated[
        dict[str, Any] | None, BeforeValidator(parse_chat_template_args), Flag(metavar="KEY=VALUE,...|JSON")
    ] = Field(
        None,
        description="with --chat-template: more arguments for the chat template, KEY=VALUE,... or a JSON object",
    )

    BATCH_FIELDS: ClassVar[tuple[str, ...]] = (
        "prompts",
        "output",
        "chat_template",
        "batch_size",
        "near_ties",
        "think_end_token",
        "enable_thinking",
        "chat_template_args",
    )

    @model_validator(mode="after")
    def _one_way(self):
        if self.instruction is None and self.prompts is None:
            raise ValueError("give --instruction TEXT (one answer) or --prompts FILE.jsonl --output FILE.jsonl (many)")
        if self.instruction is not None and self.prompts is not None:
            raise ValueError("give --instruction TEXT (one answer) or --prompts FILE.jsonl (many), not both")
        if (self.prompts is None) != (self.output is None):
            raise ValueError("--prompts and --output go together")
        if self.prompts is None and self.batch_size != 8:
            raise ValueError("--batch-size applies to --prompts (--instruction is one prompt)")
        if self.temperature > 0 and (self.prompts is not None or self.chat_template):
            # the engine decodes greedily only (it refuses do_sample); refused here, before the model loads
            raise ValueError(
                "--temperature above 0 samples, which --instruction without --chat-template does; --prompts and "
                "--chat-template are answered greedily by the evaluation's engine (give --temperature 0)"
            )
        if self.prompts is None and self.near_ties != DEFAULT_NEAR_TIES:
            raise ValueError("--near-ties applies to --prompts, generated in batches (--instruction is one prompt)")
        if not self.chat_template and (self.enable_thinking is not None or self.chat_template_args is not None):
            raise ValueError(
                "--enable-thinking and --chat-template-args are passed to the chat template: give --chat-template"
            )
        if self.prompts is None and self.think_end_token is not None and not self.chat_template:
            raise ValueError(
                "--think-end-token with --instruction needs --chat-template (without it the instruction goes "
                "in the template the model was trained with)"
            )
        if self.chat_template and self.system_prompt is not None:
            raise ValueError(
                "--chat-template sends the instruction as the only (user) turn: --system-prompt goes with "
                "--prompt-template chat (--instruction without --chat-template)"
            )
        if self.system_prompt is not None and self.prompt_template not in (None, CHAT):
            raise ValueError(
                f"--system-prompt goes into the chat template (--prompt-template {CHAT}); --prompt-template "
                f"{self.prompt_template} has no system message"
            )
        if self.chat_template and self.prompt_template is not None:  # None: not given (the trained one is used)
            raise ValueError(
                "give --prompt-template or --chat-template, not both: --prompt-template NAME puts the instruction(s) "
                "in that prompt template (a name, .json file, or chat: the tokenizer's chat template with the system "
                "prompt trained with); --chat-template puts each in the tokenizer's chat template as the only "
                "(user) turn, and would leave --prompt-template unused"
            )
        if self.enable_thinking and self.think_end_token is None:  # as lm-eval's HFLM
            raise ValueError("--enable-thinking needs --think-end-token (the text or token id that ends the thinking)")
        return self

    @property
    def template_args(self) -> dict:
        """What the chat template is given beside the messages, as lm-eval's HFLM merges it."""
        return template_kwargs(self.chat_template_args, self.enable_thinking)
