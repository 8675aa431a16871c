"""One-command recipe runs from a YAML file, and the built-in offline demo.

from polyplatypus.pipeline import load_config, run_pipeline, run_demo

state = run_pipeline(load_config("poly-platypus-ko-12.8b"))
state = run_demo("demo-run")
"""


def load_config(path, overrides=None):
    """Read and check a recipe file; see :func:`polyplatypus.pipeline.config.load_config`."""
    from polyplatypus.pipeline.config import load_config as _load

    return _load(path, overrides)


def run_pipeline(config, run_dir=None, **kwargs):
    """Run a recipe's stages; see :func:`polyplatypus.pipeline.stages.run_pipeline`."""
    from polyplatypus.pipeline.stages import run_pipeline as _run

    return _run(config, run_dir, **kwargs)


def run_demo(run_dir="demo-run", **kwargs):
    """The offline demo; see :func:`polyplatypus.pipeline.demo.run_demo`."""
    from polyplatypus.pipeline.demo import run_demo as _demo

    return _demo(run_dir, **kwargs)


__all__ = ["load_config", "run_pipeline", "run_demo"]
