"""Loading causal LMs and tokenizers with ``from_pretrained``: the one place that evaluation,
training, merging, generation and the data statistics go through.

Two rules live here and nowhere else:

* **precision**: ``auto`` means bf16 on a GPU that supports it, fp16 on older GPUs, fp32 on
  CPU (:func:`resolve_precision`). The ``--dtype`` of ``eval`` and ``merge`` is different on
  purpose: its ``auto`` keeps the checkpoint's own dtype, as ``from_pretrained(dtype="auto")``.
* **maximum length**: ``config.n_ctx`` when the config has it, else ``max_position_embeddings``,
  exactly as the reference harness; configs naming neither fall back to the other names
  transformers uses for it (:func:`config_max_length`).

Sources are local folders or hub ids; a path that can only be a local folder and does not
exist is reported before transformers tries the hub, and a local folder's files are checked
(:mod:`polyplatypus.models.integrity`) so that a truncated or malformed one is an error naming it.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path

from polyplatypus.errors import ConfigError
from polyplatypus.models.integrity import check_model_folder, check_tokenizer_folder

DTYPES = ("auto", "float32", "float16", "bfloat16")  # --dtype choices; auto keeps the checkpoint's dtype
PRECISIONS = ("auto", "bf16", "fp16", "fp32")  # --precision choices; auto follows the hardware
_DTYPE_OF_PRECISION = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
# Names of the context length in configs, in order: the reference harness reads n_ctx, then
# max_position_embeddings (which GPT-2-style configs alias to n_positions); the rest only
# matter for configs that name neither.
_MAX_LENGTH_KEYS = ("n_ctx", "max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")
_LOAD_ERRORS = (OSError, ValueError)  # missing files, offline hub, malformed ids or configs


# --- precision and device -------------------------------------------------------------------


def resolve_precision(precision: str = "auto", *, cuda: bool | None = None) -> str:
    """``auto`` -> ``bf16`` on GPUs that support it, ``fp16`` on older GPUs, ``fp32`` on CPU."""
    import torch

    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if precision == "auto":
        if not cuda:
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision in ("bf16", "fp16") and not cuda:
        raise ConfigError(f"precision {precision} needs a GPU; on CPU train in fp32 (--precision fp32 or auto)")
    return precision


def torch_dtype(name: str):
    """The torch dtype for a precision (``bf16``) or dtype (``bfloat16``) name; ``auto`` stays
    ``"auto"`` (the checkpoint's dtype)."""
    import torch

    if name == "auto":
        return "auto"
    name = _DTYPE_OF_PRECISION.get(name, name)
    if name not in DTYPES:
        raise ConfigError(f"unknown dtype {name!r}; choose one of {', '.join(DTYPES)}")
    return getattr(torch, name)


def resolve_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device} asked but CUDA is not available on this machine")
    return device


def model_dtype_name(model) -> str:
    return str(next(model.parameters()).dtype).replace("torch.", "")


# --- sources ----------------------------------------------------------------------------------


def _looks_local(path: str) -> bool:
    # A hub id is "name" or "org/name"; anything else that does not exist is a missing folder.
    return path.startswith((".", "/", "~")) or path.count("/") > 1


def resolve_source(path: str | Path, *, model: bool = True, tokenizer: bool = False) -> str:
    """``path`` as ``from_pretrained`` should get it: a local folder (``~`` expanded) or a hub
    id. A missing local folder, (``model``) a folder without ``config.json`` or (``tokenizer``)
    a folder without tokenizer files is an error."""
    path = str(path)
    local = Path(path).expanduser()
    if _looks_local(path) and not local.exists():
        raise ConfigError(f"model path does not exist: {path}")
    if model and local.exists() and not (local / "config.json").is_file():
        raise ConfigError(f"{path} is not a Hugging Face model folder (no config.json)")
    if local.is_dir():
        check_model_folder(local, weights=model)  # a damaged file is named here, not in a traceback
        if tokenizer:
            check_tokenizer_folder(local)
    return str(local) if local.exists() else path


def hub_model_needs(paths, instead: str = "give a local model folder instead") -> list:
    """A :class:`~polyplatypus.utils.hub.HubNeed` for each of ``paths`` that is a hub id."""
    from polyplatypus.utils.hub import HubNeed

    return [
        HubNeed(str(path), "model", "model", instead)
        for path in paths
        if path and not _looks_local(str(path)) and not Path(str(path)).expanduser().exists()
    ]


def _cannot_load(what: str, source: str, error: Exception) -> ConfigError:
    where = "" if Path(source).exists() else " (not a local folder, and the hub could not provide it)"
    return ConfigError(f"cannot load {what} {source!r}{where}: {error}")


# --- tokenizers -------------------------------------------------------------------------------


def load_tokenizer(source, *, training: bool = False):
    """A tokenizer object as is, or ``AutoTokenizer.from_pretrained(source)``.

    ``training``: give a tokenizer without a pad token one, as training pads its batches.
    """
    if not isinstance(source, (str, Path)):
        return source
    from transformers import AutoTokenizer

    path = resolve_source(source, model=False, tokenizer=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except _LOAD_ERRORS as error:
        raise _cannot_load("a tokenizer from", str(source), error) from None
    if training and tokenizer.pad_token_id is None:
        # Padding is never attended to or trained on; any id works. Keep it apart from EOS
        # where possible so that a right-padded batch never looks like an early stop.
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
    return tokenizer


# --- models -----------------------------------------------------------------------------------


def quantization_config(load_in: str | None, dtype: str):
    """A ``BitsAndBytesConfig`` for ``4bit`` (QLoRA: NF4, double quantization; computing in
    ``dtype``, bf16 when that is fp32 or auto) or ``8bit``."""
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
        compute = torch_dtype(dtype)
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute if compute in (torch.bfloat16, torch.float16) else torch.bfloat16,
        )
    raise ConfigError(f"--load-in must be 4bit or 8bit, not {load_in!r}")


