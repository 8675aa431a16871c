"""Offline found out at once: before a command reaches for the Hugging Face hub, one short
connection attempt (cached per process) says whether the hub can be reached. When it cannot, or
``HF_HUB_OFFLINE`` is set, every hub id the command needs that is not in the local cache is
reported together, each with the local flag or variable that replaces it — instead of
``datasets`` and ``transformers`` retrying each one for half a minute. When everything is cached,
the libraries are put in offline mode so they read the cache without trying the network first."""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from polyplatypus.errors import ConfigError

REACH_TIMEOUT = 3.0  # seconds for the one connection attempt; the libraries' retries take 20-90 s
_TRUE = ("1", "ON", "YES", "TRUE")
_reachable: dict[str, bool] = {}  # per process: endpoint -> answer


@dataclass(frozen=True)
class HubNeed:
    """A hub id a command is about to load, and what replaces it offline."""

    repo_id: str
    repo_type: str  # "model" or "dataset"
    what: str  # "model", "KoBEST data", "lm_eval:kmmlu's dataset"
    instead: str  # "--kobest-dir DIR or $POLYPLATYPUS_KOBEST_DIR"


def offline_flag() -> str | None:
    """The environment variable that puts the libraries offline, if one is set."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        if (os.environ.get(name) or "").upper() in _TRUE:
            return name
    return None


def _endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def hub_reachable(timeout: float = REACH_TIMEOUT) -> bool:
    """Whether the hub answers one HTTP request within ``timeout`` seconds (name lookup, proxy
    and TLS included: a network that accepts any connection but is no hub does not count);
    asked once per process and endpoint."""
    endpoint = _endpoint()
    if endpoint not in _reachable:
        answer: list[bool] = []

        def ask():
            import urllib.error
            import urllib.request

            try:
                urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=timeout).close()
                answer.append(True)
            except urllib.error.HTTPError:  # the hub answered, with an error status
                answer.append(True)
            except (OSError, ValueError):  # no name, no route, refused, timed out, not TLS
                answer.append(False)

        thread = threading.Thread(target=ask, daemon=True)  # a name lookup ignores the timeout
        thread.start()
        thread.join(timeout + 0.5)
        _reachable[endpoint] = bool(answer and answer[0])
    return _reachable[endpoint]


def _hub_cache() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _datasets_cache() -> Path:
    """datasets' own cache of prepared datasets (as ``datasets.config`` finds it, without importing it)."""
    if os.environ.get("HF_DATASETS_CACHE"):
        return Path(os.environ["HF_DATASETS_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface"
    return Path(home).expanduser() / "datasets"


def is_cached(repo_id: str, repo_type: str = "model") -> bool:
    """Whether the local cache holds a copy of ``repo_id`` that the libraries can load offline."""
    snapshots = _hub_cache() / f"{repo_type}s--{repo_id.replace('/', '--')}" / "snapshots"
    if snapshots.is_dir() and any(path.is_dir() and any(path.iterdir()) for path in snapshots.iterdir()):
        return True
    if repo_type == "dataset":
        prepared = _datasets_cache() / repo_id.replace("/", "___")
        return prepared.is_dir() and any(prepared.iterdir())
    return False


def _go_offline() -> None:
    """Offline mode for this process: the hub libraries read their caches without network tries."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    if "huggingface_hub.constants" in sys.modules:
        sys.modules["huggingface_hub.constants"].HF_HUB_OFFLINE = True
    if "datasets.config" in sys.modules:
        config = sys.modules["datasets.config"]
        config.HF_HUB_OFFLINE = config.HF_DATASETS_OFFLINE = True


def check_hub_needs(needs, *, command: str, say=None) -> None:
    """Before any of ``needs`` is loaded: nothing when the hub answers; when it does not (or an
    offline flag is set), a :class:`ConfigError` listing every one not in the local cache with
    what replaces it, else offline mode (``say``, default stderr, is told)."""
    unique: dict[tuple[str, str], HubNeed] = {}
    for need in needs:  # one line per id: the first stage or task that needs it names it
        unique.setdefault((need.repo_id, need.repo_type), need)
    needs = list(unique.values())
    if not needs:
        return
    flag = offline_flag()
    if flag is None and hub_reachable():
        return
    reason = f"{flag} is set" if flag else f"the Hugging Face hub ({_endpoint()}) cannot be reached"
    missing = [need for need in needs if not is_cached(need.repo_id, need.repo_type)]
    if missing:
        lines = "\n".join(f"  {need.repo_id} ({need.what}): {need.instead}" for need in missing)
        raise ConfigError(
            f"{reason}, and {len(missing)} hub id(s) this {command} needs are not in the local "
            f"Hugging Face cache ({_hub_cache()}); give local copies instead:\n{lines}"
        )
    if flag is None:
        _go_offline()
        (say or (lambda text: print(text, file=sys.stderr, flush=True)))(
            f"polyplatypus {command}: {reason}; reading {', '.join(n.repo_id for n in needs)} from the local cache "
            "(offline mode)"
        )
