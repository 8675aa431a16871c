"""How many CPU threads this process computes with, decided once when the command starts.

PyTorch's default is one intra-op thread per core of the machine, and its OpenMP threads spin
while they wait for work. On a CPU shared with other busy processes (two engineers' jobs on a
2-core machine, a CI runner, a cgroup-limited container) that costs far more than a fair share:
threads that wait for a descheduled sibling burn the cycles the other processes need, and CPU
time grows with the load (measured in BENCHMARKS.md, "Shared CPU").

The policy (:func:`choose_threads`, pure and tested; :func:`apply_thread_policy` applies it):

* ``--threads N`` / ``POLYPLATYPUS_THREADS=N`` (``N >= 1``): exactly N threads. ``off``: leave
  PyTorch's and OpenMP's defaults untouched (also waiting). ``auto`` (the default) is below.
* ``OMP_NUM_THREADS`` set by the user (and no ``--threads``/``POLYPLATYPUS_THREADS``): kept.
* ``auto``: the cores this process can get (its CPU affinity, capped by a cgroup CPU quota),
  minus the cores other processes keep busy right now (measured over a fraction of a second),
  at least one.

Unless ``off``, waiting OpenMP threads sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE``,
``KMP_BLOCKTIME=0``; values the user set are kept). The choice is written to the environment
(``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``RAYON_NUM_THREADS``) before PyTorch is imported, so
it holds for every library and every child process (``torchrun`` workers, data loaders); if
PyTorch is already imported, ``torch.set_num_threads`` is called too.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass

from polyplatypus.errors import ConfigError

ENV = "POLYPLATYPUS_THREADS"
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS")
WAIT_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}
APPLIED: list = []  # the ThreadChoice of this process, once made (see cli.apply_thread_policy_once)
_SAMPLE_S = 0.25  # long enough to see a busy process, short enough not to delay a command


@dataclass(frozen=True)
class ThreadChoice:
    threads: int | None  # None: left to PyTorch / OpenMP
    reason: str


def parse_request(value: str | int | None, *, source: str = ENV) -> int | str:
    """``auto`` (also empty/None), ``off`` or a positive number of threads."""
    if value is None or str(value).strip() == "":
        return "auto"
    text = str(value).strip().lower()
    if text in ("auto", "off"):
        return text
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise ConfigError(f"{source}: {value!r} is not a number of threads (a whole number >= 1, 'auto' or 'off')")
    return number


def choose_threads(
    request: int | str, *, cores: int, busy_elsewhere: float, user_omp: str | None = None
) -> ThreadChoice:
    """The number of threads for ``request`` (see :func:`parse_request`) on ``cores`` usable cores
    of which other processes keep ``busy_elsewhere`` (in cores) busy."""
    if request == "off":
        return ThreadChoice(None, "thread policy off: PyTorch/OpenMP defaults")
    if isinstance(request, int):
        return ThreadChoice(request, f"{request} thread(s) as asked")
    if user_omp:
        return ThreadChoice(None, f"OMP_NUM_THREADS={user_omp} set by the user")
    free = cores - max(0.0, busy_elsewhere)
    threads = max(1, min(cores, math.floor(free + 0.5)))
    return ThreadChoice(threads, f"{threads} of {cores} core(s); {busy_elsewhere:.1f} busy with other processes")


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, capped by a cgroup v2/v1 CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(cores, math.ceil(quota))) if quota else max(1, cores)


def _cgroup_quota() -> float | None:
    for path, split in (
        ("/sys/fs/cgroup/cpu.max", None),
        ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
    ):
        try:
            with open(path, encoding="ascii") as handle:
                fields = handle.read().split()
            if split:
                with open(split, encoding="ascii") as handle:
                    fields = fields + handle.read().split()
        except (OSError, ValueError):
            continue
        if len(fields) >= 2 and fields[0] not in ("max", "-1"):
            try:
                return int(fields[0]) / int(fields[1])
            except (ValueError, ZeroDivisionError):
                return None
        return None
    return None


def busy_cores(sample_s: float = _SAMPLE_S) -> float:
    """How many cores other processes keep busy now: the machine's non-idle time over a short
    sample (``/proc/stat``; this process sleeps meanwhile), else the 1-minute load average."""
    first = _cpu_times()
    if first is None:
        try:
            return os.getloadavg()[0]
        except OSError:
            return 0.0
    time.sleep(sample_s)
    second = _cpu_times()
    if second is None:
        return 0.0
    total = sum(second) - sum(first)
    idle = (second[3] + second[4]) - (first[3] + first[4])  # idle + iowait
    if total <= 0:
        return 0.0
    return (os.cpu_count() or 1) * (total - idle) / total


def _cpu_times() -> list[int] | None:
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = handle.readline().split()
        return [int(x) for x in fields[1:9]]
    except (OSError, ValueError, IndexError):
        return None


def apply_thread_policy(requested: str | int | None = None, *, environ=None) -> ThreadChoice:
    """Decide (``requested``: the ``--threads`` value; else ``$POLYPLATYPUS_THREADS``; else auto)
    and apply: environment variables for libraries not yet loaded, ``torch.set_num_threads`` if
    PyTorch already is. Call once, at the start of a command."""
    environ = os.environ if environ is None else environ
    source = "--threads" if requested is not None else ENV
    request = parse_request(requested if requested is not None else environ.get(ENV), source=source)
    busy = busy_cores() if request == "auto" and not environ.get("OMP_NUM_THREADS") else 0.0
    choice = choose_threads(request, cores=usable_cores(), busy_elsewhere=busy, user_omp=environ.get("OMP_NUM_THREADS"))
    if request == "off":
        return choice
    for name, value in WAIT_ENV.items():
        environ.setdefault(name, value)
    if choice.threads is not None:
        for name in THREAD_ENV:
            environ[name] = str(choice.threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(choice.threads)
    return choice
