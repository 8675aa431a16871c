"""The recipe file: one YAML describing data, base model, training, merging, evaluation and report.

Every section is a typed model that forbids unknown keys, so a typo or a wrong type is an error
naming the file, the key path (``train.learning_rate``) and, where known, its line, never a run
that silently used a default. ``builtin:NAME`` refers to data shipped inside the package
(``builtin:corpus``, ``builtin:kobest_sample``, ``builtin:instructions/ko_platypus_sample.jsonl``)
so that shipped configs work from an installed package.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from polyplatypus.data.config import CurateConfig
from polyplatypus.errors import ConfigError, DataError
from polyplatypus.eval.config import EvalConfig
from polyplatypus.models.loading import DTYPES
from polyplatypus.report.config import ReportConfig
from polyplatypus.settings import Number, describe_validation_error, line_index, read_yaml
from polyplatypus.train.config import RUN_ONLY_KEYS, TrainConfig
from polyplatypus.utils.builtin import resolve_builtin

PACKAGE_CONFIGS_DIR = Path(__file__).resolve().parents[1] / "configs"
# Symbolic model names in eval.models / report.baseline.
BASE, MERGED = "base", "merged"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class PretrainSection(Section):
    """A short causal-LM pre-training of the tiny model on the corpus."""

    steps: StrictInt = Field(300, ge=0, description="optimizer steps")
    batch_size: StrictInt = Field(16, ge=1, description="sequences per step")
    seq_len: StrictInt = Field(128, ge=8, description="tokens per sequence")
    learning_rate: Number = Field(3e-3, gt=0, description="peak learning rate (AdamW, cosine decay)")
    warmup_steps: StrictInt = Field(20, ge=0, description="linear warm-up steps")
    weight_decay: Number = Field(0.01, ge=0, description="AdamW weight decay")
    holdout: Number = Field(0.05, ge=0, lt=0.5, description="share of the corpus held out to measure loss")


class TinySection(Section):
    """Build the base model locally: a tokenizer trained on a corpus and a small random model."""

    arch: Literal["gpt_neox", "llama"] = Field("gpt_neox", description="gpt_neox is Polyglot-ko's layout")
    corpus: str = Field("builtin:corpus", description="folder of .txt files (or one .txt file) of Korean text")
    vocab_size: StrictInt = Field(2048, ge=300, description="byte-level BPE vocabulary size")
    hidden_size: StrictInt = Field(128, ge=8)
    layers: StrictInt = Field(4, ge=1)
    heads: StrictInt = Field(4, ge=1)
    max_positions: StrictInt = Field(
        1024, ge=16, description="longest context; longer prompts are truncated from the left"
    )
    seed: StrictInt = Field(0, description="initialisation and data-order seed")
    pretrain: PretrainSection = Field(default_factory=PretrainSection)

    @model_validator(mode="after")
    def _heads_divide(self):
        if self.hidden_size % self.heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by heads {self.heads}")
        return self


class BaseSection(Section):
    """The base model: a hub id or local folder (``model``), or a tiny model built here (``tiny``)."""

    model: str | None = Field(None, description="hub id or local folder, e.g. EleutherAI/polyglot-ko-12.8b")
    tiny: TinySection | None = Field(None, description="build a tiny model instead (offline demo, tests)")
    label: str | None = Field(None, description="row name in reports (default: the model's name)")

    @model_validator(mode="after")
    def _one_source(self):
        if (self.model is None) == (self.tiny is None):
            raise ValueError("give exactly one of base.model or base.tiny")
        return self


def pipeline_section(
    name: str,
    settings: type[BaseModel],
    key: str,
    set_by: Mapping[str, str],
    doc: str,
    validators: Mapping[str, Any] | None = None,
    **fields: Any,
) -> type[BaseModel]:
    """A recipe section made from a stage's settings class: the same fields (so every flag of the
    stage is also a key here, with the same checks) except those the pipeline fills in
    (``set_by``: field -> where its value comes from), which are rejected, and ``fields``
    (new or with recipe defaults); ``validators`` replace the settings class's of the same name."""

    def _set_by_pipeline(value, info):
        raise ValueError(f"set by the pipeline (from {set_by[info.field_name]}); remove it from {key}")

    section = create_model(
        name,
        __base__=settings,
        __doc__=doc,
        __validators__={
            "_set_by_pipeline": field_validator(*set_by, mode="before")(_set_by_pipeline),
            **(validators or {}),
        },
        **{field: (Any, None) for field in set_by},
        **fields,
    )
    section.pipeline_owned = dict(set_by)
    section.stage_config = settings
    return section


