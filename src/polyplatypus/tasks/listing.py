"""What ``polyplatypus tasks`` lists, quickly: lm-eval's task index takes half a minute to build
(it reads every task file of lm-eval's ~15,000), so its listing is kept on disk, keyed by the
lm-eval version and install, and by the ``--include-path`` folders with each YAML file's size and
modification time. A cache that cannot be read or written only costs the rebuild."""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict
from pathlib import Path

from polyplatypus.errors import OutputError
from polyplatypus.utils.cache import cache_dir
from polyplatypus.utils.io import atomic_write_json

CACHE_FORMAT = 1  # bumped when the cached rows change shape


def _listing_key(include_path) -> str:
    from polyplatypus.tasks.lm_eval_tasks import _paths_key, _yaml_files, require_lm_eval

    lm_eval = require_lm_eval()
    folders = []
    for folder in map(Path, _paths_key(include_path)):
        stats = [(f.relative_to(folder).as_posix(), f.stat()) for f in _yaml_files(folder)]
        folders.append([str(folder), [[name, st.st_size, st.st_mtime_ns] for name, st in stats]])
    text = json.dumps([CACHE_FORMAT, getattr(lm_eval, "__version__", ""), str(Path(lm_eval.__file__).parent), folders])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def cached_lm_eval_listing(include_path=None, *, say=None) -> list:
    """:func:`polyplatypus.tasks.lm_eval_tasks.lm_eval_listing`, from the cache when its key
    matches; ``say`` (default: stderr) is told when the index is built."""
    from polyplatypus.tasks.lm_eval_tasks import TaskListing, check_include_path, lm_eval_listing

    check_include_path(include_path or [])  # a bad folder is an error before any cache is read
    path = cache_dir() / "lm_eval_tasks" / f"{_listing_key(include_path)}.json"
    try:
        return [TaskListing(**row) for row in json.loads(path.read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError):
        pass
    (say or (lambda text: print(text, file=sys.stderr, flush=True)))(
        f"building lm-eval's task index (once per lm-eval install and --include-path contents; "
        f"about 30 s); then kept in {path.parent}"
    )
    rows = lm_eval_listing(include_path)
    try:
        atomic_write_json(path, [asdict(row) for row in rows])
    except (OSError, OutputError):  # a read-only home: the next listing rebuilds it
        pass
    return rows
