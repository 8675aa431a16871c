"""Where polyplatypus keeps what it may rebuild at any time (file hashes, lm-eval's task listing)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "POLYPLATYPUS_CACHE_DIR"  # overrides where the caches live


def cache_dir() -> Path:
    """``$POLYPLATYPUS_CACHE_DIR``, else ``$XDG_CACHE_HOME/polyplatypus``, else
    ``~/.cache/polyplatypus``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "polyplatypus"
