"""Tiny models for tests, the offline demo and benchmarks: a byte-level BPE tokenizer trained
locally on Korean text, and randomly initialised GPT-NeoX (Polyglot-ko layout) or Llama models.

Nothing here downloads anything; the result is saved and loaded with the ordinary
``from_pretrained`` path, exactly as a hub model would be.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

EOS_TOKEN = "<|endoftext|>"  # Polyglot-ko's end-of-text token
PAD_TOKEN = "<|padding|>"


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1024):
    """A byte-level BPE tokenizer like Polyglot-ko's (GPT-NeoX style), trained on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS_TOKEN, PAD_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(texts), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token=EOS_TOKEN, bos_token=EOS_TOKEN,
        unk_token=EOS_TOKEN, pad_token=PAD_TOKEN,
    )


def tiny_gpt_neox_config(tokenizer, *, hidden_size=64, layers=2, heads=4, max_positions=2048):
    from transformers import GPTNeoXConfig

    return GPTNeoXConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=4 * hidden_size,
        max_position_embeddings=max_positions, rotary_pct=0.5, use_parallel_residual=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False,
    )


def tiny_llama_config(tokenizer, *, hidden_size=64, layers=2, heads=4, max_positions=2048):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=heads, intermediate_size=3 * hidden_size,
        max_position_embeddings=max_positions, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )


def build_tiny_model(tokenizer, arch: str = "gpt_neox", *, seed: int = 0, **sizes):
    """A randomly initialised causal LM of ``arch`` ("gpt_neox" or "llama"), float32."""
    import torch
    from transformers import AutoModelForCausalLM

    configs = {"gpt_neox": tiny_gpt_neox_config, "llama": tiny_llama_config}
    if arch not in configs:
        raise ValueError(f"unknown tiny architecture {arch!r}; known: {', '.join(configs)}")
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(configs[arch](tokenizer, **sizes), dtype=torch.float32)
    return model.eval()


def save_tiny_model(directory: str | Path, tokenizer, model) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
