"""The typed curation settings: ``data curate``'s flags, the recipe's ``data`` section and the
keyword arguments of :func:`polyplatypus.data.curate.curate`, defined once.

The ten decontamination settings are one group, :class:`~polyplatypus.data.decontam.DecontamConfig`,
spelled flat with a ``decontam_`` prefix everywhere a user writes them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StrictBool, StrictInt, create_model, field_validator

from polyplatypus.data import dedup
from polyplatypus.data.decontam import (
    DEFAULT_SPLITS,
    KOBEST_TEXT_FIELDS,
    SPLIT_ALIASES,
    TEXT_FIELDS,
    DecontamConfig,
)
from polyplatypus.data.stats import DEFAULT_TEMPLATE
from polyplatypus.settings import Flag, Number, PathText, Settings, comma_list, prefixed_fields
from polyplatypus.tasks.texts import LM_EVAL_PREFIX

KNOWN_BENCHMARKS = ("kobest",)
OUTPUT_SUFFIXES = (".jsonl", ".json")


def _known_benchmark(name: str) -> bool:
    """``kobest`` (its five tasks), a reference task's name, or ``lm_eval:<task>``."""
    from polyplatypus.tasks.registry import task_names

    return (
        name in KNOWN_BENCHMARKS
        or name in task_names()
        or (name.startswith(LM_EVAL_PREFIX) and len(name) > len(LM_EVAL_PREFIX))
    )


def _benchmarks(value: Any) -> Any:
    """``"kobest"``, ``"none"``, task names (``kohatespeech``, ``lm_eval:arc_easy``), a comma
    list or a list of those, None or False -> a list of benchmark names (``none`` and repeats
    dropped)."""
    if value is None or value is False:
        return []
    value = comma_list(value)
    if not isinstance(value, (list, tuple)):
        return value
    names = []
    for name in value:
        part = str(name).strip() if isinstance(name, str) else name
        if isinstance(part, str) and not part.startswith(LM_EVAL_PREFIX):
            part = part.lower()
        if part in ("", "none"):
            continue
        if not isinstance(part, str) or not _known_benchmark(part):
            from polyplatypus.tasks.registry import task_names

            raise ValueError(
                f"unknown benchmark {part!r} to decontaminate against; known: kobest (its five "
                f"tasks), none, a task ({', '.join(task_names())}) or lm_eval:<task>"
            )
        if part not in names:
            names.append(part)
    return names


Csv = BeforeValidator(comma_list)


