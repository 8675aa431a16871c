"""The format of a reference task file (``tasks/definitions/<name>.yaml``), as pydantic models.

Every key is required unless it has a default here, and an unknown key is an error, so a typo
never silently changes a task. docs/tasks.md ("Reference task files") describes each field.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator

#: Where a data source's folder comes from (the data layer resolves it: a flag, an environment
#: variable, else the hub where the source has one).
DATA_SOURCES = ("kobest", "korean_hate_speech")
#: How a split file is read (the data layer implements each).
READERS = ("tsv_by_header", "tsv_by_position")
#: How a column's text becomes a document value.
COLUMN_TYPES = ("text", "int", "bool", "choice", "class")
METRICS = ("macro_f1", "acc", "acc_norm")
#: The few-shot draw of the reference harness (lm-evaluation-harness v0.3 ``evaluate``): the
#: evaluation documents are shuffled with ``random.Random(42)``, then the same generator draws each
#: document's shots with ``sample(fewshot_docs, k)``.
FEWSHOT_DRAWS = ("v0.3_seed42_sample",)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Strict):
    """One document field: the file column it comes from and how its text is read.

    ``text`` as is; ``int`` a number; ``bool`` True/TRUE/False/FALSE -> 1/0; ``choice`` a 1-based
    answer number (COPA's 1/2) -> 0-based; ``class`` one of ``names`` exactly -> its index."""

    column: StrictStr | StrictInt = Field(
        description="header name (tsv_by_header) or 0-based position (tsv_by_position)"
    )
    type: Literal[COLUMN_TYPES]  # type: ignore[valid-type]
    names: list[StrictStr] | None = None

    @model_validator(mode="after")
    def _names_only_for_class(self):
        if (self.type == "class") != (self.names is not None):
            raise ValueError("names are given exactly when type is class")
        return self


class HubSpec(_Strict):
    dataset: StrictStr
    name: StrictStr


class DataSpec(_Strict):
    """Where a task's documents come from and how each split file maps onto document fields."""

    source: Literal[DATA_SOURCES]  # type: ignore[valid-type]
    reader: Literal[READERS]  # type: ignore[valid-type]
    folder: StrictStr = Field(description="sub-folder of the source's folder ('.' for the folder itself)")
    hub: HubSpec | None = None
    splits: dict[StrictStr, StrictStr] = Field(min_length=1, description="split name -> file name")
    columns: dict[StrictStr, ColumnSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _columns_match_reader(self):
        by_position = self.reader == "tsv_by_position"
        for field, spec in self.columns.items():
            if by_position != isinstance(spec.column, int):
                raise ValueError(
                    f"column of {field!r} must be "
                    + ("a 0-based position" if by_position else "a header name")
                    + f" for reader {self.reader}"
                )
        return self


class FewshotSpec(_Strict):
    split: StrictStr
    draw: Literal[FEWSHOT_DRAWS]  # type: ignore[valid-type]


class DecontaminationSpec(_Strict):
    fields: list[StrictStr] = Field(min_length=1, description="content fields compared with training text")
    standalone: list[StrictStr] = Field(default_factory=list, description="fields also checked on their own")


class TaskFile(_Strict):
    """A task file's contents."""

    name: StrictStr = Field(pattern=r"^[a-z0-9_]+$")
    title: StrictStr
    version: StrictInt = Field(ge=0)
    default: bool = Field(description="part of eval's default task list")
    order: StrictInt = Field(description="place in the default list and in report tables (ascending)")
    data: DataSpec
    eval_split: StrictStr
    fewshot: FewshotSpec
    prompt: StrictStr
    hook: StrictStr | None = None
    choices: list[StrictStr] = Field(min_length=2)
    label: StrictStr
    target_prefix: StrictStr
    continuation_prefix: StrictStr
    strip_context: bool = False
    metrics: list[Literal[METRICS]] = Field(min_length=1)  # type: ignore[valid-type]
    decontamination: DecontaminationSpec
