"""Instruction record -> token ids and labels, the way Platypus's ``finetune.py`` builds them.

* the full text is ``template.prompt(instruction, input) + output``, tokenized with the
  tokenizer's own special tokens (a Llama tokenizer adds BOS, Polyglot-ko's adds nothing) and
  truncated to ``cutoff_len`` tokens;
* EOS is appended after the response whenever it still fits under the cutoff (so the model
  learns to stop), whatever ``add_eos_token`` says;
* with ``train_on_inputs`` false the prompt tokens get label -100. ``add_eos_token`` only
  changes this mask, as in Platypus: the prompt is measured as if EOS had been appended to it
  and one token is then taken off, so a prompt that alone fills the cutoff leaves its last token
  trainable.

Labels are unshifted (HF convention): position ``t`` predicts ``labels[t + 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from polyplatypus.data.templates import PromptTemplate
from polyplatypus.errors import ConfigError

IGNORE_INDEX = -100


@dataclass(frozen=True)
class TokenizedExample:
    input_ids: list[int]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def n_targets(self) -> int:
        """Tokens that contribute to the loss (labels after the first position, not -100)."""
        return sum(1 for label in self.labels[1:] if label != IGNORE_INDEX)


def build_example(
    full_ids: Sequence[int],
    prompt_ids: Sequence[int],
    *,
    eos_token_id: int,
    cutoff_len: int,
    train_on_inputs: bool = False,
    add_eos_token: bool = False,
) -> TokenizedExample:
    """Combine the tokenized full text and prompt (both already cut to ``cutoff_len``)."""
    input_ids = list(full_ids[:cutoff_len])
    if (not input_ids or input_ids[-1] != eos_token_id) and len(input_ids) < cutoff_len:
        input_ids.append(eos_token_id)
    labels = list(input_ids)
    if not train_on_inputs:
        prompt_len = min(len(prompt_ids), cutoff_len)
        if add_eos_token:
            prompt_ends_with_eos = prompt_len > 0 and prompt_ids[prompt_len - 1] == eos_token_id
            if not prompt_ends_with_eos and prompt_len < cutoff_len:
                prompt_len += 1  # the EOS Platypus appends to the prompt ...
            prompt_len -= 1  # ... and then takes off again
        prompt_len = min(prompt_len, len(labels))
        labels[:prompt_len] = [IGNORE_INDEX] * prompt_len
    return TokenizedExample(input_ids, labels)


def tokenize_records(
    records: Iterable[dict],
    tokenizer,
    template: PromptTemplate,
    *,
    cutoff_len: int,
    train_on_inputs: bool = False,
    add_eos_token: bool = False,
    batch_size: int = 512,
) -> list[TokenizedExample]:
    """Tokenize instruction records (``instruction``, ``input``, ``output``; extra fields ignored)."""
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ConfigError("the tokenizer has no EOS token; training needs one to teach the model to stop")
    records = list(records)
    examples: list[TokenizedExample] = []
    for start in range(0, len(records), batch_size):
        chunk = records[start : start + batch_size]
        prompts = [template.prompt(r["instruction"], r.get("input") or "") for r in chunk]
        fulls = [p + r["output"] for p, r in zip(prompts, chunk)]
        encode = lambda texts: tokenizer(texts, truncation=True, max_length=cutoff_len)["input_ids"]  # noqa: E731
        full_ids = encode(fulls)
        prompt_ids = encode(prompts) if not train_on_inputs else [[]] * len(chunk)
        for full, prompt in zip(full_ids, prompt_ids):
            examples.append(
                build_example(
                    full,
                    prompt,
                    eos_token_id=eos,
                    cutoff_len=cutoff_len,
                    train_on_inputs=train_on_inputs,
                    add_eos_token=add_eos_token,
                )
            )
    return examples
