"""benchmarks/gpu_eval.py at its tiny layout on CPU, so the GPU script keeps working between GPU runs."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "gpu_eval.py"


def test_tiny_layout_runs_and_engines_agree(tmp_path, kobest_dir, polyglot_tokenizer):
    # lm-eval comes with the 'bench' extra; without it the script still runs our two engines
    engines = ("shared", "reference") + (("lm-eval",) if importlib.util.find_spec("lm_eval") else ())
    out = tmp_path / "out"
    subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--layout",
            "tiny",
            "--out",
            str(out),
            "--limit",
            "2",
            "--tasks",
            "kobest_boolq,kobest_copa",
            "--shots",
            "0,50",
            "--kobest-dir",
            str(kobest_dir),
            "--tokenizer",
            polyglot_tokenizer.name_or_path,
            "--engines",
            ",".join(engines),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    rows = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    assert [(r["task"], r["shots"], r["engine"]) for r in rows] == [
        (t, k, e) for k in (0, 50) for t in ("kobest_boolq", "kobest_copa") for e in engines
    ]
    for row in rows:
        assert row["wall_s"] > 0 and row["useful_tflops"] > 0 and row["forwarded_tokens"] > 0
        assert row["pred_differs_from_shared"] == 0 if row["engine"] != "shared" else row["rescored"] is not None
    shared = [r for r in rows if r["engine"] == "shared"]
    assert all(r["tokens_over_min"] <= 1.05 for r in shared)
    # fp32: the shared path is within a few unit roundoffs of the reference path
    assert all(r["k_seen"] < 32 for r in rows if r["engine"] == "reference")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cells_done"] == 4 and not summary["stopped_by_budget"]
    assert set(summary["full_test_sets_s_for_cells_done"]) == set(engines)
