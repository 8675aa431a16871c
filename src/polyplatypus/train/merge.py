"""Merge a LoRA adapter into its base model: a standalone model for ``from_pretrained`` and eval.

The merged folder holds the model (safetensors, sharded above ``max_shard_size``), the
tokenizer (taken from the adapter folder, where ``train`` puts it, else from the base) and
``polyplatypus.json`` naming the base, the adapter and the prompt template it was trained with,
and how far merging moved the logits (``logit_change``: measured, as merging into bf16/fp16
weights can round a small LoRA delta away).
It is written as ``<output>.partial`` and renamed when complete, so an interrupted merge leaves no
folder that looks like a model; ``--overwrite`` replaces only an earlier merged model.

The base must be the model the adapter was trained on: ``train`` records its fingerprint
(``base_fingerprint`` in ``train_summary.json``); a base whose fingerprint differs (another
model, or the same folder replaced in place) is refused, naming both, unless
``allow_base_mismatch``; an adapter without that record (downloaded, or written by another tool)
is merged with a warning. ``polyplatypus.json`` records both fingerprints and the outcome.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from polyplatypus.errors import ConfigError
from polyplatypus.models.adapters import adapter_base  # noqa: F401  (used from here by generate)
from polyplatypus.models.fingerprint import fingerprint_as_recorded, model_fingerprint
from polyplatypus.models.integrity import check_model_folder, read_json_object
from polyplatypus.models.loading import DTYPES, fit_embeddings, load_causal_lm, load_tokenizer, model_dtype_name
from polyplatypus.train.lora import load_adapter
from polyplatypus.utils import outputs
from polyplatypus.utils.io import atomic_write_json, writing

METADATA_FILE = "polyplatypus.json"
TRAIN_SUMMARY = "train_summary.json"  # written by train (train.recipe.SUMMARY_FILE)


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


def recorded_base_fingerprint(adapter: str | Path) -> str | None:
    """The fingerprint of the base ``train`` trained ``adapter`` on, if the adapter records it."""
    value = _train_summary(adapter).get("base_fingerprint")
    return value if isinstance(value, str) and value else None


def _train_summary(adapter: str | Path) -> dict:
    path = Path(adapter) / TRAIN_SUMMARY
    return read_json_object(path) if path.is_file() else {}


def check_base(adapter: Path, base: str, *, allow_mismatch: bool = False, warn=None) -> dict:
    """Compare ``base``'s fingerprint with the one recorded when ``adapter`` was trained.

    A mismatch is a :class:`ConfigError` naming both, unless ``allow_mismatch``; no record (or a
    hub id that cannot be resolved) is a warning naming what could not be checked. Returns what
    ``polyplatypus.json`` records: both fingerprints and ``base_check``."""
    warn = warn or (lambda message: print(f"polyplatypus merge: warning: {message}", file=sys.stderr, flush=True))
    recorded = recorded_base_fingerprint(adapter)
    current = model_fingerprint(base)
    record = {"base_fingerprint": current, "adapter_base_fingerprint": recorded}
    if recorded is None:
        warn(
            f"{adapter} records no base_fingerprint ({TRAIN_SUMMARY} missing or without it, e.g. a downloaded "
            f"adapter): cannot check that {base} is the model it was trained on"
        )
        return {**record, "base_check": "not recorded by the adapter"}
    if current is None:
        warn(
            f"cannot fingerprint {base} (a hub id neither the hub nor the local cache resolves): cannot check "
            f"it against the adapter's base_fingerprint {recorded}"
        )
        return {**record, "base_check": "base not fingerprinted"}
    if current == recorded or fingerprint_as_recorded(base, _train_summary(adapter), current) == recorded:
        return {**record, "base_check": "same base"}
    if not allow_mismatch:
        raise ConfigError(
            f"--base {base} is not the model {adapter} was trained on: its fingerprint is {current}, the adapter's "
            f"{TRAIN_SUMMARY} records base_fingerprint {recorded} (another model, or the base changed in place). "
            "Merge onto the original base, or pass --allow-base-mismatch to merge anyway (recorded in the output)"
        )
    warn(
        f"merging onto {base} although {adapter} was trained on another base ({recorded}, now {current}): "
        "--allow-base-mismatch"
    )
    return {**record, "base_check": "different base, merged with --allow-base-mismatch"}


def merge(
    adapter: str | Path,
    output: str | Path,
    *,
    base: str | None = None,
    dtype: str = "auto",
    max_shard_size: str | int = "5GB",
    device_map: str | None = None,
    overwrite: bool = False,
    allow_base_mismatch: bool = False,
) -> Path:
    """Load ``base`` (default: the adapter's recorded base), apply ``adapter``, fold the LoRA
    weights in (``merge_and_unload``) and save the result with its tokenizer to ``output``.

    ``dtype``: ``auto`` keeps the base checkpoint's dtype; or ``float32``/``bfloat16``/``float16``.
    ``allow_base_mismatch``: merge onto a base other than the one the adapter records (see :func:`check_base`).
    """
    adapter, output = Path(adapter), Path(output)
    base = base or adapter_base(adapter)
    if not (adapter / "adapter_config.json").is_file():
        raise ConfigError(f"{adapter}: not a LoRA adapter folder (no adapter_config.json)")
    check_model_folder(adapter)  # before the base model is loaded
    # a folder that is not a merged model is never replaced, --overwrite or not
    outputs.check_folder(output, command="merge", own=(METADATA_FILE,))
    partial = outputs.check_folder(
        output.with_name(output.name + ".partial"), command="merge", own=(METADATA_FILE, "config.json")
    )
    if output.exists() and outputs.visible_entries(output) and not overwrite:
        raise ConfigError(f"{output} already exists and is not empty; choose another --output or pass --overwrite")
    if dtype not in DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    base_record = check_base(adapter, base, allow_mismatch=allow_base_mismatch)  # before the model is loaded
    with outputs.hold(output, "merge", beside=True):  # beside: the folder is replaced as a whole
        _merge_into(
            adapter,
            output,
            partial,
            base=base,
            dtype=dtype,
            max_shard_size=max_shard_size,
            device_map=device_map,
            base_record=base_record,
        )
    return output


def _merge_into(
    adapter: Path, output: Path, partial: Path, *, base: str, dtype: str, max_shard_size, device_map, base_record: dict
) -> None:
    model = load_causal_lm(base, dtype=dtype, device_map=device_map or None)
    tokenizer_source = adapter if (adapter / "tokenizer_config.json").is_file() else base
    tokenizer = load_tokenizer(tokenizer_source)
    fit_embeddings(model, tokenizer)  # tokens added in training: the adapter's embeddings have their rows
    model, logit_change = merge_and_measure(load_adapter(model, adapter), tokenizer)

    if partial.exists():
        shutil.rmtree(partial)
    # a full disk or read-only output: an error naming the file, the partial folder removed
    with writing(partial, cleanup=lambda: shutil.rmtree(partial, ignore_errors=True)):
        model.save_pretrained(partial, max_shard_size=max_shard_size)
        tokenizer.save_pretrained(partial)
        atomic_write_json(
            partial / METADATA_FILE,
            {
                "base": base,
                "adapter": str(adapter),
                "prompt_template": trained_template(adapter) or "alpaca",
                **base_record,
                "logit_change": logit_change,
                "system_prompt": trained_setting(adapter, "system_prompt"),
            },
        )
    if output.exists():
        shutil.rmtree(output)
    partial.rename(output)


# What the merged model is checked on: a short instruction in the Platypus layout, in Korean.
PROBE_TEXT = "### 명령어:\n한국의 수도는 어디인가요?\n\n### 응답:\n한국의 수도는 서울이며, 인구는 약 940만 명입니다."


def merge_and_measure(adapted, tokenizer):
    """(merged model, how far merging moved its logits). The adapter's logits on a probe text
    (:data:`PROBE_TEXT`) are taken before the LoRA weights are folded in and compared with the
    merged model's: in float32 they agree to rounding, but merged into bf16/fp16 weights a small
    LoRA delta can partly round away, and this says by how much (``max_abs``: the largest
    |delta logit|; ``dtype``: the merged weights')."""
    import torch

    adapted.eval()  # no LoRA dropout in either forward pass
    ids = tokenizer(PROBE_TEXT, return_tensors="pt").input_ids.to(next(adapted.parameters()).device)
    with torch.no_grad():
        before = adapted(input_ids=ids).logits.float()
    merged = adapted.merge_and_unload()
    with torch.no_grad():
        after = merged(input_ids=ids).logits.float()
    return merged, {
        "max_abs": float((after - before).abs().max()),
        "dtype": model_dtype_name(merged),
        "probe_tokens": int(ids.shape[1]),
    }


def logit_change_message(output: str | Path) -> str:
    """One line for the ``merge`` command: how far merging moved the logits (from the metadata)."""
    meta = Path(output) / METADATA_FILE
    change = (read_json_object(meta).get("logit_change") or {}) if meta.is_file() else {}
    if "max_abs" not in change:
        return ""
    return (
        f"merging into {change['dtype']} moved the logits by at most {change['max_abs']:.3g} "
        f"(largest |delta logit| on a {change['probe_tokens']}-token probe, against the unmerged adapter)"
    )
