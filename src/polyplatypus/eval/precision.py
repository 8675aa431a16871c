"""How far the shared-context path may drift from the reference path in half precision.

Both paths compute the same mathematical quantity, but the shared path attends through another
kernel (a custom mask, packed continuations), so its floating-point reductions run in another
order. Each log-probability term ``lp_i = z_t - logsumexp(z)`` is then perturbed by rounding
errors of the hidden states and logits; those scale with the magnitude of the quantities
involved, i.e. with ``|lp_i|`` plus an O(1) part from the log-sum-exp. Summed over a
continuation's ``n`` tokens, and because every ``lp_i <= 0`` (so ``sum |lp_i| = |LL|``):

    |LL_shared - LL_reference| <= K * u * (|LL| + n)

where ``u`` is the unit roundoff of the model's dtype (2**-24 fp32, 2**-11 fp16, 2**-8 bf16).
``K`` absorbs the depth of the network and the accumulated rounding. K = 32 is a margin over
what is known, not a GPU measurement: the largest ratio measured here is ~2 (CPU, tiny models,
bf16); for a 12.8b model in fp16 a difference of 0.25 nats on ~20-nat, 2-token continuations
would be a ratio of ~23, an estimate that no run of ours has confirmed (no GPU was available to
measure it). ``benchmarks/gpu_eval.py`` prints the observed ratio per cell (``K seen``): run it
on a GPU before trusting K there.

A document's prediction can only differ between the paths when its top-two margin is within
the sum of the two choices' bounds; such documents are scored again the reference way.
"""

from __future__ import annotations

import torch

ERROR_FACTOR = 32.0


def unit_roundoff(dtype: torch.dtype) -> float:
    return torch.finfo(dtype).eps / 2


def error_bound(loglikelihood: float, tokens: int, dtype: torch.dtype) -> float:
    """Largest expected |shared - reference| for one continuation (see the module docstring)."""
    return ERROR_FACTOR * unit_roundoff(dtype) * (abs(loglikelihood) + tokens)


def error_ratio(shared: float, reference: float, tokens: int, dtype: torch.dtype) -> float:
    """|shared - reference| in units of ``u * (|LL| + n)``: what K must exceed."""
    return abs(shared - reference) / (unit_roundoff(dtype) * (abs(reference) + tokens))


def near_tie(loglikelihoods: list[float], token_counts: list[int], dtype: torch.dtype) -> bool:
    """Whether the best choice's lead over any rival is within their combined error bounds.

    Checking every rival (not only the runner-up) also covers a rival whose larger bound could
    let it overtake the leader.
    """
    if len(loglikelihoods) < 2:
        return False
    best = max(range(len(loglikelihoods)), key=lambda i: (loglikelihoods[i], -i))
    lead_bound = error_bound(loglikelihoods[best], token_counts[best], dtype)
    return any(
        loglikelihoods[best] - value <= lead_bound + error_bound(value, count, dtype)
        for i, (value, count) in enumerate(zip(loglikelihoods, token_counts))
        if i != best
    )


def logits_near_tie(top: float, runner_up: float, dtype: torch.dtype) -> bool:
    """Whether a greedy step's top two logits are within rounding of each other.

    Each logit carries a rounding error of about ``K * u * |z|`` (plus an O(1) part, as above), so
    two paths that compute the same logits in another order can only pick different tokens when
    the lead is within the sum of the two bounds. Measured on the CPU (``benchmarks/generate_drift.py``,
    the engine against ``hf``'s batch-1 logits): the largest ratio was about 1.7 in fp16 and 1.4 in
    bf16 (tiny trained models of five layouts, random models up to 1.3b's size), 12.6 in fp32 (a
    1.3b-sized random model; 3.8 to 10 for smaller ones: it grows with size); never a flip unflagged.
    On a GPU it is unmeasured.
    """
    bound = ERROR_FACTOR * unit_roundoff(dtype)
    return top - runner_up <= bound * (abs(top) + abs(runner_up) + 2.0)
