"""Several processes (``torchrun`` / ``accelerate launch``): documents are split across ranks and
gathered back in order, so the results equal a single-process run."""

from __future__ import annotations

import os


def distributed_state():
    """accelerate's process state when launched with several processes, else None."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    from accelerate import PartialState

    # Without an accelerator, accelerate sets up no process group unless told the processes run
    # on the CPU: every rank would then score every document and write every file itself.
    return PartialState(cpu=not _accelerator_available())


def _accelerator_available() -> bool:
    import torch

    probe = getattr(torch, "accelerator", None)  # torch >= 2.6
    if probe is not None and hasattr(probe, "is_available"):
        return probe.is_available()
    return torch.cuda.is_available()


def is_main_process() -> bool:
    state = distributed_state()
    return state is None or state.is_main_process


def device_for_process(device: str) -> str:
    state = distributed_state()
    if state is not None and device in ("auto", "cuda") and state.device.type == "cuda":
        return str(state.device)
    return device


def score_split(engine, requests, progress=None):
    """Score this rank's share (every world_size-th document) and gather all results in order."""
    state = distributed_state()
    if state is None:
        return engine.score(requests, progress=progress)
    from accelerate.utils import gather_object

    share = list(range(state.process_index, len(requests), state.num_processes))
    if progress is not None and share:  # the main process's bar stands for every rank's share
        progress = _scaled(progress, len(requests) / len(share))
    scored = engine.score([requests[i] for i in share], progress=progress)
    gathered = gather_object([(i, result) for i, result in zip(share, scored)])
    ordered = dict(gathered)
    return [ordered[i] for i in range(len(requests))]


def _scaled(progress, factor: float):
    return lambda done: progress(done * factor)
