"""The recipe file: one YAML describing data, base model, training, merging, evaluation and report.

Every section is a typed model that forbids unknown keys, so a typo or a wrong type is an error
naming the file, the key path (``train.learning_rate``) and, where known, its line, never a run
that silently used a default. ``builtin:NAME`` refers to data shipped inside the package
(``builtin:corpus``, ``builtin:kobest_sample``, ``builtin:instructions/ko_platypus_sample.jsonl``)
so that shipped configs work from an installed package.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import (
    BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError, create_model, field_validator,
    model_validator,
)

import polyplatypus.data.dedup as dedup_defaults
from polyplatypus.errors import ConfigError
from polyplatypus.train.config import RUN_ONLY_KEYS, Number, TrainConfig

BUILTIN_PREFIX = "builtin:"
ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"
PACKAGE_CONFIGS_DIR = Path(__file__).resolve().parents[1] / "configs"
KOBEST_TASKS = ("kobest_copa", "kobest_hellaswag", "kobest_boolq", "kobest_sentineg", "kobest_wic")
DTYPES = ("auto", "float32", "float16", "bfloat16")
# Symbolic model names in eval.models / report.baseline.
BASE, MERGED = "base", "merged"


def resolve_builtin(value: str | None) -> str | None:
    """``builtin:NAME`` -> the path of NAME under the package's assets; anything else unchanged."""
    if value is None or not str(value).startswith(BUILTIN_PREFIX):
        return value
    name = str(value)[len(BUILTIN_PREFIX):].strip("/")
    path = ASSETS_DIR / name
    if not name or not path.exists():
        known = sorted(p.name for p in ASSETS_DIR.iterdir()) if ASSETS_DIR.is_dir() else []
        raise ConfigError(f"{value}: no such built-in data (known: {', '.join(known)})")
    return str(path)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataSection(Section):
    """Instruction data and its curation (see ``polyplatypus curate``)."""

    sources: list[str] = Field(min_length=1, description="hub dataset ids or .json/.jsonl/.parquet files; earlier sources win")
    dedup_threshold: Number | None = Field(0.8, gt=0, le=1, description="near-duplicate Jaccard threshold; null turns near-dedup off")
    dedup_ngram: StrictInt = Field(dedup_defaults.DEFAULT_NGRAM, ge=1, description="character n-gram size for near-duplicates")
    decontaminate: list[Literal["kobest"]] = Field(["kobest"], description="benchmarks whose documents are removed from the data")
    decontam_threshold: Number = Field(0.5, gt=0, le=1, description="share of a document's n-grams that marks a record contaminated")
    kobest_dir: str | None = Field(None, description="KoBEST for decontamination; default: eval.kobest_dir")
    skip_invalid: StrictBool = Field(False, description="drop malformed records instead of stopping")


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
    max_positions: StrictInt = Field(1024, ge=16, description="longest context; longer prompts are truncated from the left")
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


# The train section: TrainConfig's fields (the Platypus defaults) without the ones the pipeline
# fills in from other sections and the run directory.
PIPELINE_TRAIN_KEYS = ("base", "data", "output", "resume")
_SET_BY_PIPELINE = {
    "base": "base.model or base.tiny", "data": "data.sources", "output": "the run directory",
    "resume": "re-running the same command, which resumes",
}


def _set_by_pipeline(value, info):
    raise ValueError(f"set by the pipeline (from {_SET_BY_PIPELINE[info.field_name]}); remove it from train")


TrainSection = create_model(
    "TrainSection",
    __base__=TrainConfig,
    __validators__={"_set_by_pipeline": field_validator(*PIPELINE_TRAIN_KEYS, mode="before")(_set_by_pipeline)},
    **{name: (Any, None) for name in PIPELINE_TRAIN_KEYS},
)
TrainSection.__doc__ = ("LoRA fine-tuning: the fields of polyplatypus.train.TrainConfig (Platypus defaults) "
                        "except those the pipeline fills in.")


class MergeSection(Section):
    enabled: StrictBool = Field(True, description="merge the adapter into the base model (needed to evaluate the tuned model)")
    dtype: Literal[DTYPES] = Field("auto", description="dtype of the merged weights; auto keeps the base's")  # type: ignore[valid-type]
    max_shard_size: str = Field("5GB", description="largest safetensors shard")
    label: str | None = Field(None, description="row name of the merged model in reports (default: the config name)")


class EvalSection(Section):
    enabled: StrictBool = True
    models: list[str] | None = Field(
        None, min_length=1,
        description="models to compare: 'base', 'merged', or any path / hub id, optionally LABEL=PATH "
        "(default: base, plus merged when the recipe trains and merges)",
    )
    tasks: list[Literal[KOBEST_TASKS]] = Field(list(KOBEST_TASKS), min_length=1)  # type: ignore[valid-type]
    shots: list[StrictInt] = Field([0, 5, 10, 50], min_length=1)
    limit: StrictInt | None = Field(None, ge=1, description="score only the first N documents per task (smoke runs)")
    kobest_dir: str | None = Field(None, description="KoBEST TSV folder or builtin:kobest_sample; null: $POLYPLATYPUS_KOBEST_DIR, else the hub")
    dtype: Literal[DTYPES] = Field("auto", description="float16 reproduces the model card's GPU runs")  # type: ignore[valid-type]
    batch_size: int | str = Field(1, description="documents per forward pass, or auto")
    device: str = Field("auto", description="cpu, cuda, cuda:N or auto")
    device_map: str | None = Field(None, description="'auto' spreads a large model over several GPUs")
    scorer: Literal["shared", "reference"] = Field("shared", description="shared: each context encoded once (same numbers, faster)")

    @field_validator("shots")
    @classmethod
    def _shots(cls, value):
        if any(k < 0 for k in value):
            raise ValueError("shot counts must be >= 0")
        if len(set(value)) != len(value):
            raise ValueError("shot counts repeat")
        return value

    @field_validator("batch_size", mode="before")
    @classmethod
    def _batch(cls, value):
        if value == "auto":
            return value
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError("expected a positive integer or 'auto'")
        return value


