"""The models an evaluation compares: each one's row label and where to load it from
(loading itself is :mod:`polyplatypus.models.loading`).

A model is a folder or hub id; or a LoRA adapter scored on its base without merging: an adapter
folder alone (its recorded base, ``adapter_config.json``'s ``base_model_name_or_path``), or
``BASE::ADAPTER`` for another base (``::`` and not ``+``, which paths and hub ids may hold).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from polyplatypus.errors import ConfigError

ADAPTER_SEPARATOR = "::"


@dataclass(frozen=True)
class ModelSpec:
    """A model to evaluate: the row label in tables, where to load it from and, for an adapter
    scored without merging, the adapter folder (``path`` is then its base)."""

    label: str
    path: str
    adapter: str | None = None

    @classmethod
    def parse(cls, text: str) -> "ModelSpec":
        """``[label=]path``, ``[label=]adapter_dir`` or ``[label=]base::adapter_dir``; the default
        label is a local folder's name (the adapter's, for an adapter) or the hub id."""
        text = str(text)
        label, sep, path = text.partition("=")
        if not (sep and label and path and not os.path.exists(text)):
            label, path = "", text
        path = path.strip()
        base, adapter = _base_and_adapter(path)
        named = Path(adapter or base).expanduser()
        default_label = named.resolve().name if named.exists() else (adapter or base)
        return cls(label=label.strip() or default_label, path=base, adapter=adapter)

    @property
    def text(self) -> str:
        """The ``label=...`` form that :meth:`parse` reads back as this spec."""
        where = f"{self.path}{ADAPTER_SEPARATOR}{self.adapter}" if self.adapter else self.path
        return f"{self.label}={where}"

    @property
    def slug(self) -> str:
        """The label made safe as a single folder name (``org/name`` -> ``org__name``)."""
        from polyplatypus.utils.io import safe_part

        return safe_part(self.label.replace("/", "__"), empty="model")

    def fingerprint(self) -> str | None:
        """What the model is (:func:`~polyplatypus.models.fingerprint.model_fingerprint`); for an
        adapter, the base's and the adapter folder's together (None when the base's is unknown)."""
        from polyplatypus.models.fingerprint import folder_fingerprint, model_fingerprint

        base = model_fingerprint(self.path)
        if self.adapter is None or base is None:
            return base
        return f"{base} adapter {folder_fingerprint(Path(self.adapter).expanduser())}"


def _base_and_adapter(path: str) -> tuple[str, str | None]:
    """(base, adapter folder or None) of a model path."""
    from polyplatypus.models.adapters import adapter_base, adapter_config, is_adapter_folder

    if ADAPTER_SEPARATOR in path and not os.path.exists(path):
        base, _, adapter = path.partition(ADAPTER_SEPARATOR)
        if not base or not adapter:
            raise ConfigError(f"{path!r}: give a base and an adapter folder as BASE{ADAPTER_SEPARATOR}ADAPTER")
        if not Path(adapter).expanduser().is_dir():
            raise ConfigError(f"adapter folder does not exist: {adapter}")
        adapter_config(adapter)  # LoRA only
        return base, adapter
    if is_adapter_folder(path):
        return adapter_base(path), path
    return path, None
