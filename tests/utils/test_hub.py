"""Offline found out at once: one short connection attempt, then every hub id a command needs that
is not cached is reported together, with what replaces it, before any loading (and its retries)."""

from __future__ import annotations

import os
import socket
import time

import pytest

from polyplatypus.cli import main
from polyplatypus.errors import ConfigError
from polyplatypus.utils import hub
from polyplatypus.utils.hub import HubNeed, check_hub_needs, hub_reachable, is_cached

KOBEST = HubNeed("skt/kobest_v1", "dataset", "KoBEST data", "--kobest-dir DIR")
MODEL = HubNeed("someone/some-model", "model", "model", "a local folder")


@pytest.fixture
def hub_refused(monkeypatch, tmp_path):
    """The hub's address refuses connections (no network needed), nothing is cached, no flag set."""
    from huggingface_hub import constants

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(hub, "_reachable", {})
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    return tmp_path / "hf"


@pytest.fixture
def no_loading(monkeypatch):
    """Loading anything from the hub fails the test: the check must come first."""
    import datasets
    import transformers

    def refuse(*args, **kwargs):
        raise AssertionError("loaded before the offline check")

    monkeypatch.setattr(datasets, "load_dataset", refuse)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", refuse)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", refuse)


def cache(root, repo_id: str, repo_type: str) -> None:
    snapshot = root / "hub" / f"{repo_type}s--{repo_id.replace('/', '--')}" / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")


def test_reachability_is_one_short_request_cached_per_process(hub_refused, monkeypatch):
    import http.server
    import threading

    assert hub_reachable() is False
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)  # answers 501
    threading.Thread(target=server.handle_request, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    assert hub_reachable() is True  # any HTTP answer: the hub is there
    server.server_close()
    assert hub_reachable() is True  # asked once per process and endpoint


def test_a_listener_that_is_no_web_server_is_not_the_hub(hub_refused, monkeypatch):
    with socket.socket() as server:  # accepts the connection, never answers HTTP
        server.bind(("127.0.0.1", 0))
        server.listen()
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        started = time.monotonic()
        assert hub_reachable(timeout=0.5) is False
        assert time.monotonic() - started < 1.5  # the timeout bounds it


def test_missing_ids_are_listed_together_with_what_replaces_them(hub_refused):
    with pytest.raises(ConfigError) as error:
        check_hub_needs([KOBEST, MODEL, KOBEST], command="eval")
    message = str(error.value)
    assert message.startswith(
        f"the Hugging Face hub ({os.environ['HF_ENDPOINT']}) cannot be reached, and 2 hub id(s) this eval needs"
    )
    assert "  skt/kobest_v1 (KoBEST data): --kobest-dir DIR\n  someone/some-model (model): a local folder" in message


def test_the_offline_flag_is_named(hub_refused, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://unused.invalid")  # not even asked
    with pytest.raises(ConfigError, match=r"^HF_HUB_OFFLINE is set, and 1 hub id\(s\) this train needs"):
        check_hub_needs([MODEL], command="train")
    assert hub._reachable == {}


def test_cached_ids_pass_and_the_libraries_go_offline(hub_refused, monkeypatch):
    from huggingface_hub import constants

    cache(hub_refused, MODEL.repo_id, "model")
    prepared = hub_refused / "datasets" / "skt___kobest_v1"  # datasets' own prepared copy
    prepared.mkdir(parents=True)
    (prepared / "dataset_info.json").write_text("{}")
    assert is_cached(MODEL.repo_id, "model") and is_cached(KOBEST.repo_id, "dataset")
    assert not is_cached("someone/other", "model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # restored after the test
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    said = []
    check_hub_needs([MODEL, KOBEST], command="eval", say=said.append)
    assert constants.HF_HUB_OFFLINE is True
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert said == [
        f"polyplatypus eval: the Hugging Face hub ({os.environ['HF_ENDPOINT']}) cannot be reached; reading "
        "someone/some-model, skt/kobest_v1 from the local cache (offline mode)"
    ]


def test_nothing_needed_asks_nothing(hub_refused):
    check_hub_needs([], command="eval")
    assert hub._reachable == {}


def test_eval_reports_model_and_kobest_before_loading(hub_refused, no_loading, monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("POLYPLATYPUS_KOBEST_DIR", raising=False)
    code = main(
        [
            "eval",
            "--model",
            "someone/some-model",
            "--tasks",
            "kobest_copa",
            "--shots",
            "0",
            "--output",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "2 hub id(s) this eval needs" in err, err
    assert "someone/some-model (model): give a local model folder to --model [LABEL=]DIR" in err
    assert "skt/kobest_v1 (KoBEST data): --kobest-dir DIR or $POLYPLATYPUS_KOBEST_DIR" in err
    assert not (tmp_path / "out").exists()


def test_train_and_curate_report_before_loading(hub_refused, no_loading, tmp_path, capsys):
    assert (
        main(
            [
                "train",
                "--base",
                "someone/some-model",
                "--data",
                "someone/some-data",
                "--output",
                str(tmp_path / "adapter"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "someone/some-model (model): give a local base model folder to --base" in err
    assert "someone/some-data (instruction data): a local .jsonl/.json/.parquet file" in err
    assert (
        main(
            [
                "data",
                "curate",
                "--data",
                "someone/some-data",
                "--output",
                str(tmp_path / "c.jsonl"),
                "--decontaminate",
                "kobest",
                "--kobest-dir",
                "builtin:kobest_sample",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "1 hub id(s) this data curate needs" in err and "someone/some-data (instruction data)" in err


def test_a_recipe_lists_every_stage_s_needs_before_the_run_directory_is_made(
    hub_refused, no_loading, tmp_path, monkeypatch, capsys
):
    monkeypatch.delenv("POLYPLATYPUS_KOBEST_DIR", raising=False)
    run_dir = tmp_path / "run"
    code = main(["run", "poly-platypus-ko-1.3b", "--run-dir", str(run_dir), "--until", "eval"])
    err = capsys.readouterr().err
    assert code == 2 and "3 hub id(s) this run needs" in err, err
    assert "EleutherAI/polyglot-ko-1.3b (model): --set base.model=DIR" in err
    assert "kyujinpy/KOpen-platypus (instruction data): --set data.sources=[FILE]" in err
    assert "skt/kobest_v1 (KoBEST data (decontamination)): --set eval.kobest_dir=DIR" in err
    assert not run_dir.exists()


def test_lm_eval_tasks_name_their_hub_datasets(lm_eval_tasks):
    from polyplatypus.tasks.lm_eval_tasks import hub_datasets

    include = [str(lm_eval_tasks)]
    assert {dataset for _, dataset in hub_datasets("lm_eval:kobest", include)} == {"skt/kobest_v1"}
    assert len(hub_datasets("lm_eval:kobest", include)) == 5  # the group's five tasks
    assert hub_datasets("lm_eval:haerae_local", include) == []  # dataset_path: a local builder
