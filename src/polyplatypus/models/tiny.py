"""Tiny models for tests, the offline demo and benchmarks: a byte-level BPE tokenizer trained
locally on Korean text, and randomly initialised models of every layout ``train`` names
(:data:`LAYOUTS`): GPT-NeoX (Polyglot-ko), Llama, Qwen2, Qwen3, Gemma 3 (text-only and the
multimodal checkpoint with a vision tower) and EXAONE 4. Gemma 3 and EXAONE 4 alternate sliding-window
and full-attention layers; their tiny window (:data:`TINY_SLIDING_WINDOW`) is shorter than
ordinary test texts, so the window really cuts.

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
        tokenizer_object=tokenizer,
        eos_token=EOS_TOKEN,
        bos_token=EOS_TOKEN,
        unk_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
    )


def tiny_gpt_neox_config(tokenizer, *, hidden_size=64, layers=2, heads=4, max_positions=2048):
    from transformers import GPTNeoXConfig

    return GPTNeoXConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=4 * hidden_size,
        max_position_embeddings=max_positions,
        rotary_pct=0.5,
        use_parallel_residual=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )


def tiny_llama_config(tokenizer, *, hidden_size=64, layers=2, heads=4, max_positions=2048):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        intermediate_size=3 * hidden_size,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )


TINY_SLIDING_WINDOW = 16  # tokens; sliding layers of the tiny Gemma 3 / EXAONE 4 see no further back
_HYBRID_LAYERS = ("sliding_attention", "full_attention")  # the first layer slides, the second sees everything


def _decoder_fields(tokenizer, hidden_size, layers, heads, max_positions, **extra) -> dict:
    """The fields every Llama-like config shares (grouped-query attention: half as many KV heads)."""
    return dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2),
        intermediate_size=3 * hidden_size,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **extra,
    )


def _hybrid_layers(layers: int) -> list[str]:
    return [_HYBRID_LAYERS[i % 2] for i in range(layers)]


def tiny_qwen2_config(tokenizer, *, hidden_size=64, layers=2, heads=4, max_positions=2048):
    from transformers import Qwen2Config  # A.X 4.0's layout (Qwen2.5: biased q/k/v projections)

    return Qwen2Config(
        **_decoder_fields(tokenizer, hidden_size, layers, heads, max_positions, tie_word_embeddings=False)
    )


def tiny_qwen3_config(tokenizer, *, hidden_size=64, layers=2, heads=4, max_positions=2048):
    from transformers import Qwen3Config

    return Qwen3Config(
        **_decoder_fields(
            tokenizer,
            hidden_size,
            layers,
            heads,
            max_positions,
            head_dim=hidden_size // heads,
            tie_word_embeddings=True,
        )
    )


def tiny_gemma3_text_config(tokenizer, *, hidden_size=64, layers=2, heads=4, max_positions=2048):
    from transformers import Gemma3TextConfig

    head_dim = hidden_size // heads
    return Gemma3TextConfig(
        **_decoder_fields(
            tokenizer,
            hidden_size,
            layers,
            heads,
            max_positions,
            head_dim=head_dim,
            query_pre_attn_scalar=head_dim,
            sliding_window=TINY_SLIDING_WINDOW,
            layer_types=_hybrid_layers(layers),
            tie_word_embeddings=True,
        )
    )


def tiny_gemma3_config(tokenizer, *, hidden_size=64, layers=2, heads=4, max_positions=2048):
    """The multimodal Gemma 3 checkpoint (``Gemma3ForConditionalGeneration``, as the 4B-27B
    releases): the text model above plus a one-layer SigLIP tower seeing 28-pixel images."""
    from transformers import Gemma3Config, SiglipVisionConfig

    text = tiny_gemma3_text_config(
        tokenizer, hidden_size=hidden_size, layers=layers, heads=heads, max_positions=max_positions
    )
    vision = SiglipVisionConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=28,
        patch_size=14,
        vision_use_head=False,
    )
    vocab = len(tokenizer)  # image tokens beyond the text vocabulary, as in the real checkpoints
    return Gemma3Config(
        text_config=text.to_dict(),
        vision_config=vision.to_dict(),
        mm_tokens_per_image=4,
        boi_token_index=vocab,
        eoi_token_index=vocab + 1,
        image_token_index=vocab + 2,
        tie_word_embeddings=True,
    )


def tiny_exaone4_config(tokenizer, *, hidden_size=64, layers=2, heads=4, max_positions=2048):
    from transformers import Exaone4Config

    return Exaone4Config(
        **_decoder_fields(
            tokenizer,
            hidden_size,
            layers,
            heads,
            max_positions,
            head_dim=hidden_size // heads,
            sliding_window=TINY_SLIDING_WINDOW,
            layer_types=_hybrid_layers(layers),
            tie_word_embeddings=False,
        )
    )


LAYOUTS = {
    "gpt_neox": tiny_gpt_neox_config,
    "llama": tiny_llama_config,
    "qwen2": tiny_qwen2_config,
    "qwen3": tiny_qwen3_config,
    "gemma3_text": tiny_gemma3_text_config,
    "gemma3": tiny_gemma3_config,
    "exaone4": tiny_exaone4_config,
}


def build_tiny_model(tokenizer, arch: str = "gpt_neox", *, seed: int = 0, **sizes):
    """A randomly initialised causal LM of ``arch`` (a key of :data:`LAYOUTS`), float32."""
    import torch
    from transformers import AutoModelForCausalLM

    if arch not in LAYOUTS:
        raise ValueError(f"unknown tiny architecture {arch!r}; known: {', '.join(LAYOUTS)}")
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(LAYOUTS[arch](tokenizer, **sizes), dtype=torch.float32)
    return model.eval()


def save_tiny_model(directory: str | Path, tokenizer, model) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
