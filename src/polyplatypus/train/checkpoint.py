"""Training checkpoints: ``<output>/checkpoints/checkpoint-<step>/``.

A checkpoint holds what an exact resume needs: the adapter weights (PEFT layout, in
``adapter/``), the optimizer, scheduler and every process's random-number states (saved by
Accelerate), and ``trainer_state.json`` (step, counters, loss log, the config). It is written
under a temporary name and renamed when complete, so an interrupted save is never resumed from.
Under DeepSpeed or FSDP Accelerate saves the (sharded) model itself instead of ``adapter/``.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

from polyplatypus.utils.io import atomic_write_json, sha256_file, writing
from polyplatypus.utils.outputs import remove_temporaries

STATE_FILE = "trainer_state.json"
CHECKPOINTS_DIR = "checkpoints"
_NAME = re.compile(r"^checkpoint-(\d+)$")
_PARTIAL = re.compile(r"^checkpoint-(\d+)\.partial$")


def checkpoint_dir(output: str | Path) -> Path:
    return Path(output) / CHECKPOINTS_DIR


def remove_leftovers(output: str | Path) -> None:
    """Clear what an interrupted run left half-written: checkpoints being saved and the atomic
    writers' temporary files. Only while holding the output's lock (no one else is writing)."""
    root = checkpoint_dir(output)
    if root.is_dir():
        for path in root.iterdir():
            if _PARTIAL.match(path.name) and path.is_dir():
                shutil.rmtree(path)
    remove_temporaries(output)


def data_sha256(source: str | Path, *, skip_invalid: bool = False, conversations: bool = False) -> str:
    """Content hash of the training data: a local file's bytes (as ``sha256sum`` prints it), or
    for a hub dataset its records, one canonical JSON line each."""
    from polyplatypus.data.instructions import load_instructions, source_kind
    from polyplatypus.utils.builtin import resolve_builtin

    if source_kind(source) == "file":
        return sha256_file(resolve_builtin(str(source)))
    digest = hashlib.sha256()
    for record in load_instructions(source, skip_invalid=skip_invalid, conversations=conversations):
        digest.update((json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8"))
    return digest.hexdigest()


def list_checkpoints(output: str | Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    root = checkpoint_dir(output)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _NAME.match(p.name)) and (p / STATE_FILE).is_file()]
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
    # a full disk or read-only output: an error naming the checkpoint, the half-saved one removed
    with writing(partial, cleanup=lambda: shutil.rmtree(partial, ignore_errors=True)):
        accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        with writing(partial, cleanup=lambda: shutil.rmtree(partial, ignore_errors=True)):
            atomic_write_json(partial / STATE_FILE, state)
        if final.exists():
            shutil.rmtree(final)
        partial.rename(final)
        for old in list_checkpoints(output)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final