def _with_default(settings: type[BaseModel], name: str, default: Any, description: str) -> tuple:
    """A field of ``settings`` (type and checks) with the recipe's own default and description."""
    field = settings.model_fields[name]
    return field.annotation, FieldInfo.merge_field_infos(field, default=default, description=description)


def stage_settings(section: BaseModel, **values: Any):
    """The stage's settings object (``CurateConfig``, ``TrainConfig``, ``EvalConfig``) of a recipe
    section: the section's values, plus ``values`` for the settings the pipeline fills in."""
    settings = type(section).stage_config
    keep = set(settings.model_fields) - set(section.pipeline_owned) - set(values)
    return settings(**{k: getattr(section, k) for k in keep}, **values)


# The train section: TrainConfig's fields (the Platypus defaults) without the ones the pipeline
# fills in from other sections and the run directory.
TrainSection = pipeline_section(
    "TrainSection",
    TrainConfig,
    "train",
    {
        "base": "base.model or base.tiny",
        "data": "data.sources",
        "output": "the run directory",
        "resume": "re-running the same command, which resumes",
    },
    "LoRA fine-tuning: the fields of polyplatypus.train.TrainConfig (Platypus defaults) except those the pipeline "
    "fills in.",
)

# The data section: CurateConfig's fields (``polyplatypus data curate``'s flags). A recipe
# decontaminates against KoBEST unless told not to; KoBEST defaults to the eval section's.
DataSection = pipeline_section(
    "DataSection",
    CurateConfig,
    "data",
    {"output": "the run directory", "report_path": "the run directory"},
    "Instruction data and its curation: the fields of polyplatypus.data.config.CurateConfig (the flags of "
    "polyplatypus data curate) except those the pipeline fills in.",
    decontaminate=_with_default(
        CurateConfig,
        "decontaminate",
        ["kobest"],
        "benchmarks whose documents are removed from the data (kobest, task names, lm_eval:<task>, or none)",
    ),
    kobest_dir=_with_default(CurateConfig, "kobest_dir", None, "KoBEST for decontamination; default: eval.kobest_dir"),
)


class MergeSection(Section):
    enabled: StrictBool = Field(
        True, description="merge the adapter into the base model (needed to evaluate the tuned model)"
    )
    dtype: Literal[DTYPES] = Field("auto", description="dtype of the merged weights; auto keeps the base's")  # type: ignore[valid-type]
    max_shard_size: str = Field("5GB", description="largest safetensors shard")
    label: str | None = Field(None, description="row name of the merged model in reports (default: the config name)")


# The eval section: EvalConfig's fields (``polyplatypus eval``'s flags) and ``enabled``; the
# models default to the recipe's own (base, plus merged when it trains and merges).
EvalSection = pipeline_section(
    "EvalSection",
    EvalConfig,
    "eval",
    {"output": "the run directory", "progress": "--no-progress of polyplatypus run"},
    "KoBEST evaluation: the fields of polyplatypus.eval.config.EvalConfig (the flags of polyplatypus eval) except "
    "those the pipeline fills in.",
    enabled=(StrictBool, True),
    models=(
        list[str] | None,
        Field(
            None,
            min_length=1,
            description="models to compare: 'base', 'merged', or any path / hub id, optionally LABEL=PATH "
            "(default: base, plus merged when the recipe trains and merges)",
        ),
    ),
)


def _inputs_from_the_run(self):
    if self.model_dir is not None and self.card_model is None:
        raise ValueError("model_dir needs card_model (the model whose results go into the model folder)")
    return self  # the results and output come from the run directory


# The report section: ReportConfig's fields (the flags of polyplatypus report, published baselines
# and the Hub files included) without the ones the run directory fills in.
ReportSection = pipeline_section(
    "ReportSection",
    ReportConfig,
    "report",
    {"results": "the run's eval folder", "output": "the run directory", "intro": "description and the stages that ran"},
    "Model card: the fields of polyplatypus.report.config.ReportConfig (the flags of polyplatypus report) except "
    "those the pipeline fills in.",
    validators={"_inputs": model_validator(mode="after")(_inputs_from_the_run)},
    enabled=(StrictBool, True),
    baseline=_with_default(
        ReportConfig, "baseline", BASE, "model the others are compared against: base, merged, a label or a path"
    ),
    title=(str | None, Field(None, description="card title (default: from the config name)")),
)