def load_causal_lm(
    source: str | Path,
    *,
    dtype: str = "auto",
    device: str | None = None,
    device_map=None,
    load_in: str | None = None,
    attn_implementation: str | None = None,
    progress: bool = True,
):
    """``AutoModelForCausalLM.from_pretrained(source)`` in ``dtype`` (a :data:`DTYPES` or resolved
    precision name), quantized with ``load_in``, then moved to ``device`` unless ``device_map``
    places it (neither: left where transformers loads it, the CPU). ``progress=False`` hides
    transformers' "Loading weights" bar."""
    from transformers import AutoModelForCausalLM

    path = resolve_source(source)
    kwargs = {"dtype": torch_dtype(dtype)}
    quant = quantization_config(load_in, dtype)
    if quant is not None:
        kwargs["quantization_config"] = quant
    if device_map is not None:
        kwargs["device_map"] = device_map
    if attn_implementation:
        from polyplatypus.models import attention

        if attn_implementation == attention.NAME:
            attention.register()
        kwargs["attn_implementation"] = attn_implementation
    try:
        with weight_bars(progress):
            model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except _LOAD_ERRORS as error:
        raise _cannot_load("model", str(source), error) from None
    if device is not None and device_map is None:
        model = model.to(resolve_device(device))
    return model


def load_adapter(model, adapter: str | Path, *, is_trainable: bool = False):
    """``model`` wrapped in the LoRA adapter saved in the folder ``adapter`` (PEFT), the
    adapter's end-of-turn tokens added to the model's ``generation_config`` (so generation stops
    where the adapter was trained to stop, and a merge saves them)."""
    from peft import PeftModel

    from polyplatypus.models.adapters import adapter_config, adapter_stop_tokens, add_stop_tokens

    local = Path(str(adapter)).expanduser()
    if local.is_dir():
        adapter_config(local)  # LoRA only
        check_model_folder(local)  # a truncated adapter file is an error naming it
    with quiet_peft():
        wrapped = PeftModel.from_pretrained(model, str(adapter), is_trainable=is_trainable)
    stops = adapter_stop_tokens(local) if local.is_dir() else []
    if stops and getattr(model, "generation_config", None) is not None:
        add_stop_tokens(model.generation_config, stops)
    return wrapped


@contextmanager
def quiet_peft():
    """peft calls transformers' deprecated ``*gradient_checkpointing*`` names: nothing for users to act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*", category=FutureWarning)
        yield


def load_model(
    path: str | Path,
    *,
    dtype: str = "auto",
    device: str = "auto",
    device_map: str | None = None,
    adapter: str | Path | None = None,
    progress: bool = True,
):
    """(model, tokenizer) for scoring: the model in eval mode on ``device`` (or placed by
    ``device_map``), wrapped in the LoRA ``adapter`` when one is given (not merged: PEFT adds its
    product to each adapted layer's output; the tokenizer is then the adapter folder's, where
    ``train`` saves it); errors say what to fix."""
    if dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    source = resolve_source(path)
    tokenizer_source = source
    if adapter is not None and (Path(str(adapter)).expanduser() / "tokenizer_config.json").is_file():
        tokenizer_source = resolve_source(Path(str(adapter)).expanduser(), model=False)
    tokenizer = load_tokenizer(tokenizer_source)
    model = load_causal_lm(source, dtype=dtype, device=device, device_map=device_map or None, progress=progress)
    if adapter is not None:
        model = load_adapter(model, adapter)
        if device is not None and device_map is None:
            model = model.to(resolve_device(device))
    return model.eval(), tokenizer


def fit_embeddings(model, tokenizer) -> None:
    """Grow ``model``'s token embeddings (and its output layer) to hold every token of
    ``tokenizer`` when tokens were added to it; tied input and output embeddings stay one matrix
    (transformers re-ties them). A vocabulary already large enough (often padded) is left as is."""
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > rows:
        model.resize_token_embeddings(len(tokenizer))


@contextmanager
def weight_bars(enabled: bool):
    """transformers' (and huggingface_hub's) progress bars on or off for the block, as they were after."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    if enabled == was:
        yield
        return
    (hf_logging.enable_progress_bar if enabled else hf_logging.disable_progress_bar)()
    try:
        yield
    finally:
        (hf_logging.enable_progress_bar if was else hf_logging.disable_progress_bar)()


# --- maximum length ---------------------------------------------------------------------------


def config_max_length(config) -> int | None:
    """The longest sequence a model config allows: ``n_ctx`` when present, else
    ``max_position_embeddings`` (the reference harness's rule), else the other usual names;
    ``None`` when the config names none."""
    # a multimodal checkpoint (Gemma 3 4B-27B) keeps the language model's length in its text config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    for key in _MAX_LENGTH_KEYS:
        for source in (config, text):
            value = getattr(source, key, None)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None


def model_max_length(model) -> int:
    """The longest sequence ``model`` is scored on (see :func:`config_max_length`)."""
    value = config_max_length(model.config)
    if value is None:
        raise ConfigError(
            f"the configuration of {getattr(model.config, '_name_or_path', 'the model')!r} "
            f"names no maximum length (none of {', '.join(_MAX_LENGTH_KEYS)})"
        )
    return value


def base_max_length(source: str | Path) -> int | None:
    """:func:`config_max_length` of a model that is not loaded, read from its config alone."""
    from transformers import AutoConfig

    path = resolve_source(source)
    try:
        config = AutoConfig.from_pretrained(path)
    except _LOAD_ERRORS as error:
        raise _cannot_load("the configuration of model", str(source), error) from None
    return config_max_length(config)
