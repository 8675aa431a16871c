"""report never replaces what it reads: its output is neither a results folder nor holds one."""

from __future__ import annotations

from polyplatypus.cli import main


def test_report_output_equal_to_or_holding_a_results_folder_is_refused(results_folder, tmp_path, capsys):
    original = (results_folder / "results.json").read_bytes()
    for output in (results_folder, results_folder.parent):
        assert main(["report", str(results_folder), "--output", str(output), "--format", "md"]) == 2
        err = capsys.readouterr().err
        assert f"--output {output}" in err and f"results {results_folder}" in err
    assert (results_folder / "results.json").read_bytes() == original
    assert sorted(p.name for p in results_folder.parent.iterdir()) == ["results"]
    # a published file's folder is an input too
    published = tmp_path / "published"
    published.mkdir()
    (published / "results.json").write_text("{}")
    assert (
        main(
            [
                "report",
                str(results_folder),
                "--published",
                str(published / "results.json"),
                "--output",
                str(published),
                "--format",
                "md",
            ]
        )
        == 2
    )
    assert (published / "results.json").read_text() == "{}"
    assert main(["report", str(results_folder), "--format", "md", "--resamples", "20"]) == 0  # results/report: fine
