"""The LoRA adapter around a base model (loaded by :mod:`polyplatypus.models.loading`).

Platypus adapts the MLP of Llama (``gate_proj``, ``up_proj``, ``down_proj``); on GPT-NeoX
(Polyglot-ko) the analogue is ``dense_h_to_4h`` and ``dense_4h_to_h``. Attention can be added
(or chosen instead) with ``lora_layers``; any list can be given with ``lora_target_modules``.
The defaults are found by role from the model (:func:`default_target_modules`), not from a
table of model types.
"""

from __future__ import annotations

import re
from typing import Sequence

from polyplatypus.errors import ConfigError
from polyplatypus.models.loading import load_adapter, quiet_peft  # noqa: F401  (load_adapter: used from here)

ROLES = ("mlp", "attention")  # --lora-layers all adapts both
# a tensor-parallel plan key "layers.*.<block>.<projection>" names its role by the block it sits in
_ROLE_OF_BLOCK = {
    "mlp": "mlp",
    "feed_forward": "mlp",
    "ffn": "mlp",
    "self_attn": "attention",
    "attention": "attention",
    "attn": "attention",
}


def default_target_modules(model, layers: str = "mlp") -> list[str] | str:
    """The LoRA targets of ``layers`` (``mlp``, ``attention`` or ``all``) in ``model``, found from
    the model itself: its config's tensor-parallel plan (``base_model_tp_plan``, of the text
    config for a multimodal checkpoint) labels every projection of a decoder layer (e.g.
    ``layers.*.mlp.gate_proj``: colwise); the ``nn.Linear`` modules it labels, in the decoder, are
    the targets. Returned as their last names (``gate_proj``) when those select exactly these
    modules, else (a vision tower with its own ``q_proj``) as one regular expression of their full
    names, which PEFT matches whole. A layout where some decoder layer has no module of a role
    (fused MoE experts, hybrid attention, remote code without a plan) is an error listing the
    model's linear modules."""
    if layers not in ("all",) + ROLES:
        raise ConfigError(f"lora layers must be mlp, attention or all, not {layers!r}")
    roles = ROLES[::-1] if layers == "all" else (layers,)  # attention first, as the plans list them
    labelled = labelled_projections(model)
    chosen = [name for role in roles for name in _complete_role(model, labelled, role)]
    leaves = list(dict.fromkeys(name.rsplit(".", 1)[-1] for name in chosen))
    selected = [n for n in _linear_names(model) if n.rsplit(".", 1)[-1] in leaves]
    if sorted(selected) == sorted(chosen):
        return leaves
    exact = [re.escape(name) for name in chosen]
    for names in (_any_layer(chosen), exact):  # the short form where it selects exactly the same
        pattern = "^(?:" + "|".join(names) + ")$"
        if sorted(n for n in _linear_names(model) if re.fullmatch(pattern, n)) == sorted(chosen):
            return pattern
    raise AssertionError("unreachable: the exact names select themselves")


def _any_layer(names: list[str]) -> list[str]:
    """Each name as a regular expression matching it in any decoder layer: one per projection."""

    def generic(name: str) -> str:
        head, _, tail = re.fullmatch(r"(.*?\blayers\.)(\d+)(\..*)", name).groups()
        return re.escape(head) + r"\d+" + re.escape(tail)

    return list(dict.fromkeys(generic(name) for name in names))


def labelled_projections(model) -> dict[str, tuple[str, int]]:
    """``{full module name: (role, decoder layer)}`` for each ``nn.Linear`` of the decoder that
    the config's tensor-parallel plan labels as a column- or row-wise projection of an MLP or
    attention block."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    patterns = []
    for key, style in (getattr(config, "base_model_tp_plan", None) or {}).items():
        parts = key.split(".")
        role = _ROLE_OF_BLOCK.get(parts[-2]) if len(parts) >= 3 and parts[:2] == ["layers", "*"] else None
        if role and ("colwise" in str(style) or "rowwise" in str(style)):
            patterns.append((re.compile(r"layers\.(\d+)\." + re.escape(".".join(parts[2:]))), role))
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    prefix = next((name for name, module in model.named_modules() if module is decoder), None)
    if not patterns or prefix is None:
        return {}
    found = {}
    for name, module in decoder.named_modules():
        for pattern, role in patterns:
            match = pattern.fullmatch(name)
            if match and _is_linear(module):
                found[f"{prefix}.{name}" if prefix else name] = (role, int(match.group(1)))
    return found


def _complete_role(model, labelled: dict[str, tuple[str, int]], role: str) -> list[str]:
    """The modules of ``role``, provided every decoder layer has some; else a ConfigError."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    names = [name for name, (r, _) in labelled.items() if r == role]
    layers = {layer for name, (r, layer) in labelled.items() if r == role}
    expected = set(range(int(getattr(config, "num_hidden_layers", 0) or 0)))
    if names and layers >= expected:
        return names
    linear = sorted({re.sub(r"\.\d+\.", ".*.", n) for n in _linear_names(model)})
    raise ConfigError(
        f"cannot tell the {role} projections of this {model.config.model_type} model from its configuration "
        f"(its tensor-parallel plan labels them in {len(layers)} of {len(expected)} decoder layers: fused "
        f"experts, hybrid attention or remote code?); name them with --lora-target-modules. Its linear "
        f"modules: {', '.join(linear)}"
    )


def _is_linear(module) -> bool:
    import torch

    return isinstance(module, torch.nn.Linear)  # bitsandbytes' 4/8-bit layers are nn.Linear too


def _linear_names(model) -> list[str]:
    return [name for name, module in model.named_modules() if _is_linear(module)]


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

    targets = list(target_modules) if target_modules else default_target_modules(model, layers)
    names = [name for name, _ in model.named_modules()]
    missing = (
        []
        if isinstance(targets, str)
        else [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]
    )
    if missing:
        raise ConfigError(
            f"LoRA target module(s) {', '.join(missing)} not found in this {model.config.model_type} model"
        )
    options = {"use_reentrant": False}  # the variant that works under DDP with frozen inputs
    if getattr(model, "is_loaded_in_8bit", False) or getattr(model, "is_loaded_in_4bit", False):
        with quiet_peft():
            model = prepare_model_for_kbit_training(
                model, use_gradient_checkpointing=gradient_checkpointing, gradient_checkpointing_kwargs=options
            )
    elif gradient_checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x name
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=options)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=options)
        model.enable_input_require_grads()
    model.config.use_cache = False
    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
    )
    with quiet_peft():
        return get_peft_model(model, config)
