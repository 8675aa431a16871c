"""Output paths: checked before any work starts, and held by one process at a time.

Every command that writes (``eval``, ``train``, ``merge``, ``run``, ``data curate``) first calls
:func:`check_folder` or :func:`check_file`: a file where a folder is needed, a folder holding
something other than this command's own earlier output, or a place that cannot be written is a
:class:`~polyplatypus.errors.OutputError` naming the path and what is there, before any model is
loaded and before anything is written.

No command overwrites its own inputs: :func:`refuse_inputs` refuses an output that is (or, for a
folder, holds) one of the command's inputs, before any work.

Then it holds the output with :func:`hold`: a lock file (JSON with the process id, host, command
and start time) created with ``O_CREAT | O_EXCL``, so exactly one process gets it. It is removed
on exit (also after an exception or Ctrl-C); one left by a process that no longer runs (``kill
-9``, a crash) is taken over. While holding the lock, the command may clear temporary files an
earlier interrupted run left (:func:`remove_temporaries`): no other process is writing them.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from polyplatypus.errors import OutputError, OutputInUseError
from polyplatypus.utils.io import TEMP_PREFIX, TEMP_SUFFIX, writing

LOCK_NAME = ".polyplatypus.lock"
# An empty lock file is a process between creating and writing it, unless it is older than this.
_EMPTY_LOCK_GRACE_S = 10.0
# Locks this process holds (absolute path -> depth), so a nested call on the same output is no conflict.
_HELD: dict[str, int] = {}


# --- checks -------------------------------------------------------------------------------------


def check_folder(path: str | os.PathLike, *, command: str, own: Iterable[str], option: str = "--output") -> Path:
    """Check that ``path`` can be ``command``'s output folder; returns it as a Path.

    ``own`` names the entries whose presence marks this command's own earlier output (a folder
    holding none of them, but other things, is refused). Hidden entries are not counted.
    """
    path = Path(path)
    _check_place(path, want="folder", option=option)
    if path.is_dir():
        entries = visible_entries(path)
        if entries and not set(own) & set(entries):
            raise OutputError(
                f"{option} {path}: the folder holds {describe_contents(path, entries)}, not the output of an "
                f"earlier `polyplatypus {command}`; choose another {option} (nothing was written)"
            )
    return path


def check_file(path: str | os.PathLike, *, option: str = "--output") -> Path:
    """Check that ``path`` can be written as a file (its folder exists or can be made)."""
    path = Path(path)
    _check_place(path, want="file", option=option)
    return path


def refuse_inputs(
    output: str | os.PathLike,
    inputs: Iterable[tuple[str, str | os.PathLike]],
    *,
    option: str = "--output",
    holding: bool = False,
) -> None:
    """No command overwrites its own inputs: refuse, before any work, an ``output`` that is one of
    ``inputs`` ((option, path) pairs; the same file or folder, links followed) or, with
    ``holding`` (a folder output), a folder that holds one of them."""
    target = _real(output)
    for name, path in inputs:
        source = _real(path)
        if source == target or (holding and target in source.parents):
            how = "is" if source == target else "holds"
            raise OutputError(
                f"{option} {output} {how} an input of this command ({name} {path}); writing there "
                f"would replace it: choose another {option} (nothing was written)"
            )


def _real(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(Path(path).expanduser()))


def _check_place(path: Path, *, want: str, option: str) -> None:
    """The nearest existing path at or above ``path`` must be a writable folder (or, for a file,
    ``path`` itself may be an existing regular file)."""
    if path.exists() or path.is_symlink():
        if want == "folder" and not path.is_dir():
            raise OutputError(f"{option} {path}: {_kind(path)} is there, where a folder is needed")
        if want == "file" and not path.is_file():
            raise OutputError(f"{option} {path}: {_kind(path)} is there, where a file is needed")
        writable_at = path if path.is_dir() else path.parent
    else:
        writable_at = next((p for p in path.parents if p.exists() or p.is_symlink()), Path("."))
        if not writable_at.is_dir():
            raise OutputError(f"{option} {path}: {writable_at} is {_kind(writable_at)}, not a folder")
    if not os.access(writable_at, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: cannot write in {writable_at} (permission denied or read-only)")


def _kind(path: Path) -> str:
    if path.is_symlink() and not path.exists():
        return "a broken symbolic link"
    if path.is_dir():
        return "a folder"
    if path.is_file():
        return f"an existing file ({path.stat().st_size} bytes)"
    return "something that is neither a file nor a folder"


def visible_entries(folder: Path) -> list[str]:
    """Names in ``folder``, hidden ones (lock, temporary files, .DS_Store) left out."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


# What another command leaves, so that a refusal can say what a folder is.
_KNOWN_CONTENTS = (
    (("polyplatypus.json",), "a merged model (polyplatypus merge)"),
    (("pipeline.json",), "a recipe run (polyplatypus run)"),
    (("train_summary.json",), "a training run (polyplatypus train)"),
    (("train_config.yaml",), "a training run (polyplatypus train)"),
    (("checkpoints",), "a training run (polyplatypus train)"),
    (("adapter_config.json",), "a LoRA adapter"),
    (("cells",), "an evaluation (polyplatypus eval)"),
    (("results.json",), "results (polyplatypus eval or report)"),
    (("config.json",), "a model"),
)


def describe_contents(folder: Path, entries: list[str] | None = None) -> str:
    entries = visible_entries(folder) if entries is None else entries
    for names, what in _KNOWN_CONTENTS:
        if all(name in entries for name in names):
            return f"{what}: {_listing(entries)}"
    return _listing(entries)


