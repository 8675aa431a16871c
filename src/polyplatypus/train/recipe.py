"""The Platypus LoRA recipe: ``train(config=None, **options) -> summary``.

A plain PyTorch loop on Accelerate, so the same code runs on one CPU or GPU, under
``torchrun`` / ``accelerate launch`` (DDP), and with Accelerate's DeepSpeed or FSDP configs.
Order of work (:func:`_train`): check the settings once, then the output folder and hold it (one
process at a time); read and check the data (errors before any model is loaded); refuse or resume
an earlier run (same settings, same data by content hash); load the model and adapter
(:func:`_start`); loop over :func:`train_step`, logging, evaluating and checkpointing at their
intervals (:func:`_run_steps`); write the adapter and the summary (:func:`_finish`).
"""

from __future__ import annotations

import itertools
import math
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple

from polyplatypus.data.templates import CHAT, get_template
from polyplatypus.data.tokenize import TokenizedExample, tokenize_records
from polyplatypus.errors import ConfigError, DataError
from polyplatypus.models import attention
from polyplatypus.models.fingerprint import COUNTS_CHAT_TEMPLATES, fingerprint_as_recorded, model_fingerprint
from polyplatypus.models.loading import base_max_length, load_causal_lm, load_tokenizer, resolve_precision
from polyplatypus.train import batching, checkpoint, loss
from polyplatypus.train.config import TrainConfig, result_changing_differences
from polyplatypus.train.lora import add_lora
from polyplatypus.utils import outputs
from polyplatypus.utils.hub import check_hub_needs
from polyplatypus.utils.io import atomic_write_json, atomic_write_text, sha256_file, writing

SUMMARY_FILE = "train_summary.json"
CONFIG_FILE = "train_config.yaml"
# What a training run's folder holds: an existing folder with none of these is not one.
OUTPUT_ENTRIES = (CONFIG_FILE, SUMMARY_FILE, checkpoint.CHECKPOINTS_DIR)
# What the final save writes before train_summary.json (PEFT's adapter files)
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_model.bin", "adapter_config.json")


@dataclass
class PreparedData:
    tokenizer: Any
    cutoff_len: int  # the configured cutoff, capped at the model's maximum
    train: list[TokenizedExample]
    val: list[TokenizedExample]
    skipped: int  # examples without a single trainable token (the prompt fills the cutoff)
    sha256: str | None = None  # content hash of the training data (a resume must continue on the same)
    skipped_records: list[int] = field(default_factory=list)  # their 1-based record numbers in the data
    base_fingerprint: str | None = None  # what the base model is (a resume must continue on the same)
    end_of_turn_id: int | None = None  # chat training: the token that ends an assistant turn
    chat_template_sha256: str | None = None  # --chat-template FILE's bytes (a resume must continue on the same)

    @property
    def lengths(self) -> list[int]:
        return [len(e) for e in self.train]

    @property
    def pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return pad if pad is not None else self.tokenizer.eos_token_id


def prepare_data(config: TrainConfig) -> PreparedData:
    """Load, check, tokenize and split the instruction data (no model is loaded)."""
    from polyplatypus.data.instructions import iter_instructions

    chat = config.prompt_template == CHAT
    numbered = list(
        iter_instructions(config.data, skip_invalid=config.skip_invalid, with_numbers=True, conversations=chat)
    )
    records = [record for _, record in numbered]
    if not records:
        raise DataError("no instruction records to train on", path=config.data)
    tokenizer = load_tokenizer(config.base, training=True)
    cutoff = min(config.cutoff_len, base_max_length(config.base) or config.cutoff_len)
    end_of_turn = None
    if chat:
        examples, origins, end_of_turn = _chat_examples(config, tokenizer, numbered, cutoff)
    else:
        examples = tokenize_records(
            records,
            tokenizer,
            get_template(config.prompt_template),
            cutoff_len=cutoff,
            train_on_inputs=config.train_on_inputs,
            add_eos_token=config.add_eos_token,
        )
        origins = list(range(len(examples)))
    trainable = [e for e in examples if e.n_targets > 0]
    train_set, val_set = _split(trainable, config.val_set_size, seed=config.seed)
    return PreparedData(
        tokenizer,
        cutoff,
        train_set,
        val_set,
        len(examples) - len(trainable),
        sha256=checkpoint.data_sha256(config.data, skip_invalid=config.skip_invalid, conversations=chat),
        skipped_records=[numbered[origins[i]][0] for i, e in enumerate(examples) if e.n_targets == 0],
        end_of_turn_id=end_of_turn,
        chat_template_sha256=sha256_file(config.chat_template) if chat and config.chat_template else None,
    )


