"""``data curate``'s output paths are checked and held before any curation starts."""

import json

import pytest

from polyplatypus.cli import main
from polyplatypus.data import curate as curate_module

RECORDS = [{"instruction": f"질문 {i}", "input": "", "output": f"답 {i}"} for i in range(3)]


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "source.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in RECORDS), encoding="utf-8")
    return path


def curate_cli(source, output, *extra):
    return main(["data", "curate", "--data", str(source), "--output", str(output), "--quiet", *extra])


def test_output_paths_checked_before_curation(tmp_path, source, capsys, monkeypatch):
    monkeypatch.setattr(curate_module, "curate", lambda *a, **k: pytest.fail("curation started"))
    assert curate_cli(source, source / "x.jsonl") == 2  # its folder would be a file
    assert f"--output {source / 'x.jsonl'}: {source} is an existing file" in capsys.readouterr().err
    (tmp_path / "folder.jsonl").mkdir()
    assert curate_cli(source, tmp_path / "folder.jsonl") == 2
    assert "a folder is there, where a file is needed" in capsys.readouterr().err
    (tmp_path / "out.jsonl.report.json").mkdir()
    assert curate_cli(source, tmp_path / "out.jsonl") == 2
    assert "--output (its report)" in capsys.readouterr().err
    assert curate_cli(source, tmp_path / "ok.jsonl", "--report", str(source / "r.json")) == 2
    assert f"--report {source / 'r.json'}" in capsys.readouterr().err


def test_held_output_refused_and_leftovers_removed(tmp_path, source, capsys, other_process_holding):
    output = tmp_path / "curated" / "out.jsonl"
    holder = other_process_holding(output, "data curate", beside=True)
    assert curate_cli(source, output) == 2
    assert f"{output} is in use by polyplatypus data curate (pid {holder.pid}" in capsys.readouterr().err
    assert not output.exists()
    holder.kill()
    holder.wait()
    leftover = output.with_name(".out.jsonl.q1w2e3.tmp")
    leftover.write_text('{"instruction"')
    assert curate_cli(source, output) == 0
    assert [json.loads(line)["instruction"] for line in output.read_text(encoding="utf-8").splitlines()] == [
        r["instruction"] for r in RECORDS
    ]
    assert sorted(p.name for p in output.parent.iterdir()) == ["out.jsonl", "out.jsonl.report.json"]


def test_skip_invalid_counts_agree(tmp_path, source, capsys):
    """The loader's line and the summary count the same records: all read, invalid ones included."""
    with source.open("a", encoding="utf-8") as handle:
        handle.write('{"instruction": "", "output": "빈 질문"}\n')  # invalid: empty instruction
    output = tmp_path / "out.jsonl"
    assert (
        main(
            [
                "data",
                "curate",
                "--data",
                str(source),
                "--output",
                str(output),
                "--skip-invalid",
                "--decontaminate",
                "none",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert f"read 4 records from {source} (1 invalid, skipped)" in text
    assert "curated 4 records into 3" in text


def test_an_output_equal_to_an_input_is_refused_before_any_work(tmp_path, source, capsys):
    original = source.read_bytes()
    assert curate_cli(source, source) == 2
    assert f"--output {source} is an input of this command (--data {source})" in capsys.readouterr().err
    link = tmp_path / "link.jsonl"
    link.symlink_to(source)
    assert curate_cli(source, link) == 2  # the same file through a link
    assert curate_cli(source, tmp_path / "ok.jsonl", "--report", str(source)) == 2
    assert "--report" in capsys.readouterr().err
    assert source.read_bytes() == original
    assert not (tmp_path / "ok.jsonl").exists() and not list(tmp_path.glob("*.report.json"))
