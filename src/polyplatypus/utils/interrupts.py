"""SIGTERM and SIGHUP stop a command the way Ctrl-C does.

``timeout``, Slurm, Kubernetes and ``docker stop`` send SIGTERM; a closed terminal sends SIGHUP.
Python's default for both ends the process at once, skipping every ``finally``: the output lock
stayed behind and a recipe stage was not marked interrupted. Inside :func:`signals_interrupt`
they raise :class:`Terminated`, a ``KeyboardInterrupt``, so the same clean-up runs (locks released,
temporary files removed, the stage marked ``interrupted``) and a re-run resumes as after Ctrl-C.
A second such signal during that clean-up ends the process at once (the default action again).
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM or SIGHUP."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise(signum, frame):
    for other in SIGNALS:  # a second signal while cleaning up: stop at once
        signal.signal(other, signal.SIG_DFL)
    raise Terminated(signum)


@contextmanager
def signals_interrupt() -> Iterator[None]:
    """Within this block (main thread only; elsewhere it does nothing), SIGTERM and SIGHUP raise
    :class:`Terminated`; the previous handlers are restored after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {signum: signal.getsignal(signum) for signum in SIGNALS}
    for signum in SIGNALS:
        if saved[signum] is not signal.SIG_IGN:  # nohup's SIGHUP stays ignored
            signal.signal(signum, _raise)
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