def _chat_examples(config: TrainConfig, tokenizer, numbered: list[tuple[int, dict]], cutoff: int):
    """(examples, the record index each came from, the end-of-turn token id) with the tokenizer's
    chat template (or ``config.chat_template``'s); see :mod:`polyplatypus.data.chat`."""
    from polyplatypus.data.chat import tokenize_conversations, use_chat_template
    from polyplatypus.data.conversations import conversation

    fmt = use_chat_template(tokenizer, template_file=config.chat_template, source=config.base)
    conversations = [
        (conversation(record, system_prompt=config.system_prompt), {"path": config.data, "record": number})
        for number, record in numbered
    ]
    examples, origins = tokenize_conversations(
        fmt, conversations, cutoff_len=cutoff, train_on_inputs=config.train_on_inputs
    )
    if len(examples) > len(numbered):
        print(
            f"{fmt.name} renders earlier turns differently once later ones follow: multi-turn conversations "
            f"were split into one example per assistant turn ({len(examples)} examples from {len(numbered)} records)"
        )
    return examples, origins, fmt.end_of_turn_id


def skipped_message(data: PreparedData, source, *, most: int = 10) -> str | None:
    """What to say on screen about examples left out because their prompt fills the cutoff."""
    if not data.skipped:
        return None
    numbers = ", ".join(map(str, data.skipped_records[:most])) + (", ..." if data.skipped > most else "")
    return (
        f"skipped {data.skipped} example(s) of {source} whose prompt alone fills the cutoff "
        f"({data.cutoff_len} tokens), leaving nothing to train on: record(s) {numbers}"
    )


def train(
    config: TrainConfig | None = None,
    *,
    on_step: Callable[[dict], None] | None = None,
    progress: bool = True,
    **options: Any,
) -> dict:
    """Fine-tune ``config.base`` with LoRA on ``config.data``; write the adapter, tokenizer and
    ``train_summary.json`` to ``config.output`` and return the summary.

    The settings are ``config`` (a :class:`TrainConfig`) updated with keyword ``options`` (its
    fields: ``train(base=..., data=..., output=..., lora_r=8)``), checked once, before any work,
    as the command line and a ``--config`` file are.

    ``on_step`` (optional) is called on every process after each optimizer step (and after any
    checkpoint of that step) with a dict of ``step``, ``loss``, ``learning_rate``, ``grad_norm``
    (before clipping; None without clipping), ``examples`` and ``tokens`` (of that step); an
    exception it raises stops training, as an interruption would.
    """
    config = TrainConfig.build(config, caller="train()", **options)
    output = outputs.check_folder(config.output, command="train", own=OUTPUT_ENTRIES)
    with outputs.hold(output, "train") as lock:
        if lock is not None:  # the process that holds the folder (rank 0 of a launch) tidies it
            checkpoint.remove_leftovers(output)
        # a full disk or read-only output while training (checkpoints, the tracker's logs, the
        # adapter): an error naming the file; the unfinished adapter is not left to look finished
        with writing(output, cleanup=lambda: _remove_unfinished_adapter(output)):
            return _train(config, on_step=on_step, progress=progress)


def _remove_unfinished_adapter(output: Path) -> None:
    if not (output / SUMMARY_FILE).is_file():
        for name in ADAPTER_FILES:
            (output / name).unlink(missing_ok=True)