class ReportSection(Section):
    enabled: StrictBool = True
    baseline: str | None = Field(BASE, description="model the others are compared against: base, merged, a label or a path")
    title: str | None = Field(None, description="card title (default: from the config name)")
    formats: list[Literal["md", "html", "png"]] = Field(["md", "html", "png"])
    resamples: StrictInt = Field(1000, ge=10, description="bootstrap resamples")
    confidence: Number = Field(0.95, gt=0, lt=1, description="confidence level of the intervals")


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

    def train_fields(self) -> dict:
        """The train section as TrainConfig keyword arguments (without base/data/output)."""
        assert self.train is not None
        values = self.train.model_dump(mode="json", exclude=set(PIPELINE_TRAIN_KEYS))
        if "seed" not in self.train.model_fields_set:
            values["seed"] = self.seed
        return values

    def resolved(self) -> dict:
        """Every setting with defaults filled in, as saved beside a run's outputs."""
        data = self.model_dump(mode="json")
        if data.get("train") is not None:
            data["train"] = self.train_fields()
        return data


# --------------------------------------------------------------------------------- loading


def _line_index(text: str) -> dict[tuple, int]:
    """1-based line of every mapping key in a YAML text, by key path."""
    import yaml

    lines: dict[tuple, int] = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines

    def walk(node, path):
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = path + (str(key.value),)
                lines[sub] = key.start_mark.line + 1
                walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines.setdefault(path + (index,), item.start_mark.line + 1)
                walk(item, path + (index,))

    walk(root, ())
    return lines


def _model_for(path: tuple) -> type[BaseModel] | None:
    """The section model at a key path (for 'did you mean' hints)."""
    model: Any = PipelineConfig
    for part in path:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return None
    return model


def describe_validation_error(error: ValidationError, source: str, lines: Mapping[tuple, int] | None = None,
                              overrides: Mapping[tuple, str] | None = None) -> str:
    """One line per problem, naming where the value came from: ``FILE, line N``, or
    ``command line (--set KEY=VALUE)`` for a key set (or under a key set) by ``overrides``
    (key path -> the ``--set`` text)."""
    lines = lines or {}
    overrides = overrides or {}
    messages = []
    for item in error.errors():
        # pydantic adds union-member names ("int", "literal['auto']") to locations; drop them
        loc = tuple(p for p in item["loc"] if not _is_union_tag(p))
        key = ".".join(str(p) for p in loc)
        # the longest --set path that holds this key: the value came from the command line
        given = next((overrides[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in overrides), None)
        if given is not None:
            where = f"command line (--set {given})"
        else:
            line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), None)
            where = f"{source}, line {line}" if line else source
            below = [text for path, text in overrides.items() if path[:len(loc)] == loc]
            if below:  # a check of a section that a --set changed: either may be the cause
                where += f" (with --set {' '.join(below)})"
        if item["type"] == "extra_forbidden":
            model = _model_for(loc[:-1])
            hint = ""
            if model is not None:
                known = [k for k in model.model_fields if not (model is TrainSection and k in PIPELINE_TRAIN_KEYS)]
                close = difflib.get_close_matches(str(loc[-1]), known, n=1)
                hint = f" (did you mean {'.'.join([*map(str, loc[:-1]), close[0]])!r}?)" if close else ""
                hint += f"; known keys here: {', '.join(known)}"
            messages.append(f"{where}: unknown key {key!r}{hint}")
        elif item["type"] == "missing":
            messages.append(f"{where}: missing required key {key!r}")
        else:
            got = item.get("input")
            shown = "" if isinstance(got, Mapping) else f" (got {got!r})"
            message = item["msg"].removeprefix("Value error, ")
            messages.append(f"{where}: {key}: {message}{shown}" if key else f"{where}: {message}")
    unique = list(dict.fromkeys(messages))
    return "invalid config:\n  " + "\n  ".join(unique) if len(unique) > 1 else unique[0]


def _is_union_tag(part) -> bool:
    if not isinstance(part, str):
        return False
    return part in ("int", "str", "float", "bool", "none", "list[str]", "list[int]") or part.startswith(
        ("literal[", "function-", "TinySection", "TrainSection", "DataSection", "nullable[")
    )


def validate_config(data: Any, source: str = "config", text: str | None = None,
                    overrides: list[str] | None = None) -> PipelineConfig:
    """Check ``data`` (the file's contents with ``overrides`` applied); errors name ``source`` and
    the line in ``text``, or the ``--set`` override that gave the value."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level, got {type(data).__name__}")
    try:
        return PipelineConfig.model_validate(dict(data))
    except ValidationError as error:
        given = {tuple(parse_override(o)[0]): o for o in overrides or []}
        raise ConfigError(describe_validation_error(
            error, source, _line_index(text) if text else None, given)) from None


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
    import yaml

    path = find_config(path)
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level, got {type(data).__name__}")
    if overrides:
        data = apply_overrides(data, overrides)
    return validate_config(data, str(path), text, overrides)


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-serialisable settings."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def train_result_settings(config: PipelineConfig) -> dict:
    """The train settings that change the trained adapter (logging and checkpoint cadence do not)."""
    return {k: v for k, v in config.train_fields().items() if k not in RUN_ONLY_KEYS}
