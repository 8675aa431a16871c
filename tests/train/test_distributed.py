"""The same command under torchrun: 2 CPU processes (gloo) train one adapter, equal to one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from polyplatypus.train import train


@pytest.mark.slow  # about 10 s: two extra Python processes; runs in CI like every other test
def test_two_process_torchrun_gives_one_adapter_equal_to_a_single_process_run(small_run, tmp_path):
    settings = dict(max_steps=3, save_steps=2, lora_dropout=0.0, micro_batch_size=1)
    config = small_run("ddp", **settings)
    flags = [
        f"--{key.replace('_', '-')}={value}"
        for key, value in config.model_dump(exclude_defaults=True).items()
        if key != "report_to"
    ] + ["--report-to", "none"]
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "polyplatypus.cli",
        "train",
        *flags,
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    output = Path(config.output)
    summary = json.loads((output / "train_summary.json").read_text(encoding="utf-8"))
    assert summary["world_size"] == 2 and summary["steps"] == 3 and summary["examples"] == 12
    assert summary["gradient_accumulation_steps"] == 2  # batch 4 = 2 processes x micro batch 1 x 2
    assert sorted(p.name for p in output.glob("adapter_model*")) == ["adapter_model.safetensors"]
    checkpoint = output / "checkpoints" / "checkpoint-2"
    assert sorted(p.name for p in checkpoint.glob("random_states_*")) == ["random_states_0.pkl", "random_states_1.pkl"]

    single = train(small_run("single", **settings))
    assert single["world_size"] == 1
    assert abs(single["final_loss"] - summary["final_loss"]) < 1e-5
    a = load_file(output / "adapter_model.safetensors")
    b = load_file(Path(small_run("single").output) / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-3, atol=2e-5)
