"""Loading a causal LM and its tokenizer for evaluation (local directory or hub id)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from polyplatypus.errors import ConfigError, PolyplatypusError

DTYPES = ("auto", "float32", "float16", "bfloat16")


@dataclass(frozen=True)
class ModelSpec:
    """A model to evaluate: the row label in tables and where to load it from."""

    label: str
    path: str

    @classmethod
    def parse(cls, text: str) -> "ModelSpec":
        """``path`` or ``label=path``; the default label is a local folder's name or the hub id."""
        text = str(text)
        label, sep, path = text.partition("=")
        if sep and label and path and not os.path.exists(text):
            return cls(label=label.strip(), path=path.strip())
        path = text
        local = Path(path).expanduser()
        default_label = local.resolve().name if local.exists() else path
        return cls(label=default_label, path=path)

    @property
    def slug(self) -> str:
        """The label made safe as a single folder name."""
        return "".join(c if c.isalnum() or c in "-_.=" else "_" for c in self.label.replace("/", "__")) or "model"


def _looks_local(path: str) -> bool:
    # A hub id is "name" or "org/name"; anything else that does not exist is a missing folder.
    return path.startswith((".", "/", "~")) or path.count("/") > 1


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device} asked but CUDA is not available on this machine")
    return device


def load_model(path: str, *, dtype: str = "auto", device: str = "auto", device_map: str | None = None):
    """Load (model, tokenizer) with ``from_pretrained``; errors say what to fix."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    local = Path(path).expanduser()
    if _looks_local(path) and not local.exists():
        raise ConfigError(f"model path does not exist: {path}")
    if local.exists() and not (local / "config.json").is_file():
        raise ConfigError(f"{path} is not a Hugging Face model folder (no config.json)")
    source = str(local) if local.exists() else path
    torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
    kwargs = {"dtype": torch_dtype}
    if device_map:
        kwargs["device_map"] = device_map
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except OSError as error:
        raise PolyplatypusError(
            f"could not load model {path!r}: not a local folder, and the hub could not provide it ({error})"
        ) from error
    if not device_map:
        model = model.to(resolve_device(device))
    model.eval()
    return model, tokenizer


def model_dtype_name(model) -> str:
    return str(next(model.parameters()).dtype).replace("torch.", "")
