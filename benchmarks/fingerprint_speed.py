"""Time the model fingerprint (polyplatypus.models.fingerprint): the first, cold hash of a model
folder whose weights are not in the page cache, and the cached check of the same, unchanged folder.

    .venv/bin/python benchmarks/fingerprint_speed.py --size-gb 5 --dir /tmp/fp-bench

writes one weights file of --size-gb GiB (pseudo-random content, so no file system can compress
or skip it), evicts it from the page cache (posix_fadvise DONTNEED, that file only), hashes the
folder with an empty hash cache, then checks it again from the cache. With --sparse-shards N it
also times the cached check of N sparse 5 GiB shards (a 25 GB folder for N=5) after their first
hash. Everything it wrote is deleted at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

from polyplatypus.models.fingerprint import folder_fingerprint

BLOCK = 64 << 20


def write_weights(path: Path, size: int) -> None:
    block = bytearray(os.urandom(BLOCK))
    with open(path, "wb") as handle:
        for index in range(size // BLOCK):
            block[:8] = index.to_bytes(8, "little")  # every block different
            handle.write(block)
        handle.flush()
        os.fsync(handle.fileno())


def evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def timed(folder: Path, cache: Path) -> tuple[str, float]:
    started = time.perf_counter()
    value = folder_fingerprint(folder, cache=cache)
    return value, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=5.0, help="GiB of weights for the cold hash")
    parser.add_argument("--dir", default="/tmp/polyplatypus-fingerprint-bench")
    parser.add_argument("--sparse-shards", type=int, default=0, help="also a folder of N sparse 5 GiB shards")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    root = Path(args.dir)
    model, cache = root / "model", root / "cache"
    model.mkdir(parents=True, exist_ok=True)
    (model / "config.json").write_text('{"model_type": "gpt_neox"}\n')
    weights = model / "model.safetensors"
    size = int(args.size_gb * (1 << 30)) // BLOCK * BLOCK
    try:
        write_weights(weights, size)
        evict(weights)
        shutil.rmtree(cache, ignore_errors=True)
        first, cold = timed(model, cache)
        again, hit = timed(model, cache)
        assert first == again
        result = {
            "bytes": size,
            "cold_s": round(cold, 2),
            "cold_GB_per_s": round(size / cold / 1e9, 3),
            "cache_hit_s": round(hit, 4),
        }
        if args.sparse_shards:
            big = root / "sparse-model"
            big.mkdir(exist_ok=True)
            (big / "config.json").write_text('{"model_type": "llama"}\n')
            for index in range(args.sparse_shards):
                with open(big / f"model-{index + 1:05d}-of-{args.sparse_shards:05d}.safetensors", "wb") as handle:
                    handle.truncate(5 << 30)
            timed(big, cache)
            hits = [timed(big, cache)[1] for _ in range(5)]
            result.update(
                {"sparse_bytes": args.sparse_shards * (5 << 30), "sparse_cache_hit_s_max": round(max(hits), 4)}
            )
        print(json.dumps(result))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
