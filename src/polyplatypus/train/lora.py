"""Base-model loading (optionally quantized for QLoRA) and the LoRA adapter around it.

Platypus adapts the MLP of Llama (``gate_proj``, ``up_proj``, ``down_proj``); on GPT-NeoX
(Polyglot-ko) the analogue is ``dense_h_to_4h`` and ``dense_4h_to_h``. Attention can be added
(or chosen instead) with ``lora_layers``; any list can be given with ``lora_target_modules``.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

from polyplatypus.errors import ConfigError
from polyplatypus.train import attention

_GPT_NEOX = {"mlp": ["dense_h_to_4h", "dense_4h_to_h"], "attention": ["query_key_value", "dense"]}
_LLAMA = {"mlp": ["gate_proj", "up_proj", "down_proj"], "attention": ["q_proj", "k_proj", "v_proj", "o_proj"]}
TARGET_MODULES: dict[str, dict[str, list[str]]] = {
    "gpt_neox": _GPT_NEOX,
    **{arch: _LLAMA for arch in ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2")},
}


def default_target_modules(model_type: str, layers: str = "mlp") -> list[str]:
    """LoRA target modules for an architecture: ``layers`` is ``mlp``, ``attention`` or ``all``."""
    if model_type not in TARGET_MODULES:
        raise ConfigError(
            f"no default LoRA target modules for model type {model_type!r} (known: "
            f"{', '.join(sorted(TARGET_MODULES))}); name them with --lora-target-modules"
        )
    table = TARGET_MODULES[model_type]
    if layers == "all":
        return table["attention"] + table["mlp"]
    if layers not in table:
        raise ConfigError(f"lora layers must be mlp, attention or all, not {layers!r}")
    return list(table[layers])


def resolve_precision(precision: str = "auto", *, cuda: bool | None = None) -> str:
    """``auto`` -> bf16 on GPUs that support it, fp16 on older GPUs, fp32 on CPU."""
    import torch

    cuda = torch.cuda.is_available() if cuda is None else cuda
    if precision == "auto":
        if not cuda:
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision in ("bf16", "fp16") and not cuda:
        raise ConfigError(f"precision {precision} needs a GPU; on CPU train in fp32 (--precision fp32 or auto)")
    return precision


def torch_dtype(precision: str):
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def quantization_config(load_in: str | None, precision: str):
    """A ``BitsAndBytesConfig`` for ``4bit`` (QLoRA: NF4, double quantization) or ``8bit``."""
    if load_in is None:
        return None
    import importlib.util

    import torch

    if importlib.util.find_spec("bitsandbytes") is None:
        raise ConfigError(f"--load-in {load_in} needs bitsandbytes: pip install 'polyplatypus[gpu]'")
    if not torch.cuda.is_available():
        raise ConfigError(f"--load-in {load_in} needs a CUDA GPU")
    from transformers import BitsAndBytesConfig

    if load_in == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    if load_in == "4bit":
        return BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch_dtype(precision if precision != "fp32" else "bf16"),
        )
    raise ConfigError(f"--load-in must be 4bit or 8bit, not {load_in!r}")


def load_tokenizer(name: str):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
    except OSError as error:
        raise ConfigError(f"cannot load a tokenizer from {name!r}: {error}") from None
    if tokenizer.pad_token_id is None:
        # Padding is never attended to or trained on; any id works. Keep it apart from EOS
        # where possible so that a right-padded batch never looks like an early stop.
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
    return tokenizer


def load_base_model(
    name: str,
    *,
    precision: str = "fp32",
    load_in: str | None = None,
    device_map=None,
    attn_implementation: str | None = None,
):
    """The base causal LM in the training dtype (quantized with ``load_in``)."""
    from transformers import AutoModelForCausalLM

    kwargs = {"dtype": torch_dtype(precision)}
    quant = quantization_config(load_in, precision)
    if quant is not None:
        kwargs["quantization_config"] = quant
    if device_map is not None:
        kwargs["device_map"] = device_map
    if attn_implementation:
        if attn_implementation == attention.NAME:
            attention.register()
        kwargs["attn_implementation"] = attn_implementation
    try:
        return AutoModelForCausalLM.from_pretrained(name, **kwargs)
    except OSError as error:
        raise ConfigError(f"cannot load the base model {name!r}: {error}") from None


def add_lora(
    model,
    *,
    r: int = 16,
    alpha: int = 16,
    dropout: float = 0.05,
    target_modules: Sequence[str] | None = None,
    layers: str = "mlp",
    gradient_checkpointing: bool = False,
):
    """Wrap ``model`` in a PEFT LoRA adapter (base weights frozen); returns the PeftModel."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    targets = list(target_modules) if target_modules else default_target_modules(model.config.model_type, layers)
    names = [name for name, _ in model.named_modules()]
    missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]
    if missing:
        raise ConfigError(
            f"LoRA target module(s) {', '.join(missing)} not found in this {model.config.model_type} model"
        )
    options = {"use_reentrant": False}  # the variant that works under DDP with frozen inputs
    if getattr(model, "is_loaded_in_8bit", False) or getattr(model, "is_loaded_in_4bit", False):
        with quiet_peft():
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing,
                                                    gradient_checkpointing_kwargs=options)
    elif gradient_checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x name
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=options)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=options)
        model.enable_input_require_grads()
    model.config.use_cache = False
    config = LoraConfig(
        r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets,
        bias="none", task_type="CAUSAL_LM",
    )
    with quiet_peft():
        return get_peft_model(model, config)


def load_adapter(model, adapter: str | Path, *, is_trainable: bool = False):
    """``model`` wrapped in the LoRA adapter saved in the folder ``adapter``."""
    from peft import PeftModel

    with quiet_peft():
        return PeftModel.from_pretrained(model, str(adapter), is_trainable=is_trainable)


@contextmanager
def quiet_peft():
    """peft calls transformers' deprecated ``*gradient_checkpointing*`` names: nothing for users to act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*", category=FutureWarning)
        yield