def _train(config: TrainConfig, *, on_step: Callable[[dict], None] | None, progress: bool) -> dict:
    """Prepare the data, return an earlier finished run as it is, else set up (or restore) the
    run, loop over its steps and write the adapter and the summary."""
    accelerator = _make_accelerator(config)
    data, total_steps = _prepare(config, accelerator)
    data.base_fingerprint = model_fingerprint(config.base)
    finished, resume_from = _earlier_run(config, Path(config.output), total_steps, data)
    if finished is not None:
        accelerator.print(f"{Path(config.output)} already holds this finished run ({total_steps} steps); nothing to do")
        accelerator.end_training()
        return finished
    run = _start(config, accelerator, data, total_steps, resume_from)
    _run_steps(run, on_step=on_step, progress=progress)
    summary = _finish(run)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return summary


# --- the steps of _train() ----------------------------------------------------------------------


def _prepare(config: TrainConfig, accelerator) -> tuple[PreparedData, int]:
    """The checked, tokenized data and the run's number of optimizer steps."""
    world = accelerator.num_processes
    if config.batch_size % world:
        raise ConfigError(f"batch size {config.batch_size} is not divisible by the {world} processes")
    check_hub_needs(train_hub_needs(config), command="train")  # offline: what to give instead, at once
    data = prepare_data(config)
    if (message := skipped_message(data, config.data)) is not None:
        accelerator.print(message)
    if len(data.train) < world:
        raise DataError(f"{len(data.train)} trainable examples, fewer than the {world} processes", path=config.data)
    per_epoch = batching.steps_per_epoch(len(data.train), config.batch_size, world)
    total_steps = config.max_steps or per_epoch * config.num_epochs
    if (message := warmup_message(config.warmup_steps, total_steps, config.lr_scheduler)) is not None:
        accelerator.print(message, file=sys.stderr)
    return data, total_steps


def train_hub_needs(config: TrainConfig) -> list:
    """The hub ids training loads: the base model and the instruction data, where they are hub ids."""
    from polyplatypus.data.instructions import instruction_needs
    from polyplatypus.models.loading import hub_model_needs

    return hub_model_needs([config.base], "give a local base model folder to --base") + instruction_needs([config.data])


def warmup_message(warmup_steps: int, total_steps: int, scheduler: str) -> str | None:
    """A warning when the linear warm-up covers the whole run: the learning rate then never reaches
    its set value (100 warm-up steps against --max-steps 3 stays near 0 throughout)."""
    if scheduler == "constant" or warmup_steps < total_steps:
        return None
    return (
        f"warning: --warmup-steps {warmup_steps} is not below the run's {total_steps} optimizer steps: "
        f"the learning rate rises for the whole run and never reaches its set value; "
        f"give --warmup-steps a few percent of the steps (e.g. --warmup-steps {total_steps // 10})"
    )


@dataclass
class TrainRun:
    """One training run in progress: what the loop and its interval actions share."""

    config: TrainConfig
    accelerator: Any
    data: PreparedData
    model: Any
    optimizer: Any
    scheduler: Any
    setup: "Setup"
    state: "TrainState"
    total_steps: int
    resumed_from_step: int
    eval_loss: float | None = None

    @property
    def done(self) -> bool:
        return self.state.step == self.total_steps


def _start(
    config: TrainConfig, accelerator, data: PreparedData, total_steps: int, resume_from: Path | None
) -> TrainRun:
    """Model, adapter, optimizer and schedule; the state of the checkpoint resumed from, if any;
    the settings written beside the outputs; the trackers started."""
    model, optimizer, scheduler, setup = _build(config, accelerator, total_steps)
    state = TrainState()
    if resume_from is not None:
        accelerator.load_state(str(resume_from))
        state = TrainState.from_checkpoint(checkpoint.read_state(resume_from))
        accelerator.print(f"resuming from {resume_from} (step {state.step} of {total_steps})")
    output = Path(config.output)
    if accelerator.is_main_process:
        output.mkdir(parents=True, exist_ok=True)
        atomic_write_text(output / CONFIG_FILE, config.to_yaml())
    _init_trackers(accelerator, config)
    return TrainRun(
        config, accelerator, data, model, optimizer, scheduler, setup, state, total_steps, resumed_from_step=state.step
    )


