"""benchmarks/gpu_train.py, the GPU fine-tuning benchmark, keeps working: its tiny layout runs on CPU."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_train.py"


@pytest.fixture(scope="module")
def gpu_train():
    spec = importlib.util.spec_from_file_location("gpu_train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_train_runs_its_tiny_layout_on_cpu(gpu_train, tmp_path, polyglot_tokenizer_dir):
    status = gpu_train.main(
        [
            "--layout",
            "tiny",
            "--variant",
            "plain",
            "--variant",
            "packed",
            "--variant",
            "long+gc",
            "--steps",
            "2",
            "--out",
            str(tmp_path),
            "--tokenizer",
            str(polyglot_tokenizer_dir),
        ]
    )
    assert status == 0
    rows = json.loads((tmp_path / "train.json").read_text(encoding="utf-8"))
    assert [r["variant"] for r in rows] == ["plain", "packed", "long+gc"]
    for row in rows:
        assert row["steps"] == 2 and row["tokens_per_s"] > 0 and row["model_tflops"] > 0
        assert all(math.isfinite(x) and 9 < x < 11 for x in row["step_losses"])  # ~ln(30080) at random weights
    assert rows[2]["tokens_per_step"] == 2 * 128  # long examples fill the (tiny) cutoff
    # same examples, same objective: packing changes nothing but speed (LoRA B starts at zero)
    assert rows[1]["max_loss_difference_vs_plain"] < 1e-4
    assert rows[1]["top_kernels"] and (tmp_path / "profile-tiny-packed.txt").is_file()
