"""The results store: the one owner of what an evaluation folder holds (paths, reuse key, the
config block of results.json, reading a folder back for the report)."""

from __future__ import annotations

import json

import pytest

from polyplatypus.errors import DataError
from polyplatypus.eval.config import EvalConfig
from polyplatypus.eval.models import ModelSpec
from polyplatypus.eval.store import ResultsStore, folder_settings, public_record

SPEC = ModelSpec(label="org/m", path="/models/m")
SETTINGS = folder_settings(limit=4, dtype="auto", data_source="/data/kobest", scorer="shared")


def test_results_config_block_is_every_recorded_evalconfig_field():
    config = EvalConfig(
        models=["base=/m/a", "/m/b"], tasks="copa", shots="0,5", limit=3, output="out", log_samples=True, progress=False
    )
    block = config.recorded(data_source="/data/kobest")
    recorded = [name for name in EvalConfig.model_fields if name not in EvalConfig.UNRECORDED]
    # a field added to EvalConfig is recorded without touching the writer
    assert list(block) == recorded + ["data_source"]
    assert block["models"] == [
        {"label": "base", "path": "/m/a"},
        {"label": "/m/b", "path": "/m/b"},
    ]  # no such folder: the label is the id
    assert block["tasks"] == ["kobest_copa"] and block["shots"] == [0, 5] and block["limit"] == 3
    # the block as results.json has held it since 0.1.0 (readers of older folders rely on the names),
    # then what later versions added
    assert list(block) == [
        "models",
        "tasks",
        "shots",
        "limit",
        "dtype",
        "device",
        "device_map",
        "batch_size",
        "scorer",
        "include_path",
        "gen_kwargs",
        "predict_only",
        "apply_chat_template",
        "fewshot_as_multiturn",
        "system_instruction",
        "think_end_token",
        "enable_thinking",
        "chat_template_args",
        "near_ties",
        "data_source",
    ]


def test_a_cell_is_reused_only_under_its_whole_key(tmp_path):
    store = ResultsStore(tmp_path)
    key = ResultsStore.key(SPEC, "kobest_copa", 5, SETTINGS)
    cell = {"model": SPEC.label, **key, "macro_f1": 0.5, "golds": [0, 1], "preds": [1, 1]}
    written = store.write_cell(SPEC, "kobest_copa", 5, cell, samples=[{"doc_index": 0}])
    assert store.cell_path(SPEC, "kobest_copa", 5) == tmp_path / "cells" / "org__m" / "kobest_copa_5shot.json"
    assert store.reusable_cell(SPEC, "kobest_copa", 5, key, with_samples=True) == written
    for name, other in (
        ("limit", 5),
        ("dtype_requested", "float16"),
        ("data_source", "/else"),
        ("scorer", "reference"),
    ):
        assert store.reusable_cell(SPEC, "kobest_copa", 5, {**key, name: other}, with_samples=False) is None
    # samples asked for but changed since the cell recorded their checksum: scored again
    store.samples_path(SPEC, "kobest_copa", 5).write_text('{"doc_index": 1}\n')
    assert store.reusable_cell(SPEC, "kobest_copa", 5, key, with_samples=True) is None
    assert "golds" not in public_record(written) and "samples_sha256" not in public_record(written)


def test_mixing_is_refused_or_discarded(tmp_path):
    store = ResultsStore(tmp_path)
    key = ResultsStore.key(SPEC, "kobest_copa", 0, SETTINGS)
    store.write_cell(SPEC, "kobest_copa", 0, {"model": SPEC.label, **key}, samples=[{"doc_index": 0}])
    store.refuse_mixing([SPEC], SETTINGS)  # same settings: fine
    moved = ModelSpec(label=SPEC.label, path="/models/other")
    with pytest.raises(Exception, match="model_path '/models/m'"):
        store.refuse_mixing([moved], SETTINGS)
    assert store.discard_made_otherwise([SPEC], {**SETTINGS, "limit": None}) == [
        store.cell_path(SPEC, "kobest_copa", 0)
    ]
    assert not store.samples_path(SPEC, "kobest_copa", 0).exists()


def test_read_back_for_the_report(tmp_path):
    store = ResultsStore(tmp_path)
    record = {"model": "m", "task": "kobest_copa", "shots": 0, "macro_f1": 0.5, "n": 2, "limit": None}
    store.write_cell(ModelSpec("m", "/m"), "kobest_copa", 0, {**record, "golds": [0, 1], "preds": [0, 0]}, None)
    store.write_results([record], config={"shots": [0]}, versions={}, tables="")
    assert ResultsStore.find(tmp_path) == [tmp_path / "results.json"]
    folder = store.read()
    cell, stale = folder.cell_for(record)
    assert cell["golds"] == [0, 1] and stale is None
    assert folder.cell_for({**record, "n": 3})[1] == "n 2 (results.json: 3)"
    (tmp_path / "results.json").write_text(json.dumps({"results": [{"model": "m"}]}))
    with pytest.raises(DataError, match="task"):
        store.read()
