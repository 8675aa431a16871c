"""merge checks that its base is the model the adapter was trained on (train records its fingerprint)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from polyplatypus.cli import main
from polyplatypus.errors import ConfigError
from polyplatypus.models.fingerprint import model_fingerprint
from polyplatypus.train import TrainConfig, merge, train


@pytest.fixture(scope="module")
def adapter(tmp_path_factory, tiny_gptneox_dir, ko_data):
    output = tmp_path_factory.mktemp("adapter") / "run"
    train(
        TrainConfig(
            base=str(tiny_gptneox_dir),
            data=str(ko_data),
            output=str(output),
            batch_size=4,
            max_steps=1,
            warmup_steps=0,
            cutoff_len=128,
            prompt_template="korean",
            report_to=[],
        )
    )
    return output


@pytest.fixture
def changed_base(tmp_path, tiny_gptneox_dir):
    """A copy of the base with one weight changed: the same name, config and tokenizer, another model."""
    from transformers import AutoModelForCausalLM

    folder = tmp_path / "base"
    shutil.copytree(tiny_gptneox_dir, folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    with torch.no_grad():
        next(model.parameters()).add_(0.01)
    model.save_pretrained(folder)
    return folder


def test_merge_refuses_another_base_naming_both_fingerprints(adapter, changed_base, tmp_path, tiny_gptneox_dir):
    recorded = json.loads((adapter / "train_summary.json").read_text())["base_fingerprint"]
    assert recorded == model_fingerprint(tiny_gptneox_dir)
    other = model_fingerprint(changed_base)
    with pytest.raises(ConfigError) as refused:
        merge(adapter, tmp_path / "merged", base=str(changed_base))
    assert recorded in str(refused.value) and other in str(refused.value)
    assert "--allow-base-mismatch" in str(refused.value)
    assert not (tmp_path / "merged").exists() and not (tmp_path / "merged.partial").exists()

    merged = merge(adapter, tmp_path / "merged", base=str(changed_base), allow_base_mismatch=True)
    meta = json.loads((merged / "polyplatypus.json").read_text())
    assert meta["base_fingerprint"] == other and meta["adapter_base_fingerprint"] == recorded
    assert "allow-base-mismatch" in meta["base_check"]


def test_merge_records_the_same_base(adapter, tmp_path, tiny_gptneox_dir):
    meta = json.loads((merge(adapter, tmp_path / "merged") / "polyplatypus.json").read_text())
    assert meta["base_check"] == "same base"
    assert meta["base_fingerprint"] == meta["adapter_base_fingerprint"] == model_fingerprint(tiny_gptneox_dir)


def test_merge_cli_flag_and_unrecorded_adapter_warns(adapter, changed_base, tmp_path, capsys):
    argv = ["merge", "--adapter", str(adapter), "--base", str(changed_base), "--output", str(tmp_path / "m")]
    assert main(argv) == 2
    assert "not the model" in capsys.readouterr().err
    assert main(argv + ["--allow-base-mismatch"]) == 0

    downloaded = tmp_path / "downloaded"
    shutil.copytree(adapter, downloaded, ignore=shutil.ignore_patterns("train_summary.json", "checkpoints"))
    assert (
        main(["merge", "--adapter", str(downloaded), "--base", str(changed_base), "--output", str(tmp_path / "m2")])
        == 0
    )
    err = capsys.readouterr().err
    assert "warning" in err and "records no base_fingerprint" in err and str(changed_base) in err
    assert json.loads((tmp_path / "m2" / "polyplatypus.json").read_text())["adapter_base_fingerprint"] is None
