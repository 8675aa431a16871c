"""Atomic file writes: a reader never sees half a file, and a crash never destroys the old one."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from polyplatypus.errors import OutputError

# Temporary files of the writers below are ``.<name>.<random>.tmp`` beside their target: a crash
# can leave one behind, and :func:`polyplatypus.utils.outputs.remove_temporaries` clears them.
TEMP_PREFIX, TEMP_SUFFIX = ".", ".tmp"


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


# errno values that mean "this place cannot take the output" (not a bug, not a missing input)
_CANNOT_WRITE = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG, errno.EIO}
# How libraries that write through their own I/O layer (torch.save, safetensors) report the same
_CANNOT_WRITE_TEXT = (
    "no space left",
    "disk quota",
    "read-only file system",
    "permission denied",
    "file write failed",
    "i/o error",
    "inline_container",
)


def cannot_write_reason(error: BaseException) -> str | None:
    """Why ``error`` (raised while writing) means the place cannot be written: "No space left on
    device", "Read-only file system", ...; None for an error of another kind (a bug, a bad value)."""
    if isinstance(error, OSError) and error.errno in _CANNOT_WRITE:
        return error.strerror or os.strerror(error.errno)
    text = str(error).lower()
    if isinstance(error, (OSError, RuntimeError)) or type(error).__name__ == "SafetensorError":
        if any(marker in text for marker in _CANNOT_WRITE_TEXT):
            return "no space left on device or not writable" if "inline_container" in text else str(error)
    return None


@contextmanager
def writing(
    path: str | os.PathLike, *, cleanup: Callable[[], None] | None = None, name_from_error: bool = True
) -> Iterator[None]:
    """Run a write of ``path``: a full disk, a read-only file system or missing permissions become
    an :class:`~polyplatypus.errors.OutputError` naming the file (``error.filename`` when the
    error knows it, else ``path``), after ``cleanup`` removed what was half-written."""
    try:
        yield
    except Exception as error:  # noqa: BLE001 - only write failures are translated, see below
        reason = cannot_write_reason(error)
        if reason is None:
            raise
        if cleanup is not None:
            cleanup()
        where = (getattr(error, "filename", None) if name_from_error else None) or path
        raise OutputError(
            f"cannot write {where}: {reason}; nothing half-written was left "
            "(free some space or choose another output, then run again)"
        ) from None


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed over it: a reader never sees half
    a file, and a symbolic link at ``path`` (a hub-cache snapshot is made of them) is replaced by
    the file, never written through into its target."""
    path = Path(path)
    tmp = None
    try:
        with writing(path, name_from_error=False):  # the target, not its temporary name
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}.", suffix=TEMP_SUFFIX)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file ordinary permissions
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)  # rename replaces a link itself, never its target
    except BaseException:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_copy(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Copy ``source``'s bytes to ``target`` as :func:`atomic_write_bytes` writes (a link at
    ``target`` is replaced, not followed: ``shutil.copyfile`` would write into its target)."""
    atomic_write_bytes(target, Path(source).read_bytes())


# A path part made from a name (a model label, a task name) keeps these characters; any other
# (a separator, "..", a colon) becomes "_", so the part is one plain entry of its folder.
_SAFE_CHARACTERS = frozenset("-_.=")


def safe_part(name: str, *, empty: str = "_") -> str:
    """``name`` as one file or folder name: characters other than letters, digits and ``-_.=``
    become ``_`` and a leading dot too (no hidden or temporary-looking entries, never ``..``)."""
    part = "".join(c if c.isalnum() or c in _SAFE_CHARACTERS else "_" for c in str(name))
    if part.startswith("."):
        part = "_" + part[1:]
    return part or empty


def inside(root: str | os.PathLike, *parts: str) -> Path:
    """``root / parts...``, checked to lie inside ``root`` once linked folders are followed: an
    :class:`~polyplatypus.errors.OutputError` otherwise (a part with a separator or ``..``, or a
    linked folder that leads out), before anything is written there. The file itself may be a
    link: the atomic writers replace it."""
    root = Path(root)
    path = root.joinpath(*parts)
    for part in parts:
        if part in ("", ".", "..") or "/" in part or os.sep in part or (os.altsep and os.altsep in part):
            raise OutputError(f"{path}: {part!r} is not a plain name; the file would not lie inside {root}")
    folder = path.parent.resolve()  # the file itself may be a link: the writers replace it
    if not folder.is_relative_to(root.resolve()):
        raise OutputError(f"{path} leads outside {root} (its folder is {folder}); nothing was written there")
    return path


def atomic_write_json(path: str | os.PathLike, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def atomic_write_jsonl(path: str | os.PathLike, rows) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (what ``sha256sum`` prints)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
