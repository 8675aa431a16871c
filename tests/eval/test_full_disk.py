"""``eval`` onto a full file system: an error naming the path, exit 2, no traceback, no lock and
no half-written cell left."""

from polyplatypus.cli import main
from tests.conftest import fill_filesystem


def test_eval_onto_a_full_disk(small_filesystem, kobest_dir, tiny_gptneox_dir, capsys):
    output = small_filesystem / "results"

    def run():
        return main(
            [
                "eval",
                "--model",
                f"m={tiny_gptneox_dir}",
                "--tasks",
                "kobest_copa",
                "--shots",
                "0",
                "--limit",
                "2",
                "--kobest-dir",
                str(kobest_dir),
                "--output",
                str(output),
                "--no-progress",
            ]
        )

    ballast = fill_filesystem(small_filesystem)
    assert run() == 2  # the lock itself cannot be written
    err = capsys.readouterr().err
    assert f"cannot write {output / '.polyplatypus.lock'}: No space left on device" in err and "Traceback" not in err
    assert not output.exists()

    ballast.unlink()
    fill_filesystem(small_filesystem, leave=4096)  # room for the lock only
    assert run() == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and str(output / "cells") in err and "No space left on device" in err
    assert "Traceback" not in err
    assert [p for p in output.rglob("*") if p.is_file()] == []  # no lock, no temporary file, no cell
