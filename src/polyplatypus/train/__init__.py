"""Fine-tuning with the Platypus LoRA recipe, adapter merging and generation.

    from polyplatypus.train import TrainConfig, train, merge, generate

    summary = train(TrainConfig(base="EleutherAI/polyglot-ko-12.8b", data="kyujinpy/KOpen-platypus",
                                output="runs/poly-platypus-ko-12.8b"))
    merge("runs/poly-platypus-ko-12.8b", "models/poly-platypus-ko-12.8b")
    print(generate("models/poly-platypus-ko-12.8b", "한국의 수도는 어디인가요?"))

Heavy libraries (torch, transformers, peft, accelerate) are imported only when a function runs.
"""

from polyplatypus.train.config import TrainConfig
from polyplatypus.train.templates import TEMPLATES, PromptTemplate, get_template


def train(config, **kwargs) -> dict:
    """Fine-tune with LoRA; see :func:`polyplatypus.train.recipe.train`."""
    from polyplatypus.train.recipe import train as _train

    return _train(config, **kwargs)


def merge(adapter, output, **kwargs):
    """Merge an adapter into its base model; see :func:`polyplatypus.train.merge.merge`."""
    from polyplatypus.train.merge import merge as _merge

    return _merge(adapter, output, **kwargs)


def generate(model, instruction, input="", **kwargs) -> str:
    """Answer one instruction; see :func:`polyplatypus.train.generate.generate`."""
    from polyplatypus.train.generate import generate as _generate

    return _generate(model, instruction, input, **kwargs)


__all__ = ["TrainConfig", "train", "merge", "generate", "TEMPLATES", "PromptTemplate", "get_template"]
