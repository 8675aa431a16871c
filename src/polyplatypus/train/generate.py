"""Answer instructions with a trained model, using the prompt template it was trained with."""

from __future__ import annotations

from pathlib import Path

from polyplatypus.data.templates import get_template
from polyplatypus.errors import ConfigError
from polyplatypus.models.loading import load_causal_lm, load_tokenizer, resolve_device, resolve_precision
from polyplatypus.train.lora import load_adapter
from polyplatypus.train.merge import adapter_base, trained_template


def load_for_generation(model: str | Path, *, adapter: str | Path | None = None, device: str | None = None):
    """(model, tokenizer, template name): a merged model folder / hub id, or a base plus ``adapter``
    (an adapter folder given as ``model`` brings its recorded base), in the ``auto`` precision of
    ``device`` (bf16, fp16 on older GPUs, fp32 on CPU)."""
    folder = Path(str(model))
    if adapter is None and (folder / "adapter_config.json").is_file() and not (folder / "config.json").is_file():
        model, adapter = adapter_base(folder), folder

    device = resolve_device(device or "auto")
    precision = resolve_precision("auto", cuda=device.startswith("cuda"))
    lm = load_causal_lm(model, dtype=precision, device=device)
    tokenizer_source = model
    template = None
    if adapter is not None:
        lm = load_adapter(lm, adapter).to(device)
        template = trained_template(adapter)
        if (Path(adapter) / "tokenizer_config.json").is_file():
            tokenizer_source = adapter
    elif Path(str(model)).is_dir():
        template = trained_template(model)
    tokenizer = load_tokenizer(tokenizer_source)
    lm.eval()
    return lm, tokenizer, template or "alpaca"


def generate(
    model,
    instruction: str,
    input: str = "",
    *,
    tokenizer=None,
    adapter: str | Path | None = None,
    template: str | None = None,
    max_new_tokens: int = 256,
    temperature: float = 0.0,
    top_p: float = 1.0,
    repetition_penalty: float = 1.0,
    seed: int | None = None,
) -> str:
    """The model's response to one instruction (and optional input).

    ``model`` is a folder or hub id (loaded here, with ``adapter`` if given) or an already
    loaded model together with ``tokenizer``. ``template`` defaults to the one the model was
    trained with (recorded by ``train``/``merge``), else ``alpaca``. Greedy decoding unless
    ``temperature`` > 0; generation stops at EOS or after ``max_new_tokens``.
    """
    import torch

    if isinstance(model, (str, Path)):
        model, tokenizer, trained = load_for_generation(model, adapter=adapter)
        template = template or trained
    elif tokenizer is None:
        raise ConfigError("generate: pass the tokenizer together with a loaded model")
    prompt_template = get_template(template or "alpaca")
    prompt = prompt_template.prompt(instruction, input)
    encoded = tokenizer(prompt, return_tensors="pt").to(model.device)
    if seed is not None:
        torch.manual_seed(seed)
    sampling = temperature > 0
    options = {"do_sample": sampling, "repetition_penalty": repetition_penalty}
    if sampling:
        options.update(temperature=temperature, top_p=top_p)
    with torch.no_grad():
        out = model.generate(
            **encoded, max_new_tokens=max_new_tokens, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
            **options,
        )
    new_tokens = out[0, encoded["input_ids"].shape[1]:]
    return tokenizer.decode(new_tokens, skip_special_tokens=True).strip()


__all__ = ["generate", "load_for_generation"]
