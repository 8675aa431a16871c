"""``polyplatypus demo``: the whole recipe on a laptop, offline, in a few minutes.

It is ``run`` on the shipped ``tiny-cpu`` config: a tokenizer and a small GPT-NeoX in the
Polyglot-ko layout built from the Korean text shipped in the package, a short language-model
pre-training on it, curation and LoRA fine-tuning on the bundled instruction sample, merging,
evaluation of the base and tuned models on the bundled KoBEST-format sample (or real KoBEST with
``--data-dir`` / ``--hub``), and the report.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from polyplatypus.pipeline.config import PACKAGE_CONFIGS_DIR, load_config
from polyplatypus.pipeline.stages import run_pipeline

DEMO_CONFIG = PACKAGE_CONFIGS_DIR / "tiny-cpu.yaml"
DEFAULT_RUN_DIR = "demo-run"
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@contextlib.contextmanager
def offline(enabled: bool = True):
    """Hugging Face libraries refuse network access inside this block."""
    saved = {key: os.environ.get(key) for key in OFFLINE_ENV}
    if enabled:
        os.environ.update(OFFLINE_ENV)
    try:
        yield
    finally:
        if enabled:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def demo_overrides(*, data_dir: str | None = None, hub: bool = False, limit: int | None = None) -> list[str]:
    """``--set`` overrides for the demo's data options."""
    overrides = []
    if data_dir is not None and hub:
        from polyplatypus.errors import ConfigError

        raise ConfigError("give either --data-dir or --hub, not both")
    if data_dir is not None:
        path = str(Path(data_dir).expanduser().resolve())
        overrides += [f"eval.kobest_dir={path}", f"data.kobest_dir={path}"]
    elif hub:
        overrides += ["eval.kobest_dir=null", "data.kobest_dir=null"]
    if limit is not None:
        overrides.append(f"eval.limit={int(limit)}")
    return overrides


def run_demo(
    run_dir: str | os.PathLike = DEFAULT_RUN_DIR,
    *,
    data_dir: str | None = None,
    hub: bool = False,
    limit: int | None = None,
    overrides: list[str] | None = None,
    config: str | os.PathLike | None = None,
    redo=(),
    until: str | None = None,
    progress: bool = True,
    log=None,
) -> dict:
    """Run the demo recipe; returns the run state (see :func:`run_pipeline`)."""
    path = Path(config) if config is not None else DEMO_CONFIG
    all_overrides = demo_overrides(data_dir=data_dir, hub=hub, limit=limit) + list(overrides or [])
    recipe = load_config(path, all_overrides)
    with offline(not hub):
        return run_pipeline(
            recipe, run_dir, source=str(path), redo=tuple(redo), until=until, progress=progress, log=log
        )