def _run_steps(run: TrainRun, *, on_step: Callable[[dict], None] | None, progress: bool) -> None:
    """The training loop: each remaining step, then logging, evaluation and a checkpoint at their
    intervals, then the caller's ``on_step``."""
    config, data, state = run.config, run.data, run.state
    lengths = data.lengths
    bar = _progress(run.accelerator, run.total_steps, state.step, enabled=progress)
    run.model.train()
    for step_examples in _remaining_steps(run):
        started = time.perf_counter()
        result = train_step(
            run.model,
            run.optimizer,
            run.scheduler,
            run.accelerator,
            data,
            step_examples,
            config,
            flatten=run.setup.flatten,
        )
        tokens = sum(lengths[j] for j in step_examples)
        state.record(result, len(step_examples), tokens, time.perf_counter() - started)
        _log_if_due(run, result, bar)
        bar.update(1)
        _evaluate_if_due(run)
        _checkpoint_if_due(run)
        if on_step is not None:
            on_step(
                {
                    "step": state.step,
                    "loss": result.loss,
                    "learning_rate": result.learning_rate,
                    "grad_norm": result.grad_norm,
                    "examples": len(step_examples),
                    "tokens": tokens,
                }
            )
    bar.close()


def _remaining_steps(run: TrainRun):
    """The examples of each step not yet trained: the plan depends only on the seed, so a resumed
    run skips exactly the steps done before the interruption."""
    config = run.config
    plan = batching.iter_steps(
        run.data.lengths,
        batch_size=config.batch_size,
        world_size=run.accelerator.num_processes,
        seed=config.seed,
        group_by_len=config.group_by_length,
    )
    for _, step_examples in itertools.islice(plan, run.state.step, run.total_steps):
        yield step_examples


def _log_if_due(run: TrainRun, result: "StepResult", bar) -> None:
    """Every ``logging_steps`` steps and at the end: the interval's means to the log and trackers."""
    state = run.state
    if state.pending.steps < run.config.logging_steps and not run.done:
        return
    entry = state.flush_log(result.learning_rate, epoch=state.examples / len(run.data.train))
    run.accelerator.log({f"train/{k}": v for k, v in entry.items() if k != "step"}, step=state.step)
    bar.set_postfix(loss=f"{entry['loss']:.4f}", lr=f"{result.learning_rate:.2e}", tok_s=f"{entry['tokens_per_s']:.0f}")


def _evaluate_if_due(run: TrainRun) -> None:
    """Every ``eval_steps`` steps and at the end, with a validation set: its loss."""
    if not run.data.val or (run.state.step % run.config.eval_steps and not run.done):
        return
    run.eval_loss = _evaluate(run.model, run.accelerator, run.data, run.config, run.setup.flatten)
    run.accelerator.log({"eval/loss": run.eval_loss}, step=run.state.step)
    run.state.log_history.append({"step": run.state.step, "eval_loss": run.eval_loss})


def _checkpoint_if_due(run: TrainRun) -> None:
    """Every ``save_steps`` steps, except the last (the finished adapter is written instead)."""
    state, config = run.state, run.config
    if state.step % config.save_steps or run.done:
        return
    checkpoint.save_checkpoint(
        run.accelerator,
        Path(config.output),
        state.step,
        {
            **asdict(state),
            "config": config.model_dump(mode="json"),
            "data_sha256": run.data.sha256,
            "base_fingerprint": run.data.base_fingerprint,
            "chat_template_sha256": run.data.chat_template_sha256,
            COUNTS_CHAT_TEMPLATES: True,
        },
        keep=config.save_total_limit,
    )


# --- the pieces of train() ------------------------------------------------------------------------


