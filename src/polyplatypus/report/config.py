"""The typed settings of ``polyplatypus report``: its positional results folders and its flags,
defined once (the machinery is :mod:`polyplatypus.settings`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, StrictInt

from polyplatypus.report.bootstrap import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES
from polyplatypus.settings import Flag, Number, PathText, Settings, comma_list

FORMATS = ("md", "html", "png")


class ReportConfig(Settings):
    """Everything ``report`` needs: the results to read and how the card is written."""

    results: Annotated[list[PathText], Flag(positional=True, metavar="RESULTS")] = Field(
        min_length=1, description="results folders (with results.json), run directories, or folders of them")
    baseline: str | None = Field(None, description="model to compare against: a label or a model path / hub id")
    output: Annotated[PathText | None, Flag(metavar="DIR")] = Field(
        None, description="report folder (default: <first results folder>/report)")
    title: str = Field("KoBEST results", description="card title")
    intro: Annotated[str, Flag(metavar="TEXT")] = Field("", description="a paragraph placed under the title")
    formats: Annotated[list[Literal[FORMATS]], BeforeValidator(comma_list), Flag(name="--format")] = Field(  # type: ignore[valid-type]
        list(FORMATS), min_length=1, description="comma-separated formats: md, html, png")
    resamples: StrictInt = Field(DEFAULT_RESAMPLES, ge=1, description="bootstrap resamples")
    confidence: Number = Field(DEFAULT_CONFIDENCE, gt=0, lt=1, description="confidence level of the intervals")
    seed: StrictInt = Field(0, description="bootstrap seed")

    @property
    def output_folder(self) -> Path:
        """``output``, or ``report/`` beside the first results (inside it, for a folder)."""
        if self.output is not None:
            return Path(self.output)
        first = Path(self.results[0])
        return (first.parent if first.is_file() else first) / "report"
