"""Training checkpoints: ``<output>/checkpoints/checkpoint-<step>/``.

A checkpoint holds what an exact resume needs: the adapter weights (PEFT layout, in
``adapter/``), the optimizer, scheduler and every process's random-number states (saved by
Accelerate), and ``trainer_state.json`` (step, counters, loss log, the config). It is written
under a temporary name and renamed when complete, so an interrupted save is never resumed from.
Under DeepSpeed or FSDP Accelerate saves the (sharded) model itself instead of ``adapter/``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from polyplatypus.utils.io import atomic_write_json

STATE_FILE = "trainer_state.json"
_NAME = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_dir(output: str | Path) -> Path:
    return Path(output) / "checkpoints"


def list_checkpoints(output: str | Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    root = checkpoint_dir(output)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir()
             if (m := _NAME.match(p.name)) and (p / STATE_FILE).is_file()]
    return [p for _, p in sorted(found)]


def latest_checkpoint(output: str | Path) -> Path | None:
    checkpoints = list_checkpoints(output)
    return checkpoints[-1] if checkpoints else None


def read_state(path: str | Path) -> dict[str, Any]:
    return json.loads((Path(path) / STATE_FILE).read_text(encoding="utf-8"))


def _uses_own_model_saving(accelerator) -> bool:
    from accelerate.utils import DistributedType

    return accelerator.distributed_type in (DistributedType.DEEPSPEED, DistributedType.FSDP)


def install_adapter_hooks(accelerator) -> None:
    """Make ``save_state``/``load_state`` store only the trainable (adapter) weights, not the
    frozen base model, except under DeepSpeed / FSDP where Accelerate's own sharded saving runs."""
    if _uses_own_model_saving(accelerator):
        return

    def save_hook(models, weights, output_dir):
        while weights:
            weights.pop()
        if accelerator.is_main_process:
            for model in models:
                accelerator.unwrap_model(model).save_pretrained(Path(output_dir) / "adapter")

    def load_hook(models, input_dir):
        from peft.utils import set_peft_model_state_dict
        from safetensors.torch import load_file

        while models:
            model = accelerator.unwrap_model(models.pop())
            state = load_file(str(Path(input_dir) / "adapter" / "adapter_model.safetensors"))
            result = set_peft_model_state_dict(model, state)
            unexpected = getattr(result, "unexpected_keys", [])
            if unexpected:
                raise RuntimeError(f"checkpoint {input_dir} holds weights this model lacks: {unexpected[:3]}")

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)


def save_checkpoint(accelerator, output: str | Path, step: int, state: dict[str, Any], *, keep: int) -> Path:
    """Save everything needed to resume after ``step``; keep the newest ``keep`` checkpoints."""
    root = checkpoint_dir(output)
    final = root / f"checkpoint-{step}"
    partial = root / f"checkpoint-{step}.partial"
    if accelerator.is_main_process and partial.exists():
        shutil.rmtree(partial)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        atomic_write_json(partial / STATE_FILE, state)
        if final.exists():
            shutil.rmtree(final)
        partial.rename(final)
        for old in list_checkpoints(output)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final
