"""The demo's base stage on a shared CPU: alone, beside two busy processes, and two demos side by side.

    python benchmarks/shared_cpu.py                      # both policies, all three cases (~10 min on 2 cores)
    python benchmarks/shared_cpu.py --policies auto      # only the thread policy (the default)
    python benchmarks/shared_cpu.py --cases alone,busy   # a subset
    python benchmarks/shared_cpu.py --steps 150          # a shorter pre-training (a quick run)

Each case runs ``polyplatypus demo --until base`` (the tokenizer, model and short pre-training the
demo builds first) in fresh processes and fresh run folders, with ``POLYPLATYPUS_THREADS`` set to
the policy (``auto``: the default thread policy, utils/threads.py; ``off``: PyTorch's own
defaults, as before the policy; a number: that many threads). Cases:

* ``alone``: one demo;
* ``busy``: one demo beside two busy-looping processes (``yes > /dev/null``), started 2 s before;
* ``pair``: two demos started together (the slower one is reported).

Per case: the base stage's seconds (from the run's ``stages/base.json``), the ratio to ``alone``
under the same policy (the target: within 2.5x), and the demo's CPU seconds (user + system of the
whole process). ``OMP_NUM_THREADS`` and friends are removed from the children's environment, so
the policy decides. Needs no data beyond the package; the load average at the start is printed,
since other work on the machine changes every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = ("alone", "busy", "pair")
CLEARED = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS", "OMP_WAIT_POLICY", "KMP_BLOCKTIME")


def _env(policy: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env["POLYPLATYPUS_THREADS"] = policy
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    return env


def _start_demo(run_dir: Path, policy: str, steps: int | None) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "polyplatypus.cli",
        "demo",
        "--run-dir",
        str(run_dir),
        "--until",
        "base",
        "--no-progress",
    ] + ([] if steps is None else ["--set", f"base.tiny.pretrain.steps={steps}"])
    return subprocess.Popen(command, env=_env(policy), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _finish(process: subprocess.Popen, run_dir: Path) -> dict:
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"demo in {run_dir} failed ({process.returncode}): {process.stderr.read().decode()[-2000:]}")
    stage = json.loads((run_dir / "stages" / "base.json").read_text(encoding="utf-8"))
    return {"stage_s": stage["seconds"], "cpu_s": usage.ru_utime + usage.ru_stime}


def run_case(case: str, policy: str, scratch: Path, steps: int | None = None) -> dict:
    """The base stage's seconds and CPU seconds of one case (for ``pair``: the slower demo)."""
    busy = []
    if case == "busy":
        busy = [subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) for _ in range(2)]
        time.sleep(2.0)
    processes = []
    try:
        count = 2 if case == "pair" else 1
        dirs = [Path(tempfile.mkdtemp(prefix=f"{case}-{policy}-", dir=scratch)) / "run" for _ in range(count)]
        processes = [_start_demo(d, policy, steps) for d in dirs]
        results = [_finish(p, d) for p, d in zip(processes, dirs)]
    finally:  # also when interrupted: nothing is left running
        for process in busy + [p for p in processes if p.returncode is None]:
            process.kill()
            process.wait()
    return max(results, key=lambda r: r["stage_s"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--policies", default="auto,off", help="comma-separated: auto, off, or a thread count")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {', '.join(CASES)}")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="pre-training steps of the base stage (default: the demo's 600; fewer for a quick run)",
    )
    parser.add_argument("--output", default=None, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: the finally blocks end the children
    cases = [c for c in args.cases.split(",") if c]
    if "alone" not in cases:
        cases.insert(0, "alone")  # the ratios need it
    print(
        f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; pre-training steps: "
        f"{args.steps or 'the demo default (600)'}"
    )
    figures = {}
    with tempfile.TemporaryDirectory(prefix="shared-cpu-") as scratch:
        for policy in args.policies.split(","):
            for case in cases:
                figures[(policy, case)] = run_case(case, policy, Path(scratch), args.steps)
                print(
                    f"  {policy:>5} {case:<5} {figures[(policy, case)]['stage_s']:7.1f} s "
                    f"(load average now {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
    print()
    print("| policy | case | base stage (s) | vs alone | CPU (s) |")
    print("|---|---|---:|---:|---:|")
    for (policy, case), result in figures.items():
        ratio = result["stage_s"] / figures[(policy, "alone")]["stage_s"]
        print(f"| {policy} | {case} | {result['stage_s']:.1f} | {ratio:.2f}x | {result['cpu_s']:.1f} |")
    if args.output:
        Path(args.output).write_text(json.dumps({f"{p} {c}": r for (p, c), r in figures.items()}, indent=1) + "\n")


if __name__ == "__main__":
    main()
