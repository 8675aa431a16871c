"""Fine-tuning with the Platypus LoRA recipe, adapter merging and generation.

    from polyplatypus.train import TrainConfig, train, merge, generate

    summary = train(base="EleutherAI/polyglot-ko-12.8b", data="kyujinpy/KOpen-platypus",
                    output="runs/poly-platypus-ko-12.8b")   # or train(TrainConfig(...), lora_r=8)
    merge("runs/poly-platypus-ko-12.8b", "models/poly-platypus-ko-12.8b")
    print(generate("models/poly-platypus-ko-12.8b", "한국의 수도는 어디인가요?"))

Heavy libraries (torch, transformers, peft, accelerate) are imported only when a function runs.
"""

# Imported here, not wrapped: a function named like its submodule is replaced by the module as
# soon as anything imports that submodule (``polyplatypus.train.merge`` was then not callable).
from polyplatypus.data.templates import TEMPLATES, PromptTemplate, get_template
from polyplatypus.train.config import GenerateConfig, MergeConfig, TrainConfig
from polyplatypus.train.generate import generate
from polyplatypus.train.merge import merge


def train(config: TrainConfig | None = None, **options) -> dict:
    """Fine-tune with LoRA; see :func:`polyplatypus.train.recipe.train`."""
    from polyplatypus.train.recipe import train as _train

    return _train(config, **options)


__all__ = [
    "TrainConfig",
    "MergeConfig",
    "GenerateConfig",
    "train",
    "merge",
    "generate",
    "TEMPLATES",
    "PromptTemplate",
    "get_template",
]
