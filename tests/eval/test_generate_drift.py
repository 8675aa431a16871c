"""benchmarks/generate_drift.py on a briefly trained tiny model: the engine's logits against hf's
batch-1 path's, and the near-tie bound's soundness where the two paths pick different tokens."""

import json
import subprocess
import sys
from pathlib import Path

from polyplatypus.eval.precision import ERROR_FACTOR

REPO = Path(__file__).parents[2]
SCRIPT = REPO / "benchmarks" / "generate_drift.py"
MODEL = REPO / "tests" / "fixtures" / "tiny-qwen3-gen"


def test_every_flip_between_the_engine_and_batch_one_is_flagged_as_a_near_tie(tmp_path):
    out = tmp_path / "drift.json"
    command = [sys.executable, str(SCRIPT), "--model", str(MODEL), "--dtypes", "bfloat16,float32"]
    command += ["--shapes", "zero,random5", "--docs", "8", "--max-new-tokens", "24", "--json", str(out)]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=600)
    rows = {(r["dtype"], r["shape"]): r for r in json.loads(out.read_text())["rows"]}
    assert set(rows) == {(d, s) for d in ("bfloat16", "float32") for s in ("zero", "random5")}
    for row in rows.values():
        ours = row["ours"]
        assert ours["steps"] > 50  # most steps compared: the paths agree on most tokens
        assert ours["unflagged_flips"] == 0  # redecide would have re-decided every step where they part
        assert ours["k_seen"] < ERROR_FACTOR
        assert ours["near_ties_at_twice_k_seen"] <= ours["near_ties"]
    # in bf16 the paths do part (otherwise the check above would be empty), always at a flagged step
    assert sum(rows[("bfloat16", s)]["ours"]["flips"] for s in ("zero", "random5")) > 0