class PipelineConfig(Section):
    """A whole recipe run."""

    name: str = Field(min_length=1, description="run name; also the merged model's label")
    description: str = Field("", description="one paragraph for the report")
    run_dir: str | None = Field(None, description="where the stages write (default runs/<name>); --run-dir overrides")
    seed: StrictInt = Field(42, description="seed for training (unless train.seed is set)")
    base: BaseSection
    data: DataSection | None = Field(None, description="instruction data; required when train is given")
    train: TrainSection | None = Field(None, description="LoRA fine-tuning (TrainConfig fields); null: no training")  # type: ignore[valid-type]
    merge: MergeSection = Field(default_factory=MergeSection)
    eval: EvalSection = Field(default_factory=EvalSection)
    report: ReportSection = Field(default_factory=ReportSection)

    @model_validator(mode="after")
    def _consistent(self):
        if self.train is not None and self.data is None:
            raise ValueError("train needs a data section (data.sources)")
        tuned = self.train is not None and self.merge.enabled
        if self.eval.models is None:
            self.eval.models = [BASE, MERGED] if tuned else [BASE]
        if self.eval.enabled and MERGED in self.eval.models and not tuned:
            raise ValueError("eval.models lists 'merged' but nothing is trained and merged (train and merge.enabled)")
        return self

    # --- derived values -------------------------------------------------------------------

    @property
    def tuned(self) -> bool:
        return self.train is not None and self.merge.enabled

    def base_label(self) -> str:
        if self.base.label:
            return self.base.label
        if self.base.model:
            return Path(self.base.model.rstrip("/")).name or self.base.model
        return "tiny-base"

    def merged_label(self) -> str:
        return self.merge.label or self.name

    @property
    def train_seed(self) -> int:
        """train.seed where the section sets it, else the recipe's seed."""
        assert self.train is not None
        return self.train.seed if "seed" in self.train.model_fields_set else self.seed

    def train_fields(self) -> dict:
        """The train section as TrainConfig keyword arguments (without base/data/output)."""
        assert self.train is not None
        values = self.train.model_dump(mode="json", exclude=set(TrainSection.pipeline_owned))
        values["seed"] = self.train_seed
        return values

    def resolved(self) -> dict:
        """Every setting with defaults filled in, as saved beside a run's outputs."""
        data = self.model_dump(mode="json")
        if data.get("train") is not None:
            data["train"] = self.train_fields()
        for key in ("data", "eval", "report"):  # what the pipeline fills in is no setting of the recipe
            section = getattr(self, key)
            if section is not None:
                data[key] = {k: v for k, v in data[key].items() if k not in section.pipeline_owned}
        return data


# --------------------------------------------------------------------------------- loading


def validate_config(
    data: Any, source: str = "config", text: str | None = None, overrides: list[str] | None = None
) -> PipelineConfig:
    """Check ``data`` (the file's contents with ``overrides`` applied); errors name ``source`` and
    the line in ``text``, or the ``--set`` override that gave the value."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level, got {type(data).__name__}")
    try:
        return PipelineConfig.model_validate(dict(data))
    except ValidationError as error:
        given = {tuple(parse_override(o)[0]): f"command line (--set {o})" for o in overrides or []}
        raise ConfigError(
            describe_validation_error(
                error, source, model=PipelineConfig, lines=line_index(text) if text else None, origins=given
            )
        ) from None


def find_config(name: str | os.PathLike) -> Path:
    """A config path, or the name of a shipped config (``tiny-cpu``, ``poly-platypus-ko-12.8b``)."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    for directory in (Path.cwd() / "configs", PACKAGE_CONFIGS_DIR):
        for candidate in (directory / f"{name}.yaml", directory / str(name)):
            if candidate.is_file():
                return candidate
    shipped = ", ".join(sorted(p.stem for p in PACKAGE_CONFIGS_DIR.glob("*.yaml"))) or "none"
    raise ConfigError(f"{name}: config file not found (shipped configs: {shipped})")


def parse_override(text: str) -> tuple[list[str], Any]:
    """``key.path=value`` (value read as YAML) from ``--set``."""
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. eval.limit=20")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError as error:
        raise ConfigError(f"--set {text!r}: value is not valid YAML ({error})") from None
    return [part for part in key.strip().split(".")], parsed


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    data = json.loads(json.dumps(data))  # deep copy of plain data
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            if node.get(part) is None:
                node[part] = {}
            if not isinstance(node[part], dict):
                raise ConfigError(f"--set {text!r}: {part} is not a section")
            node = node[part]
        node[path[-1]] = value
    return data


