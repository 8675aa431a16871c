"""A full disk or a read-only output is an error naming the path (exit 2), with nothing
half-written and no lock left behind: on a real 2 MB tmpfs where mounting is allowed, and with
the error injected everywhere."""

from __future__ import annotations

import errno
import json
import os

import pytest

from polyplatypus.errors import OutputError
from polyplatypus.utils import io, outputs
from polyplatypus.utils.io import atomic_write_json, cannot_write_reason
from tests.conftest import fill_filesystem, remount_read_only


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --- atomic writes ------------------------------------------------------------------------------


def test_atomic_write_on_a_full_tmpfs_names_the_file_and_keeps_the_old_one(small_filesystem):
    target = small_filesystem / "results.json"
    atomic_write_json(target, {"old": True})
    fill_filesystem(small_filesystem)
    with pytest.raises(OutputError, match=f"cannot write {target}: No space left on device"):
        atomic_write_json(target, {"new": "x" * 100_000})
    assert json.loads(target.read_text()) == {"old": True}
    assert leftovers(small_filesystem) == []


def test_atomic_write_on_a_read_only_tmpfs(small_filesystem):
    remount_read_only(small_filesystem)
    with pytest.raises(OutputError, match=f"cannot write {small_filesystem / 'a.json'}: Read-only file system"):
        atomic_write_json(small_filesystem / "a.json", {})


@pytest.mark.parametrize("where", ["fsync", "replace"])
def test_atomic_write_with_injected_enospc(tmp_path, monkeypatch, where):
    target = tmp_path / "out.json"

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(io.os, where, full)
    with pytest.raises(OutputError, match=f"cannot write {target}: No space left on device"):
        atomic_write_json(target, {"a": 1})
    assert list(tmp_path.iterdir()) == []


def test_other_errors_are_not_disguised_as_a_full_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(io.os, "fsync", lambda fd: (_ for _ in ()).throw(ValueError("a bug")))
    with pytest.raises(ValueError, match="a bug"):
        atomic_write_json(tmp_path / "x.json", {})
    assert cannot_write_reason(FileNotFoundError(errno.ENOENT, "missing")) is None
    assert cannot_write_reason(RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534"))
    assert cannot_write_reason(RuntimeError("shape mismatch")) is None


# --- the lock -----------------------------------------------------------------------------------


def test_lock_that_cannot_be_written_is_removed(small_filesystem):
    folder = small_filesystem / "out"
    folder.mkdir()
    fill_filesystem(small_filesystem)
    with pytest.raises(OutputError, match=f"cannot write {folder / outputs.LOCK_NAME}: No space left"):
        with outputs.hold(folder, "eval"):
            pass
    assert not (folder / outputs.LOCK_NAME).exists()
    (small_filesystem / "ballast").unlink()
    with outputs.hold(folder, "eval") as lock:  # at once: no 10-second wait on an empty lock
        assert lock.is_file()


def test_lock_write_failure_injected(tmp_path, monkeypatch):
    folder = tmp_path / "out"
    folder.mkdir()

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(outputs.os, "fsync", full)
    with pytest.raises(OutputError, match="No space left on device"):
        with outputs.hold(folder, "train"):
            pass
    assert list(folder.iterdir()) == []
    monkeypatch.undo()
    with outputs.hold(folder, "train"):
        pass


def test_lock_on_a_read_only_place(small_filesystem):
    remount_read_only(small_filesystem)
    with pytest.raises(OutputError, match="Read-only file system"):
        with outputs.hold(small_filesystem / "out", "eval"):
            pass


def test_cli_turns_any_unwrapped_write_failure_into_exit_2(monkeypatch, capsys, tmp_path):
    from polyplatypus import cli

    target = tmp_path / "plots" / "copa.png"

    def full(args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser.set_defaults(func=full)
    for action in parser._subparsers._group_actions[0].choices.values():
        action.set_defaults(func=full)
    assert cli.main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"polyplatypus report: error: cannot write {target}: No space left on device" in err

    def bug(args):
        raise FileNotFoundError(errno.ENOENT, "missing", "x")

    for action in parser._subparsers._group_actions[0].choices.values():
        action.set_defaults(func=bug)
    with pytest.raises(FileNotFoundError):  # not a write failure: not disguised as one
        cli.main(["report", str(tmp_path)])
