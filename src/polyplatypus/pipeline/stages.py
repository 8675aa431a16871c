"""The recipe's stages as plain functions, run in order by :func:`run_pipeline`.

    base    tiny configs only: tokenizer + small model + short pre-training   -> RUN/base/
    data    curation of the instruction data (dedup, decontamination)         -> RUN/data/
    train   LoRA fine-tuning with the Platypus recipe                          -> RUN/adapter/
    merge   adapter folded into the base model                                 -> RUN/merged/
    eval    KoBEST grid (models x tasks x shots), resumable cell by cell       -> RUN/eval/
    report  model card (Markdown), HTML page, PNG plots                        -> RUN/report/

Each finished stage leaves a marker ``RUN/stages/<stage>.json`` with a fingerprint of the
settings it depends on (its own section and those of the stages before it). A re-run skips a
stage whose marker matches and whose key outputs (:meth:`Run.missing_outputs`) are all there, so
an interrupted run continues where it stopped; a stage whose outputs were deleted runs again, and
so do the stages after it; training itself
resumes from its last checkpoint and evaluation from its last finished cell. A marker made with
other settings is an error for the expensive stages (``--redo STAGE`` recomputes), while eval and
report are simply recomputed (finished eval cells with unchanged settings are still reused).
The resolved configuration is saved as ``RUN/config.yaml``. The run directory is checked before
anything starts (a file, a folder holding something else, or an unwritable place is refused) and
held by one process at a time (``RUN/.polyplatypus.lock``).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from polyplatypus.errors import ConfigError
from polyplatypus.eval.models import ModelSpec
from polyplatypus.models.fingerprint import hub_commit, model_fingerprint
from polyplatypus.models.loading import weight_bars
from polyplatypus.pipeline.config import (
    BASE,
    MERGED,
    PipelineConfig,
    fingerprint,
    refuse_conversations,
    resolve_builtin,
    stage_settings,
    train_result_settings,
)
from polyplatypus.pipeline.hub_needs import recipe_hub_needs
from polyplatypus.utils import outputs
from polyplatypus.utils.hub import check_hub_needs
from polyplatypus.utils.io import atomic_write_json, atomic_write_text, sha256_file
from polyplatypus.version import __version__

STAGES = ("base", "data", "train", "merge", "eval", "report")


def reaches(until: str | None, stage: str) -> bool:
    """Whether a run stopping after ``until`` (None: the last stage) gets as far as ``stage``."""
    return until not in STAGES or STAGES.index(until) >= STAGES.index(stage)


STAGE_DIRS = {"base": "base", "data": "data", "train": "adapter", "merge": "merged", "eval": "eval", "report": "report"}
# Stages whose outputs are costly: a marker made with other settings stops the run instead of
# being silently recomputed.
PROTECTED = ("base", "data", "train", "merge")
MARKERS_DIR = "stages"
STATE_FILE = "pipeline.json"
CONFIG_FILE = "config.yaml"
CURATED_FILE = "instructions.jsonl"
# What a run directory holds from its first moment (pipeline.json is written first): an existing
# folder with neither is not one.
RUN_ENTRIES = (STATE_FILE, MARKERS_DIR)


WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


def _has_weights(folder: Path) -> bool:
    """A model folder holds its weights: one file, or an index whose every shard is there."""
    if any((folder / name).is_file() for name in WEIGHT_FILES):
        return True
    for name in WEIGHT_INDEXES:
        index = folder / name
        if index.is_file():
            try:
                shards = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
            except (OSError, ValueError, KeyError, AttributeError, TypeError):
                return False
            return bool(shards) and all((folder / shard).is_file() for shard in shards)
    return False


def source_identity(source: str) -> str | None:
    """A data source's content: a file's SHA-256, or a hub dataset's commit (None: unknown)."""
    from polyplatypus.data.instructions import HUB_PREFIX, source_kind

    if source_kind(source) == "file":
        path = Path(source).expanduser()
        return sha256_file(path) if path.is_file() else None
    repo = source.removeprefix(HUB_PREFIX)
    commit = hub_commit(repo, repo_type="dataset")
    return None if commit is None else f"hub:{repo}@{commit}"


