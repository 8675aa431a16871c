"""What an adapter folder says about itself, read before any model loads: is it one, is it LoRA,
which base it was trained on, and the end-of-turn tokens it was trained to stop at.

``train`` writes PEFT's ``adapter_config.json`` (its ``base_model_name_or_path`` is the base as
given to ``train``), the tokenizer, ``train_summary.json`` and, after chat training,
``generation_config.json`` whose ``eos_token_id`` lists the template's end-of-turn token.
"""

from __future__ import annotations

from pathlib import Path

from polyplatypus.errors import ConfigError
from polyplatypus.models.integrity import read_json_object

ADAPTER_CONFIG = "adapter_config.json"
GENERATION_CONFIG = "generation_config.json"


def is_adapter_folder(path: str | Path) -> bool:
    """A local folder holding an adapter and no full model (``adapter_config.json``, no ``config.json``)."""
    folder = Path(str(path)).expanduser()
    return (folder / ADAPTER_CONFIG).is_file() and not (folder / "config.json").is_file()


def adapter_config(adapter: str | Path) -> dict:
    """The adapter's ``adapter_config.json``; an error when it is missing or names another PEFT
    method than LoRA (those are neither trained nor scored here)."""
    path = Path(str(adapter)).expanduser() / ADAPTER_CONFIG
    if not path.is_file():
        raise ConfigError(f"{adapter}: not a LoRA adapter folder (no {ADAPTER_CONFIG})")
    config = read_json_object(path)
    kind = config.get("peft_type")
    if kind is not None and str(kind).upper() != "LORA":  # none named: PEFT itself says what is missing
        raise ConfigError(
            f"{path}: peft_type {config.get('peft_type')!r}; only LoRA adapters are supported "
            "(merge it with PEFT yourself and give the merged model)"
        )
    return config


def adapter_base(adapter: str | Path) -> str:
    """The base model recorded in an adapter's ``adapter_config.json``."""
    base = adapter_config(adapter).get("base_model_name_or_path")
    if not base:
        raise ConfigError(f"{Path(str(adapter)) / ADAPTER_CONFIG}: names no base model; give --base")
    return base


def stop_token_ids(generation_config) -> list[int]:
    """A generation config's ``eos_token_id`` as a list (it may be one id, a list or unset)."""
    eos = getattr(generation_config, "eos_token_id", None)
    if eos is None:
        return []
    return [int(i) for i in eos] if isinstance(eos, (list, tuple)) else [int(eos)]


def add_stop_tokens(generation_config, ids) -> None:
    """Make ``ids`` end generation too (after those the config already has, each once)."""
    generation_config.eos_token_id = list(dict.fromkeys(stop_token_ids(generation_config) + [int(i) for i in ids]))


def adapter_stop_tokens(adapter: str | Path) -> list[int]:
    """The end-of-generation ids an adapter folder records (``generation_config.json``), if any."""
    path = Path(str(adapter)).expanduser() / GENERATION_CONFIG
    if not path.is_file():
        return []
    eos = read_json_object(path).get("eos_token_id")
    if eos is None:
        return []
    return [int(i) for i in eos] if isinstance(eos, list) else [int(eos)]
