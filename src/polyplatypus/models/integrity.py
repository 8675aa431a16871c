"""Checks of a local model (or adapter) folder before anything loads it, so that a damaged file is
an error naming it instead of a traceback from deep inside safetensors or transformers.

What is checked costs only the headers, never the tensor data:

* every JSON file that loading reads (``config.json``, the tokenizer's JSON files,
  ``adapter_config.json``, weight indexes) parses;
* a weight index names only shards that are there;
* each ``*.safetensors`` file has a complete header whose tensors cover the file exactly (a
  truncated or extended file does not);
* each zip-format ``*.bin`` (what ``torch.save`` writes) has its central directory.

Bit flips inside tensor data are not detected (nothing but a stored checksum could).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from polyplatypus.errors import ConfigError

JSON_FILES = (
    "config.json",
    "adapter_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
)
TOKENIZER_JSON_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
)
INDEX_SUFFIXES = (".safetensors.index.json", ".bin.index.json")
_HEADER_LIMIT = 100 << 20  # safetensors refuses headers above 100 MB


class DamagedModelError(ConfigError):
    """A model or adapter file is truncated, malformed or missing."""


def check_model_folder(folder: str | Path, *, weights: bool = True) -> None:
    """Check a local model or adapter folder's JSON files and (``weights``) its index and weight
    files; raises :class:`DamagedModelError` naming the first damaged file."""
    folder = Path(folder)
    names = JSON_FILES if weights else TOKENIZER_JSON_FILES
    for name in names:
        if (folder / name).is_file():
            read_json_object(folder / name)
    if not weights:
        return
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.name.endswith(INDEX_SUFFIXES):
            check_index(path)
        elif path.suffix == ".safetensors":
            check_safetensors(path)
        elif path.suffix == ".bin":
            check_torch_zip(path)


# A tokenizer needs its vocabulary: one of these (tokenizer_config.json and the special-token
# files alone are not one). Matched by name start / suffix, so variants (tokenizer.model.v3,
# vocab-*.json, *.tiktoken) count too.
_VOCABULARY_STARTS = ("tokenizer", "vocab", "merges", "spiece", "sentencepiece", "tekken", "qwen")
_VOCABULARY_SUFFIXES = (".model", ".tiktoken")
_NOT_VOCABULARY = ("tokenizer_config.json",)


def check_tokenizer_folder(folder: str | Path) -> None:
    """A local model folder must hold its tokenizer's files; a :class:`ConfigError` naming the
    folder otherwise (a copy of weights and config alone loads no tokenizer, or a wrong one)."""
    folder = Path(folder)
    for path in folder.iterdir():
        name = path.name
        if name in _NOT_VOCABULARY or not path.is_file():
            continue
        if name.startswith(_VOCABULARY_STARTS) or name.endswith(_VOCABULARY_SUFFIXES):
            return
    raise ConfigError(
        f"{folder} has no tokenizer files (no tokenizer.json, tokenizer.model, vocab.json, vocab.txt or "
        "sentencepiece model): save its base model's tokenizer into it, e.g. "
        f"AutoTokenizer.from_pretrained(BASE).save_pretrained({str(folder)!r})"
    )


def read_json_object(path: Path) -> dict:
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise DamagedModelError(f"{path}: not UTF-8 text (byte {error.start}); the file is damaged") from None
    except json.JSONDecodeError as error:
        raise DamagedModelError(
            f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
            "the file is damaged or incomplete"
        ) from None
    except OSError as error:
        raise DamagedModelError(f"{path}: cannot be read ({error.strerror})") from None
    if not isinstance(data, dict):
        raise DamagedModelError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def check_index(path: Path) -> None:
    """A weight index's ``weight_map`` names only shards that exist in its folder."""
    weight_map = read_json_object(path).get("weight_map")
    if not isinstance(weight_map, dict):
        raise DamagedModelError(f'{path}: has no "weight_map" object')
    missing = sorted({str(shard) for shard in weight_map.values() if not (path.parent / str(shard)).is_file()})
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise DamagedModelError(f"{path}: names the weight shard {path.parent / missing[0]}{more}, which is missing")


def check_safetensors(path: Path) -> None:
    """The header is complete JSON, and the tensors it lists cover the rest of the file exactly."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise DamagedModelError(f"{path}: truncated safetensors file ({size} bytes, shorter than its header)")
        header_len = int.from_bytes(prefix, "little")
        if header_len > _HEADER_LIMIT or 8 + header_len > size:
            raise DamagedModelError(
                f"{path}: truncated or not a safetensors file (header of {header_len} bytes "
                f"announced, the file has {size})"
            )
        raw = handle.read(header_len)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise DamagedModelError(f"{path}: malformed safetensors header (not valid JSON)") from None
    if not isinstance(header, dict):
        raise DamagedModelError(f"{path}: malformed safetensors header (not a JSON object)")
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise DamagedModelError(f"{path}: malformed safetensors header (tensor {name!r} has no data_offsets)")
        end = max(end, offsets[1])
    data = size - 8 - header_len
    if data != end:
        what = "truncated" if data < end else "longer than its header says"
        raise DamagedModelError(f"{path}: {what}: its header lists {end} bytes of tensor data, the file holds {data}")


def check_torch_zip(path: Path) -> None:
    """A zip-format ``torch.save`` file must have its central directory (a truncated one has not);
    older pickle-format files are not checked."""
    with open(path, "rb") as handle:
        if handle.read(2) != b"PK":
            return
    if not zipfile.is_zipfile(path):
        raise DamagedModelError(f"{path}: truncated or damaged PyTorch weights file (its zip directory is missing)")
