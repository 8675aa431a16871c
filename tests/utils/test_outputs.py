"""Output checks and the per-folder lock, on their own (each command's use is tested with it)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from polyplatypus.errors import OutputError, OutputInUseError
from polyplatypus.utils import outputs


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def write_lock(folder: Path, **fields) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / outputs.LOCK_NAME
    path.write_text(
        json.dumps(
            {
                "host": socket.gethostname(),
                "command": "polyplatypus eval",
                "started": "2026-01-01T00:00:00+00:00",
                **fields,
            }
        )
    )
    return path


def test_lock_is_taken_released_and_reentrant(tmp_path):
    folder = tmp_path / "out"
    with outputs.hold(folder, "eval") as lock:
        assert lock == folder / outputs.LOCK_NAME
        holder = json.loads(lock.read_text())
        assert holder["pid"] == os.getpid() and holder["command"] == "polyplatypus eval"
        with outputs.hold(folder, "eval"):  # a nested call of the same process
            pass
        assert lock.is_file()
    assert not lock.exists()
    with pytest.raises(RuntimeError):
        with outputs.hold(folder, "eval") as lock:
            raise RuntimeError
    assert not lock.exists()  # released on an exception too


def test_a_second_process_is_refused_naming_the_pid_and_the_folder(tmp_path, other_process_holding):
    folder = tmp_path / "out"
    holder = other_process_holding(folder, "train")
    with pytest.raises(OutputInUseError) as error:
        with outputs.hold(folder, "eval"):
            pass
    message = str(error.value)
    assert f"pid {holder.pid}" in message and str(folder) in message and "polyplatypus train" in message
    holder.kill()  # like kill -9: the lock file stays, naming a dead process
    holder.wait()
    assert (folder / outputs.LOCK_NAME).is_file()
    with outputs.hold(folder, "eval") as lock:  # taken over
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not (folder / outputs.LOCK_NAME).exists()


def test_stale_and_unknown_locks(tmp_path):
    stale = write_lock(tmp_path / "stale", pid=dead_pid())
    with outputs.hold(tmp_path / "stale", "eval"):
        assert json.loads(stale.read_text())["pid"] == os.getpid()
    # our own pid, but not held by this process: a dead process that had the same pid (containers)
    write_lock(tmp_path / "same-pid", pid=os.getpid())
    with outputs.hold(tmp_path / "same-pid", "eval"):
        pass
    # a process on another machine cannot be checked: refused, naming the host
    write_lock(tmp_path / "remote", pid=dead_pid(), host="elsewhere")
    with pytest.raises(OutputInUseError, match="on elsewhere"):
        with outputs.hold(tmp_path / "remote", "eval"):
            pass
    # an empty lock file: a process between creating and writing it, unless it is old
    empty = tmp_path / "empty" / outputs.LOCK_NAME
    empty.parent.mkdir()
    empty.write_text("")
    with pytest.raises(OutputInUseError, match="being written"):
        with outputs.hold(tmp_path / "empty", "eval"):
            pass
    os.utime(empty, (1, 1))
    with outputs.hold(tmp_path / "empty", "eval"):
        pass


def test_lock_beside_a_file(tmp_path, other_process_holding):
    target = tmp_path / "data" / "curated.jsonl"
    other_process_holding(target, "data curate", beside=True)
    assert (tmp_path / "data" / ".curated.jsonl.lock").is_file()
    with pytest.raises(OutputInUseError, match="curated.jsonl"):
        with outputs.hold(target, "data curate", beside=True):
            pass
    with outputs.hold(tmp_path / "data" / "other.jsonl", "data curate", beside=True):
        pass  # another file in the same folder is free


def test_only_rank_zero_of_a_launch_takes_the_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    with outputs.hold(tmp_path / "out", "eval") as lock:
        assert lock is None and not (tmp_path / "out").exists()


def test_folder_checks(tmp_path):
    own = ("results.json", "cells")
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(
        OutputError, match=r"file\.txt: an existing file \(1 bytes\) is there, where a folder is needed"
    ):
        outputs.check_folder(a_file, command="eval", own=own)
    with pytest.raises(OutputError, match=r"file\.txt is an existing file .*not a folder"):
        outputs.check_folder(a_file / "sub" / "out", command="eval", own=own)
    model = tmp_path / "model"
    model.mkdir()
    for name in ("config.json", "model.safetensors", "polyplatypus.json", "tokenizer.json"):
        (model / name).write_text("{}")
    with pytest.raises(
        OutputError, match=r"holds a merged model \(polyplatypus merge\): config.json, model.safetensors"
    ):
        outputs.check_folder(model, command="train", own=("train_summary.json",))
    # absent, empty, hidden entries only, or this command's own output: fine
    for ok in (tmp_path / "new" / "deeper", tmp_path / "empty", tmp_path / "hidden", tmp_path / "earlier"):
        ok.mkdir(parents=True) if ok.name != "deeper" else None
    (tmp_path / "hidden" / ".DS_Store").write_text("")
    (tmp_path / "earlier" / "cells").mkdir()
    (tmp_path / "earlier" / "notes.txt").write_text("")
    for ok in (tmp_path / "new" / "deeper", tmp_path / "empty", tmp_path / "hidden", tmp_path / "earlier"):
        assert outputs.check_folder(ok, command="eval", own=own) == ok
    assert not (tmp_path / "new").exists()  # a check writes nothing


def test_file_checks(tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(OutputError, match="a folder is there, where a file is needed"):
        outputs.check_file(tmp_path / "folder")
    (tmp_path / "plain").write_text("x")
    with pytest.raises(OutputError, match=r"--output .*plain/x\.jsonl: .*plain is an existing file"):
        outputs.check_file(tmp_path / "plain" / "x.jsonl")
    assert outputs.check_file(tmp_path / "plain") == tmp_path / "plain"  # replacing a file is fine


@pytest.mark.skipif(not Path("/proc/1").is_dir(), reason="needs Linux /proc")
def test_unwritable_place(tmp_path):
    # /proc/1 cannot be written even by root; a chmod-ed folder only by a non-root user
    with pytest.raises(OutputError, match=r"cannot write in /proc/1"):
        outputs.check_folder("/proc/1/results", command="eval", own=())
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(OutputError, match="cannot write in"):
            outputs.check_file(locked / "x.jsonl")


def test_remove_temporaries(tmp_path):
    (tmp_path / "cells").mkdir()
    keep = [tmp_path / "results.json", tmp_path / "cells" / "a.json", tmp_path / "notes.tmp"]
    for path in keep:
        path.write_text("{}")
    leftovers = [tmp_path / ".results.json.x1y2.tmp", tmp_path / "cells" / ".a.json.zz.tmp"]
    for path in leftovers:
        path.write_text("half")
    assert outputs.remove_temporaries(tmp_path) == [leftovers[0]]
    assert outputs.remove_temporaries(tmp_path, recursive=True) == [leftovers[1]]
    assert all(p.is_file() for p in keep)
    # what the atomic writer leaves when the process dies between writing and renaming
    real = tmp_path / "x"
    script = (
        "import os, sys\nfrom polyplatypus.utils import io\n"
        "os.replace = lambda src, dst: os._exit(9)\n"
        "io.atomic_write_text(sys.argv[1], '{}')\n"
    )
    assert subprocess.run([sys.executable, "-c", script, str(real / "a.json")]).returncode == 9
    leftover = list(real.iterdir())
    assert len(leftover) == 1 and leftover[0].name.startswith(".a.json.")
    assert outputs.remove_temporaries(real, names=["b.json"]) == []
    assert outputs.remove_temporaries(real, names=["a.json"]) == leftover
    assert list(real.iterdir()) == []


def test_a_run_that_wrote_nothing_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with outputs.hold(tmp_path / "a" / "b" / "out", "train"):
            raise RuntimeError("bad data")
    assert list(tmp_path.iterdir()) == []
    with outputs.hold(tmp_path / "a" / "out", "train") as lock:
        (lock.parent / "result.json").write_text("{}")
    assert [p.name for p in (tmp_path / "a" / "out").iterdir()] == ["result.json"]