def _file_identity(path: str) -> str | None:
    """A local file's SHA-256 (None: no such file; the stage that reads it names it)."""
    local = Path(path).expanduser()
    return sha256_file(local) if local.is_file() else None


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class Run:
    """A recipe run: its configuration, directory and how it reports progress."""

    config: PipelineConfig
    run_dir: Path
    source: str = "config"
    progress: bool = True
    until: str | None = None  # --until: the last stage this run goes to
    conversations_checked: bool = False  # refuse_conversations ran for this run's train stage
    log: Callable[[str], None] = field(default=lambda message: print(message, file=sys.stderr, flush=True))

    def dir(self, stage: str) -> Path:
        return self.run_dir / STAGE_DIRS[stage]

    def marker_path(self, stage: str) -> Path:
        return self.run_dir / MARKERS_DIR / f"{stage}.json"

    def read_marker(self, stage: str) -> dict | None:
        path = self.marker_path(stage)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None  # a damaged marker: the stage runs again

    # --- where things are -------------------------------------------------------------------

    @property
    def base_path(self) -> str:
        """The base model: the tiny model built in RUN/base, or the configured hub id / folder."""
        if self.config.base.tiny is not None:
            return str(self.dir("base").resolve())
        return self.config.base.model

    @property
    def curated_path(self) -> Path:
        return self.dir("data") / CURATED_FILE

    @property
    def merged_path(self) -> str:
        return str(self.dir("merge").resolve())

    @property
    def eval_kobest_dir(self) -> str | None:
        return resolve_builtin(self.config.eval.kobest_dir)

    @property
    def data_kobest_dir(self) -> str | None:
        data = self.config.data
        chosen = data.kobest_dir if data is not None and data.kobest_dir is not None else self.config.eval.kobest_dir
        return resolve_builtin(chosen)

    def eval_models(self) -> list[str]:
        """``label=path`` for every model of eval.models ('base' and 'merged' resolved)."""
        models = []
        for entry in self.config.eval.models:
            if entry == BASE:
                models.append(f"{self.config.base_label()}={self.base_path}")
            elif entry == MERGED:
                models.append(f"{self.config.merged_label()}={self.merged_path}")
            else:
                models.append(entry)
        return models

    def baseline(self) -> str | None:
        baseline = self.config.report.baseline
        if baseline == BASE:
            return self.config.base_label()
        if baseline == MERGED:
            return self.config.merged_label()
        return baseline

    # --- what a finished stage leaves ---------------------------------------------------------

    def key_outputs(self, stage: str) -> list[Path]:
        """The files a finished stage must have left (model weights are checked separately)."""
        out = self.dir(stage)
        if stage in ("base", "merge"):
            return [out / "config.json"]
        if stage == "data":
            from polyplatypus.data.curate import report_path_for

            return [self.curated_path, report_path_for(self.curated_path)]
        if stage == "train":
            return [out / "adapter_model.safetensors", out / "train_summary.json"]
        if stage == "eval":
            return [out / "results.json"]
        formats = self.config.report.formats
        return [out / "results.json"] + [
            out / name for name, fmt in (("card.md", "md"), ("card.html", "html")) if fmt in formats
        ]

    def missing_outputs(self, stage: str) -> list[str]:
        """Key outputs of ``stage`` that are absent (paths relative to the run directory)."""
        missing = [p for p in self.key_outputs(stage) if not p.is_file()]
        if stage in ("base", "merge") and not _has_weights(self.dir(stage)):
            missing.append(self.dir(stage) / "model weights (model.safetensors or shards)")
        return [_relative(p, self.run_dir) for p in missing]

    # --- which stages apply, and their fingerprints -------------------------------------------

    def applies(self, stage: str) -> bool:
        config = self.config
        return {
            "base": config.base.tiny is not None,
            "data": config.data is not None and config.train is not None,
            "train": config.train is not None,
            "merge": config.tuned,
            "eval": config.eval.enabled,
            "report": config.report.enabled and config.eval.enabled,
        }[stage]

    def settings(self, *, chat_templates: bool = True) -> dict[str, dict]:
        """Per stage, the settings its outputs depend on (upstream stages by fingerprint);
        ``chat_templates=False``: with model fingerprints as computed before templates counted."""
        config = self.config
        out: dict[str, dict] = {}
        out["base"] = {"base": config.base.model_dump(mode="json", exclude={"label"})}
        if config.base.tiny is None:  # what the model is, not only its name: a changed folder is seen
            out["base"]["identity"] = model_fingerprint(config.base.model, chat_templates=chat_templates)
        base_fp = fingerprint(out["base"])
        if config.data is not None:
            # as written: builtin: data moves with the package and is versioned with it
            data = config.data.model_dump(mode="json", exclude={"kobest_dir", *config.data.pipeline_owned})
            chosen = config.data.kobest_dir if config.data.kobest_dir is not None else config.eval.kobest_dir
            data["kobest_dir"] = chosen if config.data.decontaminate else None
            out["data"] = {"data": data, "identity": [source_identity(resolve_builtin(s)) for s in config.data.sources]}
        data_fp = fingerprint(out.get("data"))
        if config.train is not None:
            out["train"] = {"train": train_result_settings(config), "base": base_fp, "data": data_fp}
            if config.train.chat_template is not None:  # its content; a recipe without one keeps its key
                out["train"]["chat_template"] = _file_identity(config.train.chat_template)
        train_fp = fingerprint(out.get("train"))
        out["merge"] = {"merge": config.merge.model_dump(mode="json", exclude={"label"}), "train": train_fp}
        merge_fp = fingerprint(out["merge"])
        evaluation = config.eval.model_dump(mode="json", exclude=set(config.eval.pipeline_owned))
        evaluation["models"] = self.eval_models()
        evaluation["kobest_dir"] = self.eval_kobest_dir
        # the base and merged models are known by their stages' keys; every other model by its own
        evaluation["identity"] = {
            entry: model_fingerprint(ModelSpec.parse(model).path, chat_templates=chat_templates)
            for entry, model in zip(config.eval.models, self.eval_models())
            if entry not in (BASE, MERGED)
        }
        out["eval"] = {"eval": evaluation, "base": base_fp, "merge": merge_fp if config.tuned else None}
        out["report"] = {
            "report": config.report.model_dump(mode="json"),
            "baseline": self.baseline(),
            "name": config.name,
            "description": config.description,
            "eval": fingerprint(out["eval"]),
        }
        return out


