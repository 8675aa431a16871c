"""Several processes (``torchrun`` / ``accelerate launch``): documents are split across ranks and
gathered back in order, so the results equal a single-process run.

Documents to score are dealt out one by one (every N-th to each rank). Documents to generate are
cut into contiguous runs of the engine's order (sorted by context tokens), so that each rank keeps
the prefixes its documents share, with the runs balanced by their expected work."""

from __future__ import annotations

import os
from typing import Callable, Sequence


def process_count() -> int:
    """How many processes the launcher started (``WORLD_SIZE``), without joining them."""
    return max(1, int(os.environ.get("WORLD_SIZE", "1")))


def distributed_state():
    """accelerate's process state when launched with several processes, else None."""
    if process_count() <= 1:
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


def process_index() -> int:
    state = distributed_state()
    return 0 if state is None else state.process_index


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
        progress = scaled_progress(progress, len(requests) / len(share))
    scored = engine.score([requests[i] for i in share], progress=progress)
    gathered = gather_object([(i, result) for i, result in zip(share, scored)])
    ordered = dict(gathered)
    return [ordered[i] for i in range(len(requests))]


def scaled_progress(progress, factor: float):
    """``progress`` with each step multiplied by ``factor`` (a share's bar standing for the whole)."""
    return lambda done: progress(done * factor)


def contiguous_shares(contexts: Sequence[Sequence[int]], work: Sequence[int], parts: int) -> list[list[int]]:
    """``parts`` contiguous runs of the documents in token order (the engine's order), as lists of
    positions in ``contexts``. Each document costs its positions not shared with the one before it
    (what the engine forwards for it) plus ``work`` (its generation budget); each run takes the
    documents whose cumulative cost starts within its equal slice of the total."""
    from polyplatypus.eval.generation import common_prefix

    order = sorted(range(len(contexts)), key=lambda i: contexts[i])
    costs = [
        len(contexts[i]) - (common_prefix(contexts[i], contexts[order[n - 1]]) if n else 0) + work[i]
        for n, i in enumerate(order)
    ]
    total = max(1, sum(costs))
    shares: list[list[int]] = [[] for _ in range(parts)]
    start = 0
    for i, cost in zip(order, costs):
        shares[min(parts - 1, start * parts // total)].append(i)
        start += cost
    return shares


def generation_share(count: int, context: Callable[[int], list[int]], work: Callable[[int], int]) -> list[int]:
    """This process's documents to generate, of ``count`` (all of them in one process, where the
    contexts are not even encoded): ``context(i)`` gives document i's tokens, ``work(i)`` its
    generation budget."""
    state = distributed_state()
    if state is None:
        return list(range(count))
    contexts = [context(i) for i in range(count)]
    shares = contiguous_shares(contexts, [work(i) for i in range(count)], state.num_processes)
    return sorted(shares[state.process_index])


def gather_generated(mine: dict[int, dict], work: dict[str, int] | None = None):
    """Every process's generations (request number -> record), on every process; how many each
    process generated; and ``work`` (counts, such as the engine's positions forwarded) summed over
    the processes (None where no process gave any)."""
    state = distributed_state()
    if state is None:
        return dict(mine), [len(mine)], work
    from accelerate.utils import gather_object

    by_process = gather_object([(state.process_index, sorted(mine.items()), work)])
    gathered: dict[int, dict] = {}
    counts = [0] * state.num_processes
    summed: dict[str, int] | None = None
    for index, items, counted in by_process:
        gathered.update(items)
        counts[index] = len(items)
        if counted is not None:
            summed = {k: (summed or {}).get(k, 0) + v for k, v in counted.items()}
    return gathered, counts, summed


def union_across_processes(kept: dict[int, dict]) -> dict[int, dict]:
    """The union of what each process found kept (request number -> record), on every process:
    so that all agree on what is left to generate."""
    state = distributed_state()
    if state is None:
        return kept
    from accelerate.utils import gather_object

    union: dict[int, dict] = {}
    for found in gather_object([sorted(kept.items())]):
        union.update(found)
    return union
