"""lm-evaluation-harness's HF engine with our shared-context scoring.

:class:`SharedContextLM` is lm-eval's own ``HFLM``: requests are tokenized by its rules
(``_encode_pair`` moves a context's trailing spaces into the continuation, the tokenizer's default
BOS is kept, an empty context becomes the prefix token, its max-length lookup decides the window,
and the window is cut from the left). Only ``_loglikelihood_tokens`` changes: the token pairs that
share a context are scored together by :class:`~polyplatypus.eval.shared_context.SharedContextScorer`
(the context is forwarded once for all of a document's choices), and the answers come back in
the original order as ``(loglikelihood, is_greedy)``. Rolling windows (``loglikelihood_rolling``)
and seq2seq models are left to ``HFLM`` itself.

``_loglikelihood_tokens`` is private to lm-eval, so the package pins lm-eval to exactly
:data:`~polyplatypus.tasks.lm_eval_tasks.LM_EVAL_VERSION`.

Use it from lm-eval::

    from lm_eval import simple_evaluate
    from polyplatypus.eval.lm_eval_engine import SharedContextLM

    lm = SharedContextLM(pretrained="EleutherAI/polyglot-ko-1.3b", batch_size=8)
    simple_evaluate(model=lm, tasks=["kmmlu"])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from polyplatypus.eval.scorer import EncodedDoc, ScoredDoc
from polyplatypus.tasks.lm_eval_tasks import require_lm_eval

require_lm_eval()

from lm_eval.api.registry import register_model  # noqa: E402
from lm_eval.models.huggingface import HFLM  # noqa: E402

# HFLM options that change scores or batches in HFLM's own forward path, which the shared-context
# scorer replaces: refused by name rather than silently ignored (None: not given).
IGNORED_HFLM_OPTIONS = {
    "softmax_dtype": "log-softmax dtype; the scorer takes it in the model's dtype, as HFLM does by default",
    "mixed_precision_dtype": "autocast dtype; load the model in the dtype to score in instead",
    "max_batch_size": "cap of batch_size='auto'; give batch_size as a number instead",
}

# lm-eval's request as _loglikelihood_tokens receives it: ((context, continuation), context ids, continuation ids)
TokenRequest = tuple[tuple[str, str] | None, list[int], list[int]]


@dataclass(frozen=True)
class ScoredRequests:
    """The last call's documents: which encoded document and choice each request was, and the results."""

    places: list[tuple[int, int]]  # per request: (document number, choice number)
    documents: list[EncodedDoc]
    scored: list[ScoredDoc]


def group_by_context(requests: Sequence[TokenRequest]) -> tuple[list[EncodedDoc], list[tuple[int, int]]]:
    """Requests with the same context tokens become one document whose choices are their distinct
    continuations; a request repeated (two identical documents) shares its twin's answer."""
    numbers: dict[tuple[int, ...], int] = {}
    contexts: list[list[int]] = []
    choices: list[dict[tuple[int, ...], int]] = []
    places = []
    for _, context, continuation in requests:
        key = tuple(context)
        if key not in numbers:
            numbers[key] = len(contexts)
            contexts.append(list(context))
            choices.append({})
        number = numbers[key]
        place = choices[number].setdefault(tuple(continuation), len(choices[number]))
        places.append((number, place))
    documents = [EncodedDoc(context=c, continuations=[list(t) for t in table]) for c, table in zip(contexts, choices)]
    return documents, places


def refuse_ignored_options(options: dict) -> None:
    """A ValueError naming each HFLM option given (not None) that SharedContextLM would not honour."""
    given = [name for name in IGNORED_HFLM_OPTIONS if options.get(name) is not None]
    if given:
        raise ValueError("SharedContextLM does not honour " + "; ".join(
            f"{name}={options[name]!r} ({IGNORED_HFLM_OPTIONS[name]})" for name in given)
            + ". Leave them out, or evaluate with lm-eval's own HFLM (model='hf')")


@register_model("polyplatypus")
class SharedContextLM(HFLM):
    """``HFLM`` whose loglikelihoods come from the shared-context engine (see the module docstring).

    Takes ``HFLM``'s arguments, plus ``rescore_near_ties`` (half precision: documents whose top
    two are within rounding of each other are scored again one row per choice, as ``HFLM`` does)
    and ``scorer`` (``"reference"``: one row per choice, the straightforward path, for checks).
    ``score_documents`` may be replaced (the evaluation splits documents across processes there).
    """

    def __init__(self, *args, rescore_near_ties: bool = True, scorer: str = "shared", **kwargs):
        refuse_ignored_options(kwargs)
        super().__init__(*args, **kwargs)
        if scorer not in ("shared", "reference"):
            raise ValueError(f"scorer is 'shared' or 'reference', got {scorer!r}")
        self.scorer = scorer
        self.rescore_near_ties = rescore_near_ties
        self.last_scored: ScoredRequests | None = None
        self.score_documents: Callable[[Sequence[EncodedDoc]], list[ScoredDoc]] = self._score_here

    def make_scorer(self):
        from polyplatypus.eval.scorer import RequestScorer
        from polyplatypus.eval.shared_context import SharedContextScorer

        batch = self.batch_size if isinstance(self.batch_size, int) else "auto"
        if self.scorer == "reference":
            return RequestScorer(self.model, self.tokenizer, batch_size=batch, max_length=self.max_length, greedy=True)
        return SharedContextScorer(self.model, self.tokenizer, batch_size=batch, max_length=self.max_length,
                                   rescore_near_ties=self.rescore_near_ties, greedy=True)

    def _score_here(self, documents: Sequence[EncodedDoc]) -> list[ScoredDoc]:
        return self.make_scorer().score_encoded(documents)

    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, override_bs: int | None = None):
        if self.backend != "causal" or override_bs is not None or any(r[0] is None for r in requests):
            # rolling windows (no request strings, a forced batch) and seq2seq: lm-eval's own path
            return super()._loglikelihood_tokens(requests, disable_tqdm=disable_tqdm, override_bs=override_bs)
        documents, places = group_by_context(requests)
        scored = self.score_documents(documents)
        self.last_scored = ScoredRequests(places=places, documents=documents, scored=scored)
        answers = []
        for (request_strings, _, _), (number, choice) in zip(requests, places):
            answer = (float(scored[number].loglikelihoods[choice]), bool(scored[number].greedy[choice]))
            self.cache_hook.add_partial("loglikelihood", request_strings, answer)
            answers.append(answer)
        return answers
