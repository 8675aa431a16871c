"""Half-precision near-ties: the error bound, and re-scored documents reported per cell."""

from pathlib import Path

import pytest
import torch

from polyplatypus.eval.precision import ERROR_FACTOR, error_bound, near_tie, unit_roundoff


def test_bound_scales_with_the_dtype_and_the_magnitude():
    assert unit_roundoff(torch.bfloat16) == 2**-8 and unit_roundoff(torch.float16) == 2**-11
    assert error_bound(-10.0, 2, torch.float16) == pytest.approx(ERROR_FACTOR * 2**-11 * 12)
    assert error_bound(-10.0, 2, torch.float32) < 1e-4  # fp32: only (near-)exact ties re-score


def test_near_tie_against_every_rival():
    dtype = torch.float16
    lead = error_bound(-5.0, 1, dtype) + error_bound(-5.5, 1, dtype)
    assert near_tie([-5.0, -5.0 - 0.9 * lead, -40.0], [1, 1, 1], dtype)
    assert not near_tie([-5.0, -5.0 - 1.1 * lead - 0.6, -40.0], [1, 1, 1], dtype)
    assert near_tie([-9.0, -9.0], [1, 1], torch.float32)  # an exact tie in any dtype
    assert not near_tie([-1.0], [1], dtype)


def test_cell_records_the_rescored_count(kobest_dir):
    """bf16 on the LM fixture: COPA's margins are small, so some documents are re-scored; the
    count is in the cell's metrics, on each sample, and under the results.md tables."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from polyplatypus.eval.runner import score_cell
    from polyplatypus.eval.tables import results_markdown
    from polyplatypus.tasks import get_task

    path = Path(__file__).parents[1] / "fixtures" / "tiny-gptneox-lm"
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    metrics, samples = score_cell(
        model, tokenizer, get_task("kobest_copa"), 0, kobest_dir=kobest_dir, limit=12, batch_size=4
    )
    assert metrics["rescored"] == sum(s["rescored"] for s in samples) > 0
    record = {"model": "tiny", "task": "kobest_copa", "shots": 0, **metrics}
    assert f"tiny COPA 0-shot {metrics['rescored']} of 12" in results_markdown([record]).replace("kobest_copa", "COPA")
    fp32 = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    metrics32, _ = score_cell(
        fp32, tokenizer, get_task("kobest_copa"), 0, kobest_dir=kobest_dir, limit=12, batch_size=4
    )
    assert metrics32["rescored"] == 0
    assert "re-scored" not in results_markdown([{"model": "tiny", "task": "kobest_copa", "shots": 0, **metrics32}])


def test_the_bound_claims_no_gpu_measurement_that_was_never_made():
    """K = 32 is a margin over a CPU measurement and a GPU estimate; no H100 run exists."""
    from polyplatypus.eval import precision

    text = " ".join(precision.__doc__.split())
    assert "on an H100" not in text and "set from measurements" not in text
    assert "not a GPU measurement" in text and "benchmarks/gpu_eval.py" in text