def _earlier_run(
    config: TrainConfig, output: Path, total_steps: int, data: PreparedData
) -> tuple[dict | None, Path | None]:
    """(summary of this run if it already finished here, latest checkpoint to resume from).

    An earlier run in ``output`` (checkpoints or a finished adapter) is only continued with
    ``resume``, and only if its settings give the same result and its inputs are the same
    (:func:`_refuse_changed_inputs`); it is never overwritten."""
    import json

    latest = checkpoint.latest_checkpoint(output)
    summary_path = output / SUMMARY_FILE
    summary = None
    if summary_path.is_file() and (output / "adapter_config.json").is_file():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    if latest is None and summary is None:
        return None, None
    if not config.resume:
        raise ConfigError(
            f"{output} already holds a training run; pass --resume to continue it, or choose another --output"
        )
    for source, saved in ((summary_path, summary), (latest, latest and checkpoint.read_state(latest))):
        differ = saved and result_changing_differences(saved.get("config", {}), config)
        if differ:
            raise ConfigError(
                f"cannot resume from {source}: the run used different settings for "
                f"{', '.join(differ)}; choose another --output or restore those settings"
            )
        if saved:
            _refuse_changed_inputs(source, saved, config, data)
    if summary is not None and summary.get("steps") == total_steps:
        return summary, None
    return None, latest


def _refuse_changed_inputs(source, saved: dict, config: TrainConfig, data: PreparedData) -> None:
    """A resume continues on the content it started on: the training data (its SHA-256), the
    base model (its fingerprint) and the --chat-template file (its bytes' SHA-256), each checked
    where the run recorded it (runs from before one was recorded are trusted on the others)."""
    started_on = saved.get("data_sha256")
    if started_on and data.sha256 and started_on != data.sha256:
        raise ConfigError(
            f"cannot resume from {source}: the training data {config.data} is not the data the run "
            f"started on (sha256 {started_on[:16]}... then, {data.sha256[:16]}... now); restore "
            "that data, or choose another --output to train on this one"
        )
    made_from, now = saved.get("base_fingerprint"), data.base_fingerprint
    if made_from and now and made_from != now:
        now = fingerprint_as_recorded(config.base, saved, now)  # as recorded (before templates counted?)
    if made_from and now and made_from != now:
        raise ConfigError(
            f"cannot resume from {source}: the base model {config.base} changed since that run "
            f"started ({made_from[:23]}... then, {now[:23]}... now); restore it, "
            "or choose another --output to train on this one"
        )
    template = saved.get("chat_template_sha256")
    if template and data.chat_template_sha256 and template != data.chat_template_sha256:
        raise ConfigError(
            f"cannot resume from {source}: the chat template file {config.chat_template} changed since "
            f"that run started (sha256 {template[:16]}... then, {data.chat_template_sha256[:16]}... now); "
            "restore it, or choose another --output to train with this one"
        )


def _build(config: TrainConfig, accelerator, total_steps: int):
    """The base model with its LoRA adapter, AdamW and the schedule, prepared by Accelerate."""
    import torch
    from accelerate.utils import DistributedType, set_seed
    from transformers import get_scheduler

    set_seed(config.seed)
    # straight onto this process's GPU (not through host memory); DeepSpeed and FSDP place
    # and shard the weights themselves
    sharded = accelerator.distributed_type in (DistributedType.DEEPSPEED, DistributedType.FSDP)
    cuda = accelerator.device.type == "cuda"
    device_map = {"": accelerator.local_process_index} if cuda and not sharded else None
    precision = resolve_precision(config.precision, cuda=cuda)
    attn, flatten = attention_layout(config)
    model = load_causal_lm(
        config.base, dtype=precision, load_in=config.load_in, device_map=device_map, attn_implementation=attn
    )
    model = add_lora(
        model,
        r=config.lora_r,
        alpha=config.lora_alpha,
        dropout=config.lora_dropout,
        target_modules=config.lora_target_modules,
        layers=config.lora_layers,
        gradient_checkpointing=config.gradient_checkpointing,
    )
    trainable = [p for p in model.parameters() if p.requires_grad]
    targets = model.peft_config["default"].target_modules  # a set of names, or one regular expression
    setup = Setup(
        precision=precision,
        lora_target_modules=[targets] if isinstance(targets, str) else sorted(targets),
        trainable_parameters=sum(p.numel() for p in trainable),
        flatten=flatten,
    )
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = get_scheduler(
        config.lr_scheduler, optimizer, num_warmup_steps=config.warmup_steps, num_training_steps=total_steps
    )
    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        # the step structure is ours: DeepSpeed sees one micro batch per boundary we mark
        accelerator.state.deepspeed_plugin.deepspeed_config.update(
            train_micro_batch_size_per_gpu=config.micro_batch_size,
            gradient_accumulation_steps=1,
            train_batch_size=config.micro_batch_size * accelerator.num_processes,
            gradient_clipping=config.max_grad_norm,
        )
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(scheduler)
    checkpoint.install_adapter_hooks(accelerator)
    return model, optimizer, scheduler, setup