def _listing(entries: list[str], most: int = 5) -> str:
    shown = ", ".join(entries[:most])
    return shown + (f" and {len(entries) - most} more" if len(entries) > most else "")


# --- the lock -----------------------------------------------------------------------------------


def lock_path(target: str | os.PathLike, *, beside: bool = False) -> Path:
    """Inside the folder ``target``, or (``beside``: a file, or a folder replaced as a whole)
    next to it as ``.<name>.lock``."""
    target = Path(target)
    return target.with_name(f".{target.name}.lock") if beside else target / LOCK_NAME


def _launch_main() -> bool:
    """Under torchrun / accelerate launch only global rank 0 takes locks (the others share its work)."""
    return os.environ.get("RANK", "0") == "0"


@contextmanager
def hold(target: str | os.PathLike, command: str, *, beside: bool = False) -> Iterator[Path | None]:
    """Hold ``target`` (a folder, or with ``beside`` a file or replaceable folder) for this process.

    Raises :class:`OutputInUseError` naming the holder's pid and the folder when another live
    process holds it. Yields the lock file's path (None on non-main ranks of a launch).
    """
    target = Path(target)
    path = lock_path(target, beside=beside)
    key = os.path.abspath(path)
    if not _launch_main():
        yield None
        return
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield path
        finally:
            _HELD[key] -= 1
        return
    made = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    try:
        with writing(path.parent):
            path.parent.mkdir(parents=True, exist_ok=True)
        token = _acquire(path, target, command)
    except BaseException:
        _remove_if_empty(made)
        raise
    _HELD[key] = 1
    try:
        yield path
    finally:
        del _HELD[key]
        _release(path, token)
        _remove_if_empty(made)  # a run that stopped before writing anything leaves nothing


def _remove_if_empty(folders: list[Path]) -> None:
    for folder in folders:  # deepest first
        try:
            folder.rmdir()
        except OSError:
            return  # not empty (or gone): neither are the folders above it


def _acquire(path: Path, target: Path, command: str) -> str:
    token = json.dumps(
        {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": f"polyplatypus {command}",
            "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
    )
    for _ in range(5):
        try:
            with writing(path):
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            seen = _read(path)
            if seen is None:
                continue  # removed in between: try again
            if not _is_stale(path, seen):
                raise OutputInUseError(_in_use_message(target, path, seen)) from None
            _take_over(path, seen)
            continue
        # A lock that cannot be written (a full disk) is removed at once: left empty, it would
        # stop every run for the next _EMPTY_LOCK_GRACE_S seconds.
        with writing(path, cleanup=lambda: path.unlink(missing_ok=True)):
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(token)
                handle.flush()
                os.fsync(handle.fileno())
        return token
    raise OutputInUseError(f"{target}: could not take the lock {path}; other processes keep taking it")


def _release(path: Path, token: str) -> None:
    if _read(path) == token:  # never remove a lock that is not ours
        path.unlink(missing_ok=True)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _holder(text: str) -> dict | None:
    try:
        holder = json.loads(text)
    except json.JSONDecodeError:
        return None
    return holder if isinstance(holder, dict) and isinstance(holder.get("pid"), int) else None


def _is_stale(path: Path, text: str) -> bool:
    holder = _holder(text)
    if holder is None:  # being written right now, or left half-written by a crash
        try:
            return time.time() - path.stat().st_mtime > _EMPTY_LOCK_GRACE_S
        except FileNotFoundError:
            return False
    if holder.get("host") != socket.gethostname():
        return False  # a process on another machine: it cannot be checked from here
    pid = holder["pid"]
    if pid == os.getpid():
        return True  # this process does not hold it (see _HELD): a dead process that had our pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def _take_over(path: Path, seen: str) -> None:
    """Remove a stale lock, unless another process replaced it meanwhile (then put that one back)."""
    aside = path.with_name(f"{path.name}.{os.getpid()}.stale")
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        return
    if _read(aside) != seen:  # a live process's fresh lock: restore it
        try:
            os.link(aside, path)
        except FileExistsError:
            pass
    aside.unlink(missing_ok=True)


def _in_use_message(target: Path, path: Path, text: str) -> str:
    holder = _holder(text)
    if holder is None:
        who = "another process (its lock file is being written)"
    else:
        where = "" if holder.get("host") == socket.gethostname() else f" on {holder.get('host')}"
        who = f"{holder.get('command', 'another process')} (pid {holder['pid']}{where}, since {holder.get('started')})"
    return (
        f"{target} is in use by {who}; lock file {path}. Wait for that process to finish, or delete "
        "the lock file if it no longer runs"
    )


# --- leftovers of an interrupted run -------------------------------------------------------------


def remove_temporaries(
    folder: str | os.PathLike, *, recursive: bool = False, names: Iterable[str] | None = None
) -> list[Path]:
    """Delete the atomic writers' temporary files (``.<name>.<random>.tmp``) an interrupted run left
    in ``folder`` (and below with ``recursive``); with ``names``, only those of files so named.
    Call it only while holding the folder's lock. Returns what was removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    wanted = set(names) if names is not None else None
    candidates = (
        folder.rglob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}") if recursive else folder.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}")
    )
    removed = []
    for path in candidates:
        if not path.is_file():
            continue
        if wanted is not None and not any(path.name.startswith(f"{TEMP_PREFIX}{name}.") for name in wanted):
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed
