"""Damaged model files are errors naming the file (exit 2, no traceback) in every command that
loads a model: eval, train, merge, generate."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from safetensors import SafetensorError
from safetensors.torch import load_file

from polyplatypus.cli import main
from polyplatypus.models.integrity import DamagedModelError, check_model_folder
from polyplatypus.models.loading import load_model, load_tokenizer

KO_DATA = Path(__file__).parents[1] / "train" / "data" / "ko_instructions.jsonl"


@pytest.fixture
def model_dir(tmp_path, tiny_gptneox_dir) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(tiny_gptneox_dir, folder)
    return folder


def truncate(path: Path, fraction: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def test_intact_fixture_passes(tiny_gptneox_dir):
    check_model_folder(tiny_gptneox_dir)


def test_truncated_safetensors_is_named_and_safetensors_itself_agrees(model_dir):
    weights = model_dir / "model.safetensors"
    truncate(weights)
    with pytest.raises(SafetensorError):  # what the check stands in for
        load_file(str(weights))
    with pytest.raises(DamagedModelError, match=f"{weights}: truncated: its header lists"):
        check_model_folder(model_dir)


@pytest.mark.parametrize("keep", [4, 20])
def test_header_cut_short(model_dir, keep):
    weights = model_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:keep])
    with pytest.raises(DamagedModelError, match=f"{weights}: truncated"):
        check_model_folder(model_dir)


def test_malformed_header_and_extra_bytes(model_dir):
    weights = model_dir / "model.safetensors"
    data = bytearray(weights.read_bytes())
    weights.write_bytes(bytes(data) + b"\0" * 16)
    with pytest.raises(SafetensorError):
        load_file(str(weights))
    with pytest.raises(DamagedModelError, match="longer than its header says"):
        check_model_folder(model_dir)
    data[9] = ord("!")  # inside the JSON header
    weights.write_bytes(bytes(data))
    with pytest.raises(DamagedModelError, match="malformed safetensors header"):
        check_model_folder(model_dir)


def test_missing_shard(model_dir):
    (model_dir / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model.safetensors"}})
    )
    with pytest.raises(DamagedModelError, match="model-00001-of-00002.safetensors, which is missing"):
        check_model_folder(model_dir)


@pytest.mark.parametrize("name", ["config.json", "tokenizer.json", "tokenizer_config.json"])
def test_bad_json(model_dir, name):
    truncate(model_dir / name, 0.6)
    with pytest.raises(DamagedModelError, match=rf"{re.escape(str(model_dir / name))}: not (valid JSON|UTF-8 text)"):
        check_model_folder(model_dir)


def test_tokenizer_load_checks_only_tokenizer_files(model_dir):
    truncate(model_dir / "model.safetensors")
    load_tokenizer(str(model_dir))  # the weights are not the tokenizer's business
    truncate(model_dir / "tokenizer.json")
    with pytest.raises(DamagedModelError, match="tokenizer.json"):
        load_tokenizer(str(model_dir))


def test_truncated_torch_zip(model_dir):
    import torch

    weights = model_dir / "pytorch_model.bin"
    torch.save({"w": torch.zeros(64)}, weights)
    check_model_folder(model_dir)
    truncate(weights)
    with pytest.raises(DamagedModelError, match="pytorch_model.bin: truncated or damaged"):
        check_model_folder(model_dir)


def test_load_model_names_the_file(model_dir):
    truncate(model_dir / "model.safetensors")
    with pytest.raises(DamagedModelError, match="model.safetensors"):
        load_model(str(model_dir), device="cpu")


# --- through the command line: exit 2, the file named, no traceback -----------------------------


def assert_clean_error(capsys, code, path):
    err = capsys.readouterr().err
    assert code == 2, err
    assert str(path) in err and "Traceback" not in err


def test_eval_on_truncated_weights(model_dir, tmp_path, kobest_dir, capsys):
    truncate(model_dir / "model.safetensors")
    code = main(
        [
            "eval",
            "--model",
            f"m={model_dir}",
            "--tasks",
            "kobest_copa",
            "--shots",
            "0",
            "--limit",
            "2",
            "--kobest-dir",
            str(kobest_dir),
            "--output",
            str(tmp_path / "out"),
            "--no-progress",
        ]
    )
    assert_clean_error(capsys, code, model_dir / "model.safetensors")


def test_train_on_truncated_weights(model_dir, tmp_path, capsys):
    truncate(model_dir / "model.safetensors")
    code = main(
        [
            "train",
            "--base",
            str(model_dir),
            "--data",
            str(KO_DATA),
            "--output",
            str(tmp_path / "run"),
            "--max-steps",
            "1",
            "--report-to",
            "none",
        ]
    )
    assert_clean_error(capsys, code, model_dir / "model.safetensors")


def test_train_on_bad_config(model_dir, tmp_path, capsys):
    truncate(model_dir / "config.json")
    code = main(
        [
            "train",
            "--base",
            str(model_dir),
            "--data",
            str(KO_DATA),
            "--output",
            str(tmp_path / "run"),
            "--max-steps",
            "1",
            "--report-to",
            "none",
        ]
    )
    assert_clean_error(capsys, code, model_dir / "config.json")


def test_merge_on_truncated_base_and_adapter(model_dir, tmp_path, capsys):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(model_dir)}))
    shutil.copy(model_dir / "model.safetensors", adapter / "adapter_model.safetensors")
    truncate(adapter / "adapter_model.safetensors")
    assert_clean_error(
        capsys,
        main(["merge", "--adapter", str(adapter), "--output", str(tmp_path / "m")]),
        adapter / "adapter_model.safetensors",
    )
    (adapter / "adapter_model.safetensors").unlink()
    truncate(model_dir / "model.safetensors")
    assert_clean_error(
        capsys,
        main(["merge", "--adapter", str(adapter), "--output", str(tmp_path / "m")]),
        model_dir / "model.safetensors",
    )
    assert not (tmp_path / "m").exists() and not (tmp_path / "m.partial").exists()
    (adapter / "adapter_config.json").write_text("{")
    assert_clean_error(
        capsys,
        main(["merge", "--adapter", str(adapter), "--output", str(tmp_path / "m")]),
        adapter / "adapter_config.json",
    )


def test_generate_on_truncated_weights(model_dir, capsys):
    truncate(model_dir / "model.safetensors")
    code = main(["generate", "--model", str(model_dir), "--instruction", "안녕", "--max-new-tokens", "2"])
    assert_clean_error(capsys, code, model_dir / "model.safetensors")
