import json
import struct
import zlib
from pathlib import Path

import pytest

from polyplatypus.cli import main
from polyplatypus.errors import ConfigError, DataError
from polyplatypus.eval.tables import task_title
from polyplatypus.report.card import NOISE_MARK, read_card_tables, write_report
from polyplatypus.report.results import load_rows
from polyplatypus.tasks.registry import all_task_names

TASK_TITLES = {name: task_title(name) for name in all_task_names()}  # each task's heading in the card


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, after checking signature and chunk CRC."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    body = data[16:29]
    (crc,) = struct.unpack(">I", data[29:33])
    assert zlib.crc32(kind + body) == crc, "corrupt IHDR"
    width, height = struct.unpack(">II", body[:8])
    assert data.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82"), "PNG has no IEND chunk"
    return width, height


def check_png(path: Path) -> None:
    import matplotlib.image as mpimg

    width, height = png_size(path)
    assert 300 <= width <= 3000 and 200 <= height <= 3000, (width, height)
    pixels = mpimg.imread(path)  # decodes the whole image
    assert pixels.shape[:2] == (height, width)
    assert pixels.std() > 0.05, "image is (nearly) blank"


def source_records(folder: Path) -> dict[tuple, dict]:
    data = json.loads((folder / "results.json").read_text())
    return {(r["task"], r["model"], r["shots"]): r for r in data["results"]}


def test_report_outputs_exist_and_pngs_are_valid_images(results_folder, tmp_path):
    written = write_report([results_folder], tmp_path / "out", resamples=200)
    out = tmp_path / "out"
    assert (out / "card.md").is_file() and (out / "card.html").is_file() and (out / "results.json").is_file()
    pngs = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert pngs == sorted([f"{task}.png" for task in TASK_TITLES] + ["overview.png"])
    assert sorted(p.name for p in written["png"]) == pngs
    for png in (out / "plots").glob("*.png"):
        check_png(png)
    overview_w, _ = png_size(out / "plots" / "overview.png")
    task_w, _ = png_size(out / "plots" / "kobest_copa.png")
    assert overview_w > task_w  # the overview holds several panels


def test_markdown_tables_match_results_json(results_folder, tmp_path):
    write_report([results_folder], tmp_path / "out", resamples=300)
    card = (tmp_path / "out" / "card.md").read_text()
    tables = read_card_tables(card)
    source = source_records(results_folder)
    report = json.loads((tmp_path / "out" / "results.json").read_text())
    by_key = {(r["task"], r["label"], r["shots"]): r for r in report["results"]}

    assert list(tables) == ["COPA", "HellaSwag", "BoolQ", "SentiNeg", "WiC"]  # the model card's order
    titles = {v: k for k, v in TASK_TITLES.items()}
    cells = 0
    for title, rows in tables.items():
        task = titles[title]
        assert list(rows) == ["polyglot-ko-1.3b", "poly-platypus-ko-1.3b", "noise-twin"]
        for k in (0, 5, 10, 50):
            column = {model: rows[model][k] for model in rows}
            best = max(source[(task, m, k)]["macro_f1"] for m in rows)
            for model, cell in column.items():
                record = source[(task, model, k)]
                assert cell["f1"] == round(record["macro_f1"], 4)
                assert cell["bold"] == (record["macro_f1"] == best)
                reported = by_key[(task, model, k)]
                assert reported["macro_f1"] == record["macro_f1"]
                assert cell["ci"] == (round(reported["ci_low"], 3), round(reported["ci_high"], 3))
                assert reported["ci_low"] <= record["macro_f1"] <= reported["ci_high"]
                assert cell["noise"] == bool(reported["within_noise_of_best"])
                if cell["bold"]:
                    assert not cell["noise"]
                cells += 1
    assert cells == 5 * 3 * 4
    # the synthetic "noise-twin" is within noise of the best somewhere, and the weak base is not everywhere
    assert NOISE_MARK in card
    assert sum(r["within_noise_of_best"] is False for r in report["results"]) > 0


def test_card_footnotes_provenance_and_truncation(results_folder, tmp_path):
    write_report([results_folder], tmp_path / "out", resamples=100)
    card = (tmp_path / "out" / "card.md").read_text()
    footnotes = [line for line in card.splitlines() if line.startswith("[^1]:")]
    assert len(footnotes) == 1
    note = footnotes[0]
    for text in ("polyplatypus 0.1.0", "dtype float32", "batch size 1", "data /data/kobest", "2025-01-02T03:04:05Z"):
        assert text in note
    assert "Warning" not in card  # one setting for every row
    # the fixture cut 20 of 60 contexts at 10 and 50 shots
    assert "polyglot-ko-1.3b: 10-shot 20/60, 50-shot 20/60" in card
    report = json.loads((tmp_path / "out" / "results.json").read_text())
    assert report["provenance"][0]["dtype"] == "float32"
    assert all(r["provenance"] == 1 for r in report["results"])