def attention_layout(config: TrainConfig) -> tuple[str, bool]:
    """(attention implementation, whether a pass is one unpadded row with example boundaries).
    ``packed_sdpa`` by default, also without packing: transformers then builds no mask (see
    ``models/attention.py``); packed passes are flattened for the attention that reads boundaries."""
    attn = config.attn_implementation or attention.NAME
    return attn, config.packing and (attn == attention.NAME or attn.startswith("flash_attention"))


class StepResult(NamedTuple):
    """What one optimizer step reports."""

    loss: float  # mean over the step's examples (all processes)
    learning_rate: float  # the rate the step used
    grad_norm: float | None  # the gradients' total norm before clipping (None without clipping)


def train_step(
    model,
    optimizer,
    scheduler,
    accelerator,
    data: PreparedData,
    step_examples: list[int],
    config: TrainConfig,
    *,
    flatten: bool,
) -> StepResult:
    """One optimizer step over ``step_examples`` (this process takes its share): its loss (mean
    over all its examples, all processes), the learning rate used and the gradient norm.

    Nothing in the micro-step loop reads a value back from the device, so on a GPU the host
    queues the next pass while the current one runs; the loss and the gradient norm are read
    together, once, after the step."""
    import torch

    world = accelerator.num_processes
    mine = batching.rank_share(step_examples, accelerator.process_index, world)
    passes = batching.micro_batches(
        mine, data.lengths, micro_batch_size=config.micro_batch_size, packing=config.packing, capacity=data.cutoff_len
    )
    scale = world / len(step_examples)  # DDP averages over processes: this makes the gradient a mean over the step
    loss_sum = torch.zeros((), device=accelerator.device)
    for i, rows in enumerate(passes):
        last = i == len(passes) - 1
        accelerator.sync_gradients = last  # DeepSpeed reads the accumulation boundary from here
        batch = batching.collate([[data.train[j] for j in row] for row in rows], data.pad_id, flatten=flatten)
        with nullcontext() if last else accelerator.no_sync(model):
            losses = loss.forward_losses(model, batch.to(accelerator.device))
            accelerator.backward(losses.sum() * scale)
        loss_sum += losses.detach().sum()
    grad_norm = None
    if config.max_grad_norm > 0:
        grad_norm = accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
    optimizer.step()
    lr = scheduler.get_last_lr()[0]
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    step_loss, grad_norm = _read_back(accelerator.reduce(loss_sum, reduction="sum"), grad_norm)
    return StepResult(step_loss / len(step_examples), lr, grad_norm)


def _read_back(loss_total, grad_norm) -> tuple[float, float | None]:
    """The summed loss and the gradient norm as numbers, in one transfer from the device.
    (DeepSpeed may report the norm as a number, or not at all.)"""
    import torch

    if not isinstance(grad_norm, torch.Tensor):
        return loss_total.item(), None if grad_norm is None else float(grad_norm)
    loss_value, norm = torch.stack([loss_total.float(), grad_norm.detach().float().to(loss_total.device)]).tolist()
    return loss_value, norm


@dataclass
class Setup:
    """What ``_build`` decided, for the summary and the step."""

    precision: str
    lora_target_modules: list[str]
    trainable_parameters: int
    flatten: bool  # each pass one unpadded row with example boundaries


@dataclass
class Interval:
    """The steps since the last log entry."""

    loss_sum: float = 0.0  # loss x examples, summed over the steps
    examples: int = 0
    tokens: int = 0
    time: float = 0.0
    steps: int = 0
    grad_norm_sum: float = 0.0  # over the steps that clipped (and so measured the norm)
    grad_norm_steps: int = 0


