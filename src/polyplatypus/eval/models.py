"""The models an evaluation compares: each one's row label and where to load it from
(loading itself is :mod:`polyplatypus.models.loading`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelSpec:
    """A model to evaluate: the row label in tables and where to load it from."""

    label: str
    path: str

    @classmethod
    def parse(cls, text: str) -> "ModelSpec":
        """``path`` or ``label=path``; the default label is a local folder's name or the hub id."""
        text = str(text)
        label, sep, path = text.partition("=")
        if sep and label and path and not os.path.exists(text):
            return cls(label=label.strip(), path=path.strip())
        path = text
        local = Path(path).expanduser()
        default_label = local.resolve().name if local.exists() else path
        return cls(label=default_label, path=path)

    @property
    def slug(self) -> str:
        """The label made safe as a single folder name (``org/name`` -> ``org__name``)."""
        from polyplatypus.utils.io import safe_part

        return safe_part(self.label.replace("/", "__"), empty="model")