# ------------------------------------------------------------------------------------- stages


def stage_base(run: Run) -> dict:
    """Build the tiny base model: tokenizer and model from the corpus, short LM pre-training."""
    from polyplatypus.pipeline.pretrain import build_tiny_base

    spec = run.config.base.tiny
    corpus = resolve_builtin(spec.corpus)
    out = run.dir("base")
    if out.exists():
        shutil.rmtree(out)
    summary = build_tiny_base(spec, corpus, out, progress=run.progress, log=run.log)
    run.log(
        f"pre-training: loss {summary['initial_loss']:.3f} -> {summary['final_loss']:.3f} "
        f"(held-out {summary['holdout_loss_before']:.3f} -> {summary['holdout_loss_after']:.3f})"
        if summary["holdout_loss_after"] is not None
        else f"pre-training: loss {summary['initial_loss']:.3f} -> {summary['final_loss']:.3f}"
    )
    return {k: v for k, v in summary.items() if k != "losses"}


def stage_data(run: Run) -> dict:
    """Curate the instruction sources into RUN/data/instructions.jsonl (+ .report.json)."""
    from polyplatypus.data.curate import curate

    data = run.config.data
    # hub datasets too (the recipe's check read local files only); before curation writes anything
    if reaches(run.until, "train"):
        refuse_conversations(run.config, run.source, outcome="the data stage wrote nothing")
        run.conversations_checked = True
    config = stage_settings(
        data,
        sources=[resolve_builtin(s) for s in data.sources],
        output=str(run.curated_path),
        kobest_dir=run.data_kobest_dir,
        report_path=None,
    )
    report = curate(config=config, log=run.log)
    totals = report.get("totals") or {}
    run.log(f"curated {run.curated_path}: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in totals.items()))
    return {"output": str(run.curated_path), "report": report.get("report_path"), **totals}


def stage_train(run: Run) -> dict:
    """LoRA fine-tuning of the base model on the curated data (resumes from its checkpoints)."""
    from polyplatypus.train import train

    if not run.conversations_checked:  # the data stage was made by an earlier run (--until data)
        refuse_conversations(run.config, run.source, outcome="the train stage did not start")
    config = stage_settings(
        run.config.train,
        base=run.base_path,
        data=str(run.curated_path),
        output=str(run.dir("train")),
        resume=True,
        seed=run.config.train_seed,
    )
    summary = train(config, progress=run.progress)
    if summary.get("initial_loss") is not None and summary.get("final_loss") is not None:
        run.log(
            f"fine-tuning: {summary['steps']} steps, loss {summary['initial_loss']:.4f} -> {summary['final_loss']:.4f}"
        )
    keep = (
        "steps",
        "examples",
        "tokens",
        "initial_loss",
        "final_loss",
        "eval_loss",
        "wall_time_s",
        "peak_memory_bytes",
        "trainable_parameters",
        "lora_target_modules",
        "precision",
        "resumed_from_step",
    )
    return {k: summary.get(k) for k in keep}


def stage_merge(run: Run) -> dict:
    from polyplatypus.train import merge

    merge_config = run.config.merge
    output = merge(
        run.dir("train"),
        run.dir("merge"),
        base=run.base_path,
        dtype=merge_config.dtype,
        max_shard_size=merge_config.max_shard_size,
        overwrite=True,
    )
    return {"output": str(output)}


def stage_eval(run: Run) -> dict:
    from polyplatypus.eval.runner import discard_cells_made_otherwise, evaluate

    config = stage_settings(
        run.config.eval,
        models=run.eval_models(),
        output=str(run.dir("eval")),
        kobest_dir=run.eval_kobest_dir,
        progress=run.progress,
    )
    # this folder is the recipe's own: cells made with earlier settings go, rather than being refused
    discard_cells_made_otherwise(config)
    records = evaluate(config=config)
    return {"output": str(run.dir("eval")), "cells": len(records)}


def stage_report(run: Run) -> dict:
    from polyplatypus.report.card import write_configured_report

    section = run.config.report
    config = stage_settings(
        section,
        results=[str(run.dir("eval"))],
        output=str(run.dir("report")),
        intro=recipe_intro(run),
        baseline=run.baseline(),
        title=section.title or f"{run.config.name}: KoBEST results",
    )
    written = write_configured_report(
        config, warn=lambda message: print(f"polyplatypus run: report: warning: {message}", file=sys.stderr)
    )
    return {"files": [str(p) for paths in written.values() for p in paths]}


STAGE_FUNCTIONS = {
    "base": stage_base,
    "data": stage_data,
    "train": stage_train,
    "merge": stage_merge,
    "eval": stage_eval,
    "report": stage_report,
}


def recipe_intro(run: Run) -> str:
    """What was run, for the card: base model, data, training and its outcome."""
    config = run.config
    parts = []
    if config.description:
        parts.append(config.description.strip())
    if config.base.tiny is not None:
        tiny = config.base.tiny
        summary = _read_json(run.dir("base") / "pretrain_summary.json") or {}
        parts.append(
            f"Base model: a tiny {tiny.arch} ({tiny.layers} layers, hidden size {tiny.hidden_size}, "
            f"vocabulary {tiny.vocab_size}) built offline and pre-trained for {tiny.pretrain.steps} steps on "
            f"the corpus `{tiny.corpus}`"
            + (
                f" (training loss {summary['initial_loss']:.2f} -> {summary['final_loss']:.2f}"
                if summary.get("final_loss")
                else ""
            )
            + (
                f", held-out loss {summary['holdout_loss_before']:.2f} -> {summary['holdout_loss_after']:.2f})."
                if summary.get("holdout_loss_after") is not None
                else ")."
                if summary.get("final_loss")
                else "."
            )
        )
    else:
        parts.append(f"Base model: `{config.base.model}`.")
    if config.train is not None:
        t = config.train_fields()
        data_report = _read_json(Path(str(run.curated_path) + ".report.json")) or {}
        kept = (data_report.get("totals") or {}).get("records_out")
        summary = _read_json(run.dir("train") / "train_summary.json") or {}
        line = (
            f"Fine-tuning: LoRA (r {t['lora_r']}, alpha {t['lora_alpha']}, dropout {t['lora_dropout']}, "
            f"{t['lora_layers']} layers) on {', '.join(f'`{s}`' for s in config.data.sources)}"
            + (f" ({kept} records after curation)" if kept is not None else "")
            + f", learning rate {t['learning_rate']}, batch {t['batch_size']}, {t['num_epochs']} epoch(s), "
            f"{t['lr_scheduler']} schedule, cutoff {t['cutoff_len']} tokens"
        )
        if summary.get("final_loss") is not None and summary.get("initial_loss") is not None:
            line += f"; {summary['steps']} steps, training loss {summary['initial_loss']:.4f} -> {summary['final_loss']:.4f}"
        parts.append(line + ".")
    parts.append(
        f"Evaluation: KoBEST via polyplatypus (the reference harness's prompts and macro-F1), "
        f"data `{config.eval.kobest_dir or 'hub: skt/kobest_v1 (or $POLYPLATYPUS_KOBEST_DIR)'}`"
        + (f", first {config.eval.limit} documents per task" if config.eval.limit else "")
        + "."
    )
    return "\n\n".join(parts)


def _read_json(path: Path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


# ------------------------------------------------------------------------------------- runner


def _flatten(data, prefix="") -> dict:
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): data}


