"""HFLM options that SharedContextLM's scorer would not honour are refused by name, never
silently ignored (a softmax_dtype or autocast dtype changes HFLM's scores)."""

from __future__ import annotations

import pytest

pytest.importorskip("lm_eval")


@pytest.mark.parametrize(
    "option, value", [("softmax_dtype", "float32"), ("mixed_precision_dtype", "bfloat16"), ("max_batch_size", 16)]
)
def test_options_that_would_be_ignored_are_refused(tiny_gptneox_dir, option, value):
    from polyplatypus.eval.lm_eval_engine import SharedContextLM

    with pytest.raises(ValueError, match=f"does not honour {option}={value!r}"):
        SharedContextLM(pretrained=str(tiny_gptneox_dir), batch_size=1, **{option: value})


def test_refused_through_lm_eval_model_args(tiny_gptneox_dir):
    from lm_eval.api.registry import get_model

    import polyplatypus.eval.lm_eval_engine  # noqa: F401  (registers "polyplatypus")

    with pytest.raises(ValueError, match="softmax_dtype='float32'"):
        get_model("polyplatypus").create_from_arg_string(f"pretrained={tiny_gptneox_dir},softmax_dtype=float32")
    # simple_evaluate passes max_batch_size=None when not asked: that is no option given
    lm = get_model("polyplatypus").create_from_arg_string(
        f"pretrained={tiny_gptneox_dir}", {"batch_size": 2, "max_batch_size": None, "device": "cpu"}
    )
    assert lm.batch_size == 2
