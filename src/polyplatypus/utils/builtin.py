"""``builtin:NAME``: data shipped inside the package (``src/polyplatypus/assets``), accepted
wherever a data path is — recipes, ``data curate --data``, ``train --data``, ``--kobest-dir``."""

from __future__ import annotations

from pathlib import Path

from polyplatypus.errors import ConfigError

BUILTIN_PREFIX = "builtin:"
ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"


def resolve_builtin(value: str | None) -> str | None:
    """``builtin:NAME`` -> the path of NAME under the package's assets; anything else unchanged."""
    if value is None or not str(value).startswith(BUILTIN_PREFIX):
        return value
    name = str(value)[len(BUILTIN_PREFIX) :].strip("/")
    path = ASSETS_DIR / name
    if not name or not path.exists():
        known = sorted(p.name for p in ASSETS_DIR.iterdir()) if ASSETS_DIR.is_dir() else []
        raise ConfigError(f"{value}: no such built-in data (known: {', '.join(known)})")
    return str(path)