def test_mixed_settings_are_flagged_never_silent(tmp_path, make_results):
    a = make_results(tmp_path / "fp16", {"big": ("org/big", 0.8)}, dtype="float16", batch_size=8, seed=1)
    b = make_results(tmp_path / "fp32", {"small": ("org/small", 0.7)}, dtype="float32", seed=1)
    write_report([a, b], tmp_path / "out", resamples=100, formats=("md", "html"))
    card = (tmp_path / "out" / "card.md").read_text()
    assert "Warning: these rows were not all evaluated with the same settings" in card
    assert "dtype: float16, float32" in card and "batch size: 8, 1" in card
    assert "| big[^1] |" in card and "| small[^2] |" in card
    assert any(
        line.startswith("[^1]:") and "dtype float16" in line and "batch size 8" in line for line in card.splitlines()
    )
    assert any(line.startswith("[^2]:") and "dtype float32" in line for line in card.splitlines())
    html = (tmp_path / "out" / "card.html").read_text()
    assert 'class="warning"' in html and "float16" in html
    assert not (tmp_path / "out" / "plots").exists()  # png not asked for


def test_a_limited_evaluation_is_flagged(tmp_path, make_results):
    full = make_results(tmp_path / "full", {"a": ("org/a", 0.8)}, shots=(0,), seed=1)
    part = make_results(tmp_path / "part", {"b": ("org/b", 0.8)}, shots=(0,), seed=1, n=20, limit=20)
    write_report([full, part], tmp_path / "out", formats=("md",), resamples=50)
    card = (tmp_path / "out" / "card.md").read_text()
    assert "limit: None, 20" in card
    assert any(line.startswith("[^2]:") and "first 20 documents per task only" in line for line in card.splitlines())


def test_baseline_by_model_path_and_differences(results_folder, tmp_path):
    write_report([results_folder], tmp_path / "out", baseline="EleutherAI/polyglot-ko-1.3b", resamples=200)
    card = (tmp_path / "out" / "card.md").read_text()
    tables = read_card_tables(card)
    assert "| polyglot-ko-1.3b (baseline)[^1] |" in card
    assert "Difference from the baseline polyglot-ko-1.3b" in card
    report = json.loads((tmp_path / "out" / "results.json").read_text())
    assert report["report"]["baseline"] == "polyglot-ko-1.3b"
    for record in report["results"]:
        if record["label"] == "polyglot-ko-1.3b":
            assert "vs_baseline" not in record
            continue
        diff = record["vs_baseline"]
        base = next(
            r
            for r in report["results"]
            if r["label"] == "polyglot-ko-1.3b" and r["task"] == record["task"] and r["shots"] == record["shots"]
        )
        assert diff["difference"] == pytest.approx(record["macro_f1"] - base["macro_f1"])
        assert diff["within_noise"] == (diff["ci_low"] <= 0 <= diff["ci_high"])
    assert set(tables["COPA"]) == {"polyglot-ko-1.3b", "poly-platypus-ko-1.3b", "noise-twin"}


def test_unknown_baseline_names_the_known_models(results_folder, tmp_path):
    with pytest.raises(
        ConfigError, match=r"--baseline 'nope' matches no model.*polyglot-ko-1.3b \(EleutherAI/polyglot-ko-1.3b\)"
    ):
        write_report([results_folder], tmp_path / "out", baseline="nope")


def test_results_without_cells_still_report_without_intervals(tmp_path, make_results):
    folder = make_results(tmp_path / "r", {"a": ("a", 0.8), "b": ("b", 0.6)}, shots=(0, 5), cells=False)
    write_report([folder], tmp_path / "out", formats=("md",))
    tables = read_card_tables((tmp_path / "out" / "card.md").read_text())
    assert tables["BoolQ"]["a"][0]["ci"] is None and not tables["BoolQ"]["a"][0]["noise"]
    assert list(tables["BoolQ"]["a"]) == [0, 5]


def test_same_label_in_two_folders_is_told_apart(tmp_path, make_results):
    a = make_results(tmp_path / "run-a" / "eval", {"base": ("org/x", 0.7)}, shots=(0,), seed=1)
    b = make_results(tmp_path / "run-b" / "eval", {"base": ("org/x", 0.7)}, shots=(0,), seed=2)
    rows = load_rows([tmp_path / "run-a", tmp_path / "run-b"])  # run directories resolve to eval/
    assert {r.label for r in rows} == {"base (run-a)", "base (run-b)"}
    write_report([a, b], tmp_path / "out", formats=("md",), resamples=50)
    tables = read_card_tables((tmp_path / "out" / "card.md").read_text())
    assert set(tables["WiC"]) == {"base (run-a)", "base (run-b)"}


def test_missing_results_folder_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no results.json found"):
        load_rows([tmp_path])


def test_report_command(results_folder, tmp_path, capsys):
    out = tmp_path / "card"
    code = main(
        [
            "report",
            str(results_folder),
            "--baseline",
            "polyglot-ko-1.3b",
            "--output",
            str(out),
            "--resamples",
            "100",
            "--title",
            "My <card>",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert f"wrote {out / 'card.md'}" in printed and f"wrote {out / 'plots' / 'overview.png'}" in printed
    html = (out / "card.html").read_text()
    assert "<title>My &lt;card&gt;</title>" in html
    assert html.count("<table>") == 5 and '<img src="plots/kobest_copa.png"' in html
    assert (out / "card.md").read_text().startswith("# My <card>")


def test_report_command_default_output_and_errors(results_folder, tmp_path, capsys):
    assert main(["report", str(results_folder), "--format", "md", "--resamples", "50"]) == 0
    assert (results_folder / "report" / "card.md").is_file()
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "results folder does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit:  # the flag's value is checked while parsing
        main(["report", str(results_folder), "--format", "pdf"])
    assert exit.value.code == 2 and "argument --format" in capsys.readouterr().err
