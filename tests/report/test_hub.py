"""report --card-model: .eval_results/*.yaml and README.md read back with huggingface_hub's own API
and compared with the report's results.json, without the network."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import yaml
from huggingface_hub import ModelCard, parse_eval_result_entries

from polyplatypus.cli import main
from polyplatypus.data.curate import report_path_for
from polyplatypus.report.hub import read_entry_notes
from polyplatypus.train.merge import METADATA_FILE
from polyplatypus.train.recipe import SUMMARY_FILE

CONFIG_OF_TASK = {
    "kobest_copa": "copa",
    "kobest_hellaswag": "hellaswag",
    "kobest_boolq": "boolq",
    "kobest_sentineg": "sentineg",
    "kobest_wic": "wic",
}  # skt/kobest_v1's configuration names


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def merged_run(tmp_path: Path, base: str, sources: list[str]) -> Path:
    """A merged model folder with the records a recipe run leaves: polyplatypus.json (merge), the
    adapter's training summary (train) and the curated data's report (data curate)."""
    data = tmp_path / "run" / "data" / "instructions.jsonl"
    data.parent.mkdir(parents=True)
    data.write_text("")
    report_path_for(data).write_text(json.dumps({"sources": [{"source": s, "records_in": 3} for s in sources]}))
    adapter = tmp_path / "run" / "adapter"
    adapter.mkdir()
    (adapter / SUMMARY_FILE).write_text(json.dumps({"config": {"data": str(data), "base": base}}))
    merged = tmp_path / "run" / "merged"
    merged.mkdir()
    (merged / METADATA_FILE).write_text(
        json.dumps({"base": base, "adapter": str(adapter), "prompt_template": "alpaca"})
    )
    return merged


@pytest.fixture
def card_results(make_results, tmp_path):
    merged = merged_run(
        tmp_path, "EleutherAI/polyglot-ko-1.3b", ["kyujinpy/KOpen-platypus", str(tmp_path / "mine.jsonl")]
    )
    folder = make_results(
        tmp_path / "results",
        {
            "polyglot-ko-1.3b": ("EleutherAI/polyglot-ko-1.3b", 0.62),
            "poly-platypus-ko-1.3b": (str(merged), 0.75),
        },
    )
    return folder, merged


def card_records(out: Path, model: str) -> dict[tuple[str, int], dict]:
    report = json.loads((out / "results.json").read_text())
    return {(r["task"], r["shots"]): r for r in report["results"] if r["label"] == model}


def test_eval_results_and_readme_read_back_equal_results_json(card_results, tmp_path, capsys):
    folder, merged = card_results
    out = tmp_path / "out"
    assert (
        main(
            [
                "report",
                str(folder),
                "--output",
                str(out),
                "--format",
                "md",
                "--resamples",
                "50",
                "--card-model",
                "poly-platypus-ko-1.3b",
                "--license",
                "apache-2.0",
                "--tags",
                "platypus,lora",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    records = card_records(out, "poly-platypus-ko-1.3b")
    expected = {
        (task, k, metric): record[metric]
        for (task, k), record in records.items()
        for metric in ("macro_f1", "acc", "acc_norm")
        if metric in record
    }
    assert len(expected) == 5 * 4 * 2 + 4  # 5 tasks x 4 shot counts x (F1, acc), + acc_norm for HellaSwag

    # .eval_results/*.yaml: one EvalResultEntry per task x shot count x metric
    task_of_config = {v: k for k, v in CONFIG_OF_TASK.items()}
    found = {}
    for path in sorted((out / ".eval_results").glob("*.yaml")):
        for entry in parse_eval_result_entries(yaml.safe_load(path.read_text())):
            assert entry.dataset_id == "skt/kobest_v1"
            shots, metric = read_entry_notes(entry.notes)
            key = (task_of_config[entry.task_id], shots, metric)
            assert key not in found
            found[key] = entry.value
    assert found == expected  # every value and shot count survives, exactly

    # README.md: metadata (legacy model-index) + the card
    card = ModelCard.load(out / "README.md")
    data = card.data
    assert data.base_model == "EleutherAI/polyglot-ko-1.3b"  # from the merged model's records
    assert data.datasets == ["kyujinpy/KOpen-platypus"]  # the local file is no Hub id: left out
    assert data.language == "ko" and data.license == "apache-2.0" and data.library_name == "transformers"
    assert {"polyplatypus", "platypus", "lora"} <= set(data.tags)
    assert data.model_name == "poly-platypus-ko-1.3b"
    legacy = {}
    for result in data.eval_results:
        metric, shots = result.metric_name.rsplit(" (", 1)
        shots = int(shots.removesuffix("-shot)"))
        assert result.metric_args["num_fewshot"] == shots
        assert result.dataset_type == "skt/kobest_v1" and result.dataset_split == "test"
        legacy[(task_of_config[result.dataset_config], shots, metric)] = result.metric_value
    assert legacy == expected
    assert card.text.strip() == (out / "card.md").read_text().strip()

    report = json.loads((out / "results.json").read_text())["report"]
    assert report["card_model"] == "poly-platypus-ko-1.3b"
    assert any("mine.jsonl" in note and "not a Hub id" in note for note in report["hub_notes"])
    assert "not a Hub id" in printed


def test_flags_fill_what_the_records_do_not_know(make_results, tmp_path):
    local_base = merged_run(tmp_path, str(tmp_path / "tiny-base"), ["builtin:instruction_sample"])
    (tmp_path / "tiny-base").mkdir()
    folder = make_results(tmp_path / "results", {"tuned": (str(local_base), 0.7)}, shots=(0,))
    out = tmp_path / "out"
    assert (
        main(
            [
                "report",
                str(folder),
                "--output",
                str(out),
                "--format",
                "md",
                "--resamples",
                "20",
                "--card-model",
                "tuned",
            ]
        )
        == 0
    )
    data = ModelCard.load(out / "README.md").data
    assert data.base_model is None and data.datasets is None and data.license is None  # left out, not invented
    notes = json.loads((out / "results.json").read_text())["report"]["hub_notes"]
    assert any("base_model" in n and "tiny-base" in n for n in notes)
    assert any("license" in n for n in notes)

    out2 = tmp_path / "out2"
    assert (
        main(
            [
                "report",
                str(folder),
                "--output",
                str(out2),
                "--format",
                "md",
                "--resamples",
                "20",
                "--card-model",
                "tuned",
                "--base-model",
                "EleutherAI/polyglot-ko-1.3b",
                "--datasets",
                "kyujinpy/KOpen-platypus,garage-bAInd/Open-Platypus",
                "--library-name",
                "peft",
            ]
        )
        == 0
    )
    data = ModelCard.load(out2 / "README.md").data
    assert data.base_model == "EleutherAI/polyglot-ko-1.3b"
    assert data.datasets == ["kyujinpy/KOpen-platypus", "garage-bAInd/Open-Platypus"]
    assert data.library_name == "peft"


def test_model_dir_gets_both_and_a_foreign_readme_is_kept(card_results, tmp_path, capsys):
    folder, merged = card_results
    out = tmp_path / "out"
    args = [
        "report",
        str(folder),
        "--output",
        str(out),
        "--format",
        "md",
        "--resamples",
        "20",
        "--card-model",
        "poly-platypus-ko-1.3b",
        "--model-dir",
        str(merged),
    ]
    assert main(args) == 0
    assert "hf upload" in capsys.readouterr().out
    assert (merged / "README.md").read_text() == (out / "README.md").read_text()
    assert sorted(p.name for p in (merged / ".eval_results").glob("*.yaml")) == sorted(
        p.name for p in (out / ".eval_results").glob("*.yaml")
    )
    assert main(args) == 0  # our own README is replaced on a re-run

    (merged / "README.md").write_text("# my own notes\n")
    assert main(args) == 2
    assert "README.md exists and was not written by polyplatypus" in capsys.readouterr().err
    assert (merged / "README.md").read_text() == "# my own notes\n"


def test_card_model_must_be_an_evaluated_model(card_results, tmp_path, capsys):
    folder, _ = card_results
    assert main(["report", str(folder), "--output", str(tmp_path / "o"), "--card-model", "nope"]) == 2
    assert "--card-model 'nope' is not a model of this report" in capsys.readouterr().err
    published = tmp_path / "pub.json"
    published.write_text(
        json.dumps(
            {
                "results": {"kobest_copa": {"macro_f1": 0.7, "acc": 0.7}},
                "config": {"num_fewshot": 0, "model_args": "pretrained=org/base"},
            }
        )
    )
    assert (
        main(
            [
                "report",
                str(folder),
                "--output",
                str(tmp_path / "o"),
                "--published",
                str(published),
                "--card-model",
                "org/base",
            ]
        )
        == 2
    )
    assert "published baseline" in capsys.readouterr().err
    assert main(["report", str(folder), "--output", str(tmp_path / "o"), "--model-dir", str(tmp_path)]) == 2
    assert "--model-dir needs --card-model" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_model_dir_links_are_replaced_not_written_through(card_results, tmp_path):
    """A hub-cache snapshot is made of links into its blob store: the report replaces them."""
    folder, merged = card_results
    out = tmp_path / "out"
    args = [
        "report",
        str(folder),
        "--output",
        str(out),
        "--format",
        "md",
        "--resamples",
        "20",
        "--card-model",
        "poly-platypus-ko-1.3b",
        "--model-dir",
        str(merged),
    ]
    assert main(args) == 0
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    links = [merged / "README.md", *sorted((merged / ".eval_results").glob("*.yaml"))]
    for number, link in enumerate(links):
        blob = blobs / str(number)
        blob.write_text(link.read_text())  # the snapshot's files: our earlier ones, as links into blobs/
        link.unlink()
        link.symlink_to(blob)
    before = {blob: blob.read_text() for blob in blobs.iterdir()}
    (folder / "results.json").write_text((folder / "results.json").read_text().replace("0.75", "0.7"))
    assert main(args) == 0
    assert {blob: blob.read_text() for blob in blobs.iterdir()} == before
    for link in links:
        assert not link.is_symlink() and link.read_text() == (out / link.relative_to(merged)).read_text()


def test_output_equal_to_the_model_dir_keeps_a_foreign_readme(card_results, capsys):
    folder, merged = card_results
    (merged / "README.md").write_text("# my own notes\n")
    assert (
        main(
            [
                "report",
                str(folder),
                "--output",
                str(merged),
                "--format",
                "md",
                "--resamples",
                "20",
                "--card-model",
                "poly-platypus-ko-1.3b",
                "--model-dir",
                str(merged),
            ]
        )
        == 2
    )
    assert "README.md exists and was not written by polyplatypus" in capsys.readouterr().err
    assert (merged / "README.md").read_text() == "# my own notes\n"
