"""``data curate`` onto a full or read-only file system: an error naming the path, exit 2, no
traceback, nothing half-written and no lock left."""

import json

from polyplatypus.cli import main
from tests.conftest import fill_filesystem, remount_read_only

RECORDS = [{"instruction": f"질문 {i} " + "내용 " * 300, "input": "", "output": f"답 {i}"} for i in range(8)]


def test_curate_onto_a_full_disk(tmp_path, small_filesystem, capsys):
    source = tmp_path / "source.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in RECORDS), encoding="utf-8")
    output = small_filesystem / "out.jsonl"
    fill_filesystem(small_filesystem, leave=4096)  # room for the lock, not for the curated file
    code = main(["data", "curate", "--data", str(source), "--output", str(output), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"cannot write {output}: No space left on device" in err and "Traceback" not in err
    assert sorted(p.name for p in small_filesystem.iterdir()) == ["ballast"]  # no lock, no temporary file

    (small_filesystem / "ballast").unlink()
    remount_read_only(small_filesystem)
    code = main(["data", "curate", "--data", str(source), "--output", str(output), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and str(small_filesystem) in err