@dataclass
class TrainState:
    """Counters and the log of a run: saved in every checkpoint, restored on resume."""

    step: int = 0
    examples: int = 0
    tokens: int = 0
    wall_time_s: float = 0.0
    log_history: list[dict] = field(default_factory=list)
    pending: Interval = field(default_factory=Interval)

    @classmethod
    def from_checkpoint(cls, saved: Mapping[str, Any]) -> "TrainState":
        known = {k: saved[k] for k in ("step", "examples", "tokens", "wall_time_s", "log_history") if k in saved}
        return cls(**known, pending=Interval(**saved.get("pending", {})))

    def record(self, result: StepResult, examples: int, tokens: int, elapsed: float) -> None:
        self.step += 1
        self.examples += examples
        self.tokens += tokens
        self.wall_time_s += elapsed
        pending = self.pending
        pending.loss_sum += result.loss * examples
        pending.examples += examples
        pending.tokens += tokens
        pending.time += elapsed
        pending.steps += 1
        if result.grad_norm is not None:
            pending.grad_norm_sum += result.grad_norm
            pending.grad_norm_steps += 1

    def flush_log(self, lr: float, *, epoch: float) -> dict:
        """Close a logging interval: its mean loss (over examples), learning rate, mean gradient
        norm before clipping (where clipping measured it) and tokens/s."""
        pending = self.pending
        entry = {
            "step": self.step,
            "loss": pending.loss_sum / pending.examples,
            "learning_rate": lr,
            "tokens_per_s": pending.tokens / pending.time if pending.time else 0.0,
            "epoch": round(epoch, 4),
        }
        if pending.grad_norm_steps:
            entry["grad_norm"] = pending.grad_norm_sum / pending.grad_norm_steps
        self.log_history.append(entry)
        self.pending = Interval()
        return entry


def _evaluate(model, accelerator, data: PreparedData, config: TrainConfig, flatten: bool) -> float:
    """Mean per-example loss on the validation set (each process takes every world-th example)."""
    import torch

    mine = list(range(accelerator.process_index, len(data.val), accelerator.num_processes))
    lengths = [len(e) for e in data.val]
    total = torch.zeros(2, device=accelerator.device)
    model.eval()
    with torch.no_grad():
        for rows in batching.micro_batches(
            mine, lengths, micro_batch_size=config.micro_batch_size, packing=config.packing, capacity=data.cutoff_len
        ):
            batch = batching.collate([[data.val[j] for j in row] for row in rows], data.pad_id, flatten=flatten)
            losses = loss.forward_losses(model, batch.to(accelerator.device))
            total[0] += losses.sum()
            total[1] += len(losses)
    model.train()
    total = accelerator.reduce(total, reduction="sum")
    return (total[0] / total[1]).item()


