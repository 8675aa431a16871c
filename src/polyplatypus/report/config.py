"""The typed settings of ``polyplatypus report``: its positional results folders and its flags,
defined once (the machinery is :mod:`polyplatypus.settings`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, StrictInt, model_validator

from polyplatypus.report.bootstrap import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES
from polyplatypus.settings import Flag, Number, PathText, Settings, comma_list

FORMATS = ("md", "html", "png")


class ReportConfig(Settings):
    """Everything ``report`` needs: the results to read and how the card is written."""

    results: Annotated[list[PathText], Flag(positional=True, metavar="RESULTS")] = Field(
        default_factory=list, description="results folders (with results.json), run directories, or folders of them"
    )
    baseline: str | None = Field(None, description="model to compare against: a label or a model path / hub id")
    output: Annotated[PathText | None, Flag(metavar="DIR")] = Field(
        None, description="report folder (default: <first results folder>/report)"
    )
    title: str = Field("KoBEST results", description="card title")
    intro: Annotated[str, Flag(metavar="TEXT")] = Field("", description="a paragraph placed under the title")
    formats: Annotated[list[Literal[FORMATS]], BeforeValidator(comma_list), Flag(name="--format")] = Field(  # type: ignore[valid-type]
        list(FORMATS), min_length=1, description="comma-separated formats: md, html, png"
    )
    resamples: StrictInt = Field(DEFAULT_RESAMPLES, ge=1, description="bootstrap resamples")
    confidence: Number = Field(DEFAULT_CONFIDENCE, gt=0, lt=1, description="confidence level of the intervals")
    seed: StrictInt = Field(0, description="bootstrap seed")
    # published baselines and the Hub files (docs/report.md)
    published: Annotated[list[PathText], Flag(repeat=True, metavar="[LABEL=]PATH")] = Field(
        default_factory=list,
        description="published results (reference-harness v0.3 or lm-eval 0.4 results_*.json "
        "files, or folders of them) as baseline rows, repeatable; LABEL names the row (default: pretrained= in the file)",
    )
    card_model: Annotated[str | None, Flag(metavar="LABEL")] = Field(
        None,
        description="the model the card is about: also write README.md (Hub metadata + card) and "
        ".eval_results/*.yaml with its results",
    )
    base_model: Annotated[str | None, Flag(metavar="HUB_ID")] = Field(
        None, description="base_model in README.md (default: from the run's records)"
    )
    datasets: Annotated[list[str], BeforeValidator(comma_list), Flag(metavar="HUB_IDS")] = Field(
        default_factory=list,
        description="comma-separated training datasets for README.md (default: from the run's records)",
    )
    license: str | None = Field(None, description="license id for README.md (e.g. apache-2.0)")
    library_name: str = Field("transformers", description="library_name for README.md")
    tags: Annotated[list[str], BeforeValidator(comma_list)] = Field(
        default_factory=list, description="comma-separated tags added to README.md's"
    )
    model_dir: Annotated[PathText | None, Flag(metavar="DIR")] = Field(
        None, description="also copy README.md and .eval_results/ into this model folder, ready for hf upload"
    )

    @model_validator(mode="after")
    def _inputs(self):
        if not self.results and not self.published:
            raise ValueError("give results folders, --published files, or both")
        if not self.results and self.output is None:
            raise ValueError("with --published files only, give --output")
        if self.model_dir is not None and self.card_model is None:
            raise ValueError("--model-dir needs --card-model (the model whose results go into the model folder)")
        return self

    def hub(self):
        """The Hub-file settings of ``card_model`` and its companion fields (None without it)."""
        if self.card_model is None:
            return None
        from polyplatypus.report.hub import HubSettings

        return HubSettings(
            card_model=self.card_model,
            base_model=self.base_model,
            datasets=list(self.datasets),
            license=self.license,
            library_name=self.library_name,
            tags=list(self.tags),
            model_dir=self.model_dir,
        )

    @property
    def output_folder(self) -> Path:
        """``output``, or ``report/`` beside the first results (inside it, for a folder)."""
        if self.output is not None:
            return Path(self.output)
        first = Path(self.results[0])
        return (first.parent if first.is_file() else first) / "report"