class _SourcesAndDedup(Settings):
    sources: Annotated[list[PathText], Csv, Flag(name="--data", repeat=True, metavar="SOURCE")] = Field(
        min_length=1,
        description="hub dataset id (train split) or .json/.jsonl/.parquet file; repeat for several, "
        "earlier sources win ties",
    )
    output: Annotated[PathText, Flag(metavar="PATH")] = Field(description="curated .jsonl (or .json)")
    dedup_threshold: Annotated[
        Number | None,
        Flag(
            metavar="J",
            off="--no-near-dedup",
            off_help="keep near-duplicates (exact duplicates are still removed)",
        ),
    ] = Field(
        dedup.DEFAULT_THRESHOLD,
        gt=0,
        le=1,
        description="remove a record whose character n-gram Jaccard with an earlier kept record is >= J "
        "(none: keep near-duplicates)",
    )
    dedup_ngram: Annotated[StrictInt, Flag(metavar="N")] = Field(
        dedup.DEFAULT_NGRAM, ge=1, description="character n-gram size for near-duplicates"
    )
    num_perm: Annotated[StrictInt, Flag(metavar="K")] = Field(
        dedup.DEFAULT_NUM_PERM, ge=1, description="MinHash permutations"
    )
    dedup_fields: Annotated[list[TEXT_FIELDS], Csv, Flag(metavar="FIELDS")] = Field(  # type: ignore[valid-type]
        ["instruction", "input"], min_length=1, description="fields compared for duplicates"
    )
    decontaminate: Annotated[list[str], BeforeValidator(_benchmarks), Flag(metavar="NAMES")] = Field(
        [],
        description="remove records containing benchmark documents: kobest (its five tasks' test and "
        "validation splits), task names (their evaluation and few-shot documents: kohatespeech, kobest_copa, "
        "lm_eval:<task>), or none",
    )
    kobest_dir: Annotated[PathText | None, Flag(metavar="DIR")] = Field(
        None, description="KoBEST v1.0 TSVs (default $POLYPLATYPUS_KOBEST_DIR, else the hub)"
    )
    hatespeech_dir: Annotated[PathText | None, Flag(metavar="DIR")] = Field(
        None,
        description="Korean HateSpeech labeled TSVs, for --decontaminate kohatespeech* "
        "(default $POLYPLATYPUS_HATESPEECH_DIR)",
    )
    kobest_splits: Annotated[list[str], Csv, Flag(metavar="SPLITS")] = Field(
        list(DEFAULT_SPLITS),
        min_length=1,
        description="splits to decontaminate against (default test,validation; dev = validation)",
    )
    kobest_tasks: Annotated[list[str] | None, Csv, Flag(metavar="TASKS")] = Field(
        None, description=f"tasks (default all: {','.join(KOBEST_TEXT_FIELDS)})"
    )

    @field_validator("output")
    @classmethod
    def _output_suffix(cls, value):
        if not value.lower().endswith(OUTPUT_SUFFIXES):
            raise ValueError(f"output {value} must end in .jsonl or .json")
        return value

    @field_validator("kobest_splits")
    @classmethod
    def _splits(cls, value):
        for split in value:
            if split not in SPLIT_ALIASES:
                raise ValueError(f"unknown KoBEST split {split!r}; use test, validation (dev) or train")
        return value

    @field_validator("kobest_tasks")
    @classmethod
    def _tasks(cls, value):
        for task in value or ():
            if task not in KOBEST_TEXT_FIELDS:
                raise ValueError(f"unknown KoBEST task {task!r}; known: {', '.join(KOBEST_TEXT_FIELDS)}")
        return value or None


# the decontamination group, flat, between the KoBEST selection and the rest
_WithDecontam = create_model("_WithDecontam", __base__=_SourcesAndDedup, **prefixed_fields(DecontamConfig, "decontam_"))


class CurateConfig(_WithDecontam):  # type: ignore[valid-type, misc]
    """Everything ``data curate`` needs: sources, output, exact and near-duplicate removal and
    benchmark decontamination (its ``decontam_*`` settings: :class:`DecontamConfig`)."""

    skip_invalid: StrictBool = Field(
        False, description="skip invalid records (counted by reason) instead of stopping at the first"
    )
    tokenizer: Annotated[Any, Flag(metavar="NAME")] = Field(
        None,
        description="add token-length statistics of the training examples with this tokenizer (hub id or "
        "path; a loaded tokenizer in the Python API)",
    )
    prompt_template: Annotated[str, Flag(metavar="NAME")] = Field(
        DEFAULT_TEMPLATE,
        description="prompt template the token lengths are measured with, as training builds the "
        "examples (alpaca, korean or a .json file; chat: the tokenizer's chat template, conversations too)",
    )
    origin_field: Annotated[str | None, Flag(metavar="NAME")] = Field(
        "origin", description="field naming the source each record came from (none: not added)"
    )
    report_path: Annotated[PathText | None, Flag(name="--report", metavar="PATH")] = Field(
        None, description="report path (default <output>.report.json)"
    )
    seed: StrictInt = Field(dedup.DEFAULT_SEED, description="MinHash seed")

    @field_validator("tokenizer")
    @classmethod
    def _tokenizer(cls, value):
        if isinstance(value, (bool, int, float, list, dict)):
            raise ValueError("expected a tokenizer name or path")
        return value

    @property
    def data_dirs(self) -> dict[str, str | None]:
        """The folder given for each data source a task file may name (None: its default)."""
        from polyplatypus.data.task_data import source_dirs

        return source_dirs(self)

    @property
    def decontam(self) -> DecontamConfig:
        """The ``decontam_*`` settings as their group."""
        return DecontamConfig(**{name: getattr(self, "decontam_" + name) for name in DecontamConfig.model_fields})