def _finish(run: TrainRun) -> dict:
    """Write the adapter (PEFT layout) with its tokenizer and ``train_summary.json``."""
    accelerator, model, config, data, state, setup = (
        run.accelerator,
        run.model,
        run.config,
        run.data,
        run.state,
        run.setup,
    )
    output = Path(config.output)
    state_dict = accelerator.get_state_dict(model)  # gathers sharded weights: every process takes part
    peak = _peak_memory(accelerator)
    world = accelerator.num_processes
    if not accelerator.is_main_process:
        return {"steps": state.step, "rank": accelerator.process_index}
    accelerator.unwrap_model(model).save_pretrained(output, state_dict=state_dict)
    data.tokenizer.save_pretrained(output)
    if data.end_of_turn_id is not None:
        _save_stop_tokens(accelerator.unwrap_model(model), data, output)
    train_log = [e for e in state.log_history if "loss" in e]
    summary = {
        "steps": state.step,
        "examples": state.examples,
        "tokens": state.tokens,
        "initial_loss": train_log[0]["loss"] if train_log else None,
        "final_loss": train_log[-1]["loss"] if train_log else None,
        "eval_loss": run.eval_loss,
        "wall_time_s": round(state.wall_time_s, 3),
        "tokens_per_s": round(state.tokens / state.wall_time_s, 1) if state.wall_time_s else None,
        "peak_memory_bytes": peak,
        "epochs": round(state.examples / len(data.train), 4),
        "train_examples": len(data.train),
        "val_examples": len(data.val),
        "skipped_examples": data.skipped,
        "skipped_records": data.skipped_records[:100],
        "data_sha256": data.sha256,
        "base_fingerprint": data.base_fingerprint,
        "chat_template_sha256": data.chat_template_sha256,
        COUNTS_CHAT_TEMPLATES: True,
        "cutoff_len": data.cutoff_len,
        "world_size": world,
        "gradient_accumulation_steps": math.ceil(config.batch_size // world / config.micro_batch_size),
        "precision": setup.precision,
        "lora_target_modules": setup.lora_target_modules,
        "trainable_parameters": setup.trainable_parameters,
        "resumed_from_step": run.resumed_from_step or None,
        "config": config.model_dump(mode="json"),
        "log_history": state.log_history,
    }
    atomic_write_json(output / SUMMARY_FILE, summary)
    final = f", final loss {summary['final_loss']:.4f}" if train_log else ""
    accelerator.print(f"adapter written to {output} ({state.step} steps{final})")
    return summary


# --- helpers ------------------------------------------------------------------------------------


def _save_stop_tokens(model, data: PreparedData, output: Path) -> None:
    """After chat training, ``generation_config.json`` beside the adapter: the base's, with the
    template's end-of-turn token as an end of generation too (``generate``, ``eval`` and ``merge``
    read it), since the model was trained to stop there rather than at the tokenizer's EOS."""
    import copy

    from polyplatypus.models.adapters import add_stop_tokens

    generation = copy.deepcopy(model.get_base_model().generation_config)
    eos = data.tokenizer.eos_token_id
    add_stop_tokens(generation, ([] if eos is None else [eos]) + [data.end_of_turn_id])
    generation.save_pretrained(output)


def _make_accelerator(config: TrainConfig):
    import torch
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration

    cuda = torch.cuda.is_available()
    precision = resolve_precision(config.precision, cuda=cuda)
    trackers = list(dict.fromkeys(config.report_to + (["wandb"] if config.wandb_project else [])))
    if "wandb" in trackers:
        import importlib.util

        if importlib.util.find_spec("wandb") is None:
            raise ConfigError("W&B logging was asked for but wandb is not installed: pip install wandb")
    return Accelerator(
        mixed_precision={"fp32": "no"}.get(precision, precision),
        cpu=not cuda,
        log_with=trackers or None,
        project_config=ProjectConfiguration(
            project_dir=str(config.output), logging_dir=str(Path(config.output) / "logs")
        ),
    )


def _init_trackers(accelerator, config: TrainConfig) -> None:
    if not accelerator.log_with:
        return
    flat = {
        k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in config.model_dump(mode="json").items()
    }
    init_kwargs = {"wandb": {"name": config.wandb_run_name}} if config.wandb_run_name else {}
    accelerator.init_trackers(config.wandb_project or "polyplatypus", config=flat, init_kwargs=init_kwargs)


def _split(examples: list, val_set_size: float, *, seed: int) -> tuple[list, list]:
    """Training and validation examples: ``val_set_size`` is a count (>= 1) or a fraction."""
    if not val_set_size:
        return examples, []
    n_val = int(val_set_size) if val_set_size >= 1 else round(val_set_size * len(examples))
    if not 0 < n_val < len(examples):
        raise ConfigError(
            f"validation set size {val_set_size} leaves no training (or no validation) examples out of {len(examples)}"
        )
    val_ids = set(batching.epoch_order(len(examples), seed=seed, epoch=-1)[:n_val])
    return (
        [e for i, e in enumerate(examples) if i not in val_ids],
        [e for i, e in enumerate(examples) if i in val_ids],
    )


def _progress(accelerator, total: int, initial: int, enabled: bool = True):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        desc="train",
        unit="step",
        dynamic_ncols=True,
        disable=not enabled or not accelerator.is_local_main_process,
    )


def _peak_memory(accelerator) -> int:
    """Peak memory of the largest process: CUDA allocations on GPUs, resident set size on CPU."""
    import torch

    if accelerator.device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(accelerator.device)
    else:
        import resource
        import sys

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak = rss if sys.platform == "darwin" else rss * 1024
    gathered = accelerator.gather(torch.tensor([peak], device=accelerator.device))
    return int(gathered.max().item())
