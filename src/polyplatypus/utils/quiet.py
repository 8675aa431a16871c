"""Other libraries' console output made clear: a label on an unlabelled progress bar, and one
known-misleading log message dropped. Each applies to one block only and restores what was there."""

from __future__ import annotations

import logging
from contextlib import contextmanager


@contextmanager
def labelled_bars(module, label: str, *, shown: bool = True):
    """``module``'s ``tqdm`` (a module that did ``from tqdm import tqdm``) draws its bars with
    ``desc=label`` inside the block, where the library gives none; none at all unless ``shown``."""
    original = module.tqdm

    def labelled(*args, **kwargs):
        if kwargs.get("desc") is None:
            kwargs["desc"] = label
        if not shown:
            kwargs["disable"] = True
        return original(*args, **kwargs)

    module.tqdm = labelled
    try:
        yield
    finally:
        module.tqdm = original


class _Drop(logging.Filter):
    def __init__(self, texts: tuple[str, ...]):
        super().__init__()
        self.texts = texts

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in self.texts)


@contextmanager
def without_log_message(logger_name: str, *texts: str):
    """Log records of ``logger_name`` containing one of ``texts`` are dropped inside the block."""
    logger, drop = logging.getLogger(logger_name), _Drop(texts)
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


@contextmanager
def without_dataset_bars():
    """No ``datasets`` progress bars (a local file read into a split: "Generating test split")
    inside the block; as they were after."""
    import datasets

    was = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was:
            datasets.enable_progress_bars()
