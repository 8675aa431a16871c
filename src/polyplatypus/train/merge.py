"""Merge a LoRA adapter into its base model: a standalone model for ``from_pretrained`` and eval.

The merged folder holds the model (safetensors, sharded above ``max_shard_size``), the
tokenizer (taken from the adapter folder, where ``train`` puts it, else from the base) and
``polyplatypus.json`` naming the base, the adapter and the prompt template it was trained with.
It is written as ``<output>.partial`` and renamed when complete, so an interrupted merge leaves no
folder that looks like a model; ``--overwrite`` replaces only an earlier merged model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from polyplatypus.errors import ConfigError
from polyplatypus.models.adapters import adapter_base  # noqa: F401  (used from here by generate)
from polyplatypus.models.integrity import check_model_folder
from polyplatypus.models.loading import DTYPES, load_causal_lm, load_tokenizer
from polyplatypus.train.lora import load_adapter
from polyplatypus.utils import outputs
from polyplatypus.utils.io import atomic_write_json, writing

METADATA_FILE = "polyplatypus.json"


def trained_template(folder: str | Path) -> str | None:
    """The prompt template a model or adapter folder was trained with, if it records one."""
    return trained_setting(folder, "prompt_template")


def trained_setting(folder: str | Path, key: str):
    """A training setting (``prompt_template``, ``system_prompt``) a merged model's metadata or an
    adapter folder's ``train_config.yaml`` records; None when neither does."""
    folder = Path(folder)
    meta = folder / METADATA_FILE
    if meta.is_file():
        return json.loads(meta.read_text(encoding="utf-8")).get(key)
    config = folder / "train_config.yaml"
    if config.is_file():
        import yaml

        return (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get(key)
    return None


def merge(
    adapter: str | Path,
    output: str | Path,
    *,
    base: str | None = None,
    dtype: str = "auto",
    max_shard_size: str | int = "5GB",
    device_map: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Load ``base`` (default: the adapter's recorded base), apply ``adapter``, fold the LoRA
    weights in (``merge_and_unload``) and save the result with its tokenizer to ``output``.

    ``dtype``: ``auto`` keeps the base checkpoint's dtype; or ``float32``/``bfloat16``/``float16``.
    """
    adapter, output = Path(adapter), Path(output)
    base = base or adapter_base(adapter)
    if not (adapter / "adapter_config.json").is_file():
        raise ConfigError(f"{adapter}: not a LoRA adapter folder (no adapter_config.json)")
    check_model_folder(adapter)  # before the base model is loaded
    # a folder that is not a merged model is never replaced, --overwrite or not
    outputs.check_folder(output, command="merge", own=(METADATA_FILE,))
    partial = outputs.check_folder(output.with_name(output.name + ".partial"), command="merge",
                                   own=(METADATA_FILE, "config.json"))
    if output.exists() and outputs.visible_entries(output) and not overwrite:
        raise ConfigError(f"{output} already exists and is not empty; choose another --output or pass --overwrite")
    if dtype not in DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    with outputs.hold(output, "merge", beside=True):  # beside: the folder is replaced as a whole
        _merge_into(adapter, output, partial, base=base, dtype=dtype, max_shard_size=max_shard_size,
                    device_map=device_map)
    return output


def _merge_into(adapter: Path, output: Path, partial: Path, *, base: str, dtype: str, max_shard_size,
                device_map) -> None:
    model = load_causal_lm(base, dtype=dtype, device_map=device_map or None)
    model = load_adapter(model, adapter).merge_and_unload()
    tokenizer_source = adapter if (adapter / "tokenizer_config.json").is_file() else base
    tokenizer = load_tokenizer(tokenizer_source)

    if partial.exists():
        shutil.rmtree(partial)
    # a full disk or read-only output: an error naming the file, the partial folder removed
    with writing(partial, cleanup=lambda: shutil.rmtree(partial, ignore_errors=True)):
        model.save_pretrained(partial, max_shard_size=max_shard_size)
        tokenizer.save_pretrained(partial)
        atomic_write_json(partial / METADATA_FILE, {
            "base": base, "adapter": str(adapter), "prompt_template": trained_template(adapter) or "alpaca",
            "system_prompt": trained_setting(adapter, "system_prompt"),
        })
    if output.exists():
        shutil.rmtree(output)
    partial.rename(output)
