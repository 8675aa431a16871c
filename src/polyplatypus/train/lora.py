"""The LoRA adapter around a base model (loaded by :mod:`polyplatypus.models.loading`).

Platypus adapts the MLP of Llama (``gate_proj``, ``up_proj``, ``down_proj``); on GPT-NeoX
(Polyglot-ko) the analogue is ``dense_h_to_4h`` and ``dense_4h_to_h``. Attention can be added
(or chosen instead) with ``lora_layers``; any list can be given with ``lora_target_modules``.
"""

from __future__ import annotations

from typing import Sequence

from polyplatypus.errors import ConfigError
from polyplatypus.models.loading import load_adapter, quiet_peft  # noqa: F401  (load_adapter: used from here)

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