def _changed_keys(old: dict, new: dict) -> list[str]:
    a, b = _flatten(old), _flatten(new)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def run_pipeline(
    config: PipelineConfig,
    run_dir: str | os.PathLike | None = None,
    *,
    source: str = "config",
    redo: tuple[str, ...] | list[str] = (),
    until: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Run the stages in order, skipping those already complete; returns the run's state."""
    for name in list(redo) + ([until] if until else []):
        if name not in STAGES:
            raise ConfigError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
    run_dir = Path(run_dir or config.run_dir or Path("runs") / config.name)
    run = Run(config=config, run_dir=run_dir, source=source, progress=progress, until=until)
    if log is not None:
        run.log = log
    stages = [s for s in STAGES if run.applies(s)]
    if until is not None and until not in stages:
        raise ConfigError(f"--until {until}: this recipe has no {until} stage (its stages: {', '.join(stages)})")
    # A stage redone makes every stage after it stale.
    first_redo = min((STAGES.index(s) for s in redo), default=len(STAGES))
    redo_set = {s for s in STAGES if STAGES.index(s) >= first_redo}
    upto = stages[: stages.index(until) + 1] if until is not None else stages
    check_hub_needs(recipe_hub_needs(run, upto), command="run")  # offline: all at once, before anything is made
    outputs.check_folder(run_dir, command="run", own=RUN_ENTRIES, option="--run-dir")
    with outputs.hold(run_dir, "run"), weight_bars(progress):  # --no-progress: no "Loading weights" bars either
        outputs.remove_temporaries(run_dir)
        outputs.remove_temporaries(run_dir / MARKERS_DIR)
        return _run_stages(run, stages, redo_set, until)


def _run_stages(run: Run, stages: list[str], redo_set: set[str], until: str | None) -> dict:
    settings = run.settings()
    _check_markers(run, stages, redo_set, settings)  # a mismatch stops the run before it starts
    state_path, state = _start_state(run, stages)
    upstream_ran = False  # a protected stage ran: the outputs after it were made from other inputs
    ran = False  # any stage ran: every stage after it runs too
    run.log(f"polyplatypus run {run.config.name}: {len(stages)} stages ({', '.join(stages)}) in {run.run_dir}")
    for number, stage in enumerate(stages, start=1):
        header = f"[{number}/{len(stages)}] {stage}"
        fp = fingerprint(settings[stage])
        marker = run.read_marker(stage)
        complete = marker is not None and marker.get("fingerprint") == fp and stage not in redo_set
        missing = run.missing_outputs(stage) if complete else []
        if complete and not missing and not ran:
            run.log(f"{header}: already complete ({marker.get('finished')}), skipped")
            state["stages"][stage] = {
                **marker.get("state", {}),
                "status": "skipped (complete)",
                "seconds": marker.get("seconds"),
                "finished": marker.get("finished"),
            }
            atomic_write_json(state_path, state)
        else:
            if (stage in redo_set or upstream_ran) and run.dir(stage).exists():
                # outputs made from other inputs: never resume from them
                run.log(f"{header}: removing {run.dir(stage)} to recompute it")
                shutil.rmtree(run.dir(stage))
            run.marker_path(stage).unlink(missing_ok=True)
            run.log(f"{header}: {_why_it_runs(marker, missing, complete, stage in redo_set)} -> {run.dir(stage)}")
            _run_stage(run, stage, fp, settings[stage], state_path, state)
            run.log(f"{header}: done in {state['stages'][stage]['seconds']:.1f} s")
            upstream_ran = upstream_ran or stage in PROTECTED
            ran = True
        if stage == until:
            run.log(f"stopping after {stage} (--until)")
            break
    state["finished"] = _now()
    atomic_write_json(state_path, state)
    return state


def _check_markers(run: Run, stages: list[str], redo_set: set[str], settings: dict) -> None:
    """A protected stage made with other settings is never redone silently: stop unless --redo."""
    for stage in stages:
        marker = run.read_marker(stage)
        if stage in PROTECTED and stage not in redo_set and marker is not None:
            fp = fingerprint(settings[stage])
            if marker.get("fingerprint") != fp and not _made_before_templates_counted(run, stage, marker):
                changed = _changed_keys(marker.get("settings") or {}, settings[stage])
                raise ConfigError(
                    f"{run.run_dir}: its {stage} stage was made with other settings"
                    + (f" (changed: {', '.join(changed[:8])})" if changed else "")
                    + f"; re-run with --redo {stage} to recompute it and the stages after it, "
                    "or choose another --run-dir"
                )


def _made_before_templates_counted(run: Run, stage: str, marker: dict) -> bool:
    """The marker was written, on the same inputs, before model fingerprints counted chat
    templates (a base folder holding chat_template.jinja): the stage runs again instead of
    stopping the run, and train reuses or resumes its run, which checks the base as recorded."""
    return marker.get("fingerprint") == fingerprint(run.settings(chat_templates=False)[stage])


def _start_state(run: Run, stages: list[str]) -> tuple[Path, dict]:
    """The run's state file, marked started (its first write marks the folder as a run
    directory), and the resolved configuration next to it."""
    run.run_dir.mkdir(parents=True, exist_ok=True)
    state_path = run.run_dir / STATE_FILE
    state = _read_json(state_path) or {}
    state.update(
        {
            "name": run.config.name,
            "config": run.source,
            "run_dir": str(run.run_dir),
            "version": __version__,
            "started": _now(),
            "finished": None,
        }
    )
    state.setdefault("stages", {})
    for stage in STAGES:
        if stage not in stages:
            state["stages"][stage] = {"status": "not in recipe"}
    atomic_write_json(state_path, state)
    atomic_write_text(run.run_dir / CONFIG_FILE, _config_yaml(run.config, run.source))
    return state_path, state


def _why_it_runs(marker: dict | None, missing: list[str], complete: bool, redone: bool) -> str:
    if missing:
        return f"marked complete but {', '.join(missing)} missing, recomputing"
    if complete:
        return "an earlier stage was recomputed, recomputing"
    if marker is not None and not redone:
        return "settings changed, recomputing"
    return "running"


def _run_stage(run: Run, stage: str, fp: str, settings: dict, state_path: Path, state: dict) -> None:
    """Run one stage, recording in the state file that it runs, then how it ended; its marker
    (fingerprint, settings, result) is written only when it completes."""
    state["stages"][stage] = {"status": "running", "started": _now()}
    atomic_write_json(state_path, state)
    started = time.perf_counter()
    try:
        result = STAGE_FUNCTIONS[stage](run)
    except BaseException as error:
        interrupted = isinstance(error, KeyboardInterrupt)
        state["stages"][stage].update(
            {
                "status": "interrupted" if interrupted else "failed",
                "error": None if interrupted else f"{type(error).__name__}: {error}",
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
        atomic_write_json(state_path, state)
        raise
    seconds = round(time.perf_counter() - started, 2)
    marker = {
        "stage": stage,
        "fingerprint": fp,
        "settings": settings,
        "finished": _now(),
        "seconds": seconds,
        "version": __version__,
        "state": result,
    }
    atomic_write_json(run.marker_path(stage), marker)
    state["stages"][stage] = {**result, "status": "done", "seconds": seconds, "finished": marker["finished"]}
    atomic_write_json(state_path, state)


def _config_yaml(config: PipelineConfig, source: str) -> str:
    import yaml

    header = (
        f"# Resolved configuration of this run (every default filled in), written by polyplatypus "
        f"{__version__}\n# from {source} on {_now()}\n"
    )
    return header + yaml.safe_dump(config.resolved(), sort_keys=False, allow_unicode=True)