def load_config(path: str | os.PathLike, overrides: list[str] | None = None) -> PipelineConfig:
    """Read and check a recipe file; ``overrides`` are ``key.path=value`` strings (``--set``)."""
    path = find_config(path)
    data, _ = read_yaml(path, expected="sections")
    if overrides:
        data = apply_overrides(data, overrides)
    return validate_config(data, str(path), path.read_text(encoding="utf-8"), overrides)


def check_inputs(config: PipelineConfig, source: str = "config", *, trains: bool = True) -> None:
    """Local inputs the recipe names (data files, a base model folder) must exist: checked before
    the run directory is made, each error naming the recipe file and line (``trains``: whether the
    run goes as far as the train stage, which cannot read conversations without the chat template)."""
    from polyplatypus.data.instructions import source_kind
    from polyplatypus.models.loading import resolve_source

    where = _recipe_locator(source)
    if config.data is not None and config.train is not None:
        for index, entry in enumerate(config.data.sources):
            path = resolve_builtin(entry)
            if source_kind(path) == "file" and not Path(path).expanduser().is_file():
                what = "is a folder, not a data file" if Path(path).expanduser().is_dir() else "does not exist"
                raise ConfigError(f"{where('data', 'sources', index)}: data file {path} {what} (nothing was run)")
    if config.base.model is not None:
        try:
            resolve_source(config.base.model)
        except ConfigError as error:
            raise ConfigError(f"{where('base', 'model')}: {error} (nothing was run)") from None
    if trains:
        refuse_conversations(config, source, local_only=True)


def _recipe_locator(source: str):
    """``where(*key)``: the recipe file, the key's line and path (a key not in the file: its section's)."""
    recipe = Path(source)
    lines = line_index(recipe.read_text(encoding="utf-8")) if recipe.is_file() else {}

    def where(*key) -> str:
        name = ".".join(key[:2]) + (f"[{key[2]}]" if len(key) > 2 else "")
        if key not in lines and key[:1] in lines:  # a key left at its default: its section
            return f"{source}, line {lines[key[:1]]} ({key[0]})"
        line = lines.get(key)
        return f"{source}, line {line} ({name})" if line else f"{source} ({name})"

    return where


def refuse_conversations(
    config: PipelineConfig, source: str = "config", *, local_only: bool = False, outcome: str = "nothing was run"
) -> None:
    """A train stage whose prompt template is not ``chat`` cannot read conversation (``messages``)
    records, which curation keeps: the first one in ``data.sources`` is a :class:`DataError`
    naming that source, record, line and field and the recipe key to change, before any work
    (``local_only``: files only, as the recipe is checked; the data stage checks hub datasets).
    ``data.skip_invalid`` does not drop them: curation counts them valid, and dropping a chat
    data set because the template was left at its default is never what was meant; with
    ``train.skip_invalid`` the train stage skips them (as ``train --skip-invalid`` does), as before."""
    from polyplatypus.data.conversations import MESSAGES, is_conversation
    from polyplatypus.data.instructions import describe_source, iter_raw, source_kind
    from polyplatypus.data.templates import CHAT

    if config.data is None or config.train is None or config.train.prompt_template == CHAT:
        return
    if config.train.skip_invalid:
        return
    where = _recipe_locator(source)
    template = repr(config.train.prompt_template)
    if "prompt_template" not in config.train.model_fields_set:
        template += ", the default"
    for entry in config.data.sources:
        if local_only and source_kind(resolve_builtin(entry)) != "file":
            continue
        for number, line, raw, problem in iter_raw(entry):
            if problem is None and isinstance(raw, dict) and is_conversation(raw):
                raise DataError(
                    f"a conversation record, which the train stage reads only with the chat template, but "
                    f"train.prompt_template is {template} ({where('train', 'prompt_template')}); "
                    f"set train.prompt_template: chat to train on conversations, or leave such records out ({outcome})",
                    path=describe_source(entry),
                    record=number,
                    field=MESSAGES,
                    line=line,
                )


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-serialisable settings."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def train_result_settings(config: PipelineConfig) -> dict:
    """The train settings that change the trained adapter (logging and checkpoint cadence do not)."""
    return {k: v for k, v in config.train_fields().items() if k not in RUN_ONLY_KEYS}
