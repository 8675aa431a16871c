"""Answer instructions with a trained model, using the prompt template it was trained with
(``chat``: the tokenizer's chat template, with the system prompt trained with), stopping at the
tokenizer's EOS or any end-of-generation token of the model's ``generation_config`` (after chat
training: the template's end-of-turn token)."""

from __future__ import annotations

from pathlib import Path

from polyplatypus.data.chat import instruction_chat_prompt
from polyplatypus.data.templates import CHAT, get_template
from polyplatypus.errors import ConfigError
from polyplatypus.models.adapters import stop_token_ids
from polyplatypus.models.loading import load_causal_lm, load_tokenizer, resolve_device, resolve_precision
from polyplatypus.train.lora import load_adapter
from polyplatypus.train.merge import adapter_base, trained_setting, trained_template


def model_and_adapter(model: str | Path, adapter: str | Path | None = None):
    """(model, adapter) as loaded: an adapter folder given as ``model`` brings its recorded base."""
    folder = Path(str(model))
    if adapter is None and (folder / "adapter_config.json").is_file() and not (folder / "config.json").is_file():
        return adapter_base(folder), folder
    return model, adapter


def load_for_generation(model: str | Path, *, adapter: str | Path | None = None, device: str | None = None):
    """(model, tokenizer, template name, system prompt trained with): a merged model folder / hub
    id, or a base plus ``adapter`` (an adapter folder given as ``model`` brings its recorded base),
    in the ``auto`` precision of ``device`` (bf16, fp16 on older GPUs, fp32 on CPU)."""
    model, adapter = model_and_adapter(model, adapter)

    device = resolve_device(device or "auto")
    precision = resolve_precision("auto", cuda=device.startswith("cuda"))
    lm = load_causal_lm(model, dtype=precision, device=device)
    tokenizer_source = model
    trained_in = adapter if adapter is not None else model if Path(str(model)).is_dir() else None
    if adapter is not None:
        lm = load_adapter(lm, adapter).to(device)
        if (Path(adapter) / "tokenizer_config.json").is_file():
            tokenizer_source = adapter
    tokenizer = load_tokenizer(tokenizer_source)
    lm.eval()
    if trained_in is None:
        return lm, tokenizer, "alpaca", None
    return lm, tokenizer, trained_template(trained_in) or "alpaca", trained_setting(trained_in, "system_prompt")


def check_system_prompt(template: str, system_prompt: str | None) -> None:
    """A system prompt goes only into the chat prompt template; with another it would go unused."""
    if system_prompt is not None and template != CHAT:
        raise ConfigError(
            f"--system-prompt goes into the chat template (--prompt-template chat), but the prompt template here is "
            f"{template!r} (given, or the one the model was trained with), which has no system message"
        )


def generate(
    model,
    instruction: str,
    input: str = "",
    *,
    tokenizer=None,
    adapter: str | Path | None = None,
    template: str | None = None,
    system_prompt: str | None = None,
    max_new_tokens: int = 256,
    temperature: float = 0.0,
    top_p: float = 1.0,
    repetition_penalty: float = 1.0,
    seed: int | None = None,
) -> str:
    """The model's response to one instruction (and optional input).

    ``model`` is a folder or hub id (loaded here, with ``adapter`` if given) or an already
    loaded model together with ``tokenizer``. ``template`` defaults to the one the model was
    trained with (recorded by ``train``/``merge``), else ``alpaca``; with ``chat`` the messages are
    ``system_prompt`` (default: the one trained with) and the instruction. Greedy decoding unless
    ``temperature`` > 0; generation stops at an end-of-generation token or after ``max_new_tokens``.
    """
    import torch

    if isinstance(model, (str, Path)):
        model, tokenizer, trained, trained_system = load_for_generation(model, adapter=adapter)
        template = template or trained
        check_system_prompt(template, system_prompt)
        system_prompt = system_prompt if system_prompt is not None else trained_system
    elif tokenizer is None:
        raise ConfigError("generate: pass the tokenizer together with a loaded model")
    else:
        check_system_prompt(template or "alpaca", system_prompt)
    encoded = _encode_prompt(tokenizer, template or "alpaca", instruction, input, system_prompt).to(model.device)
    if seed is not None:
        torch.manual_seed(seed)
    sampling = temperature > 0
    options = {"do_sample": sampling, "repetition_penalty": repetition_penalty}
    if sampling:
        options.update(temperature=temperature, top_p=top_p)
    with torch.no_grad():
        out = model.generate(
            **encoded,
            max_new_tokens=max_new_tokens,
            eos_token_id=stop_ids(model, tokenizer),
            pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
            **options,
        )
    new_tokens = out[0, encoded["input_ids"].shape[1] :]
    return tokenizer.decode(new_tokens, skip_special_tokens=True).strip()


def _encode_prompt(tokenizer, template: str, instruction: str, input: str, system_prompt: str | None):
    """The prompt's token ids (a batch of one): the chat template's rendering with the generation
    prompt (which writes its own special tokens), or the prompt template's text."""
    if template == CHAT:
        text = instruction_chat_prompt(tokenizer, instruction, input, system_prompt=system_prompt)
        return tokenizer(text, add_special_tokens=False, return_tensors="pt")
    return tokenizer(get_template(template).prompt(instruction, input), return_tensors="pt")


def stop_ids(model, tokenizer) -> list[int]:
    """Where generation ends: the model's ``generation_config`` EOS ids, then the tokenizer's EOS."""
    ids = stop_token_ids(getattr(model, "generation_config", None))
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    return list(dict.fromkeys(ids))


__all__ = ["generate", "load_for_generation"]
