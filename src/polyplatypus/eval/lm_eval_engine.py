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

import json
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from polyplatypus.eval.scorer import EncodedDoc, ScoredDoc
from polyplatypus.tasks.lm_eval_tasks import DEFAULT_NEAR_TIES, NEAR_TIES, require_lm_eval

require_lm_eval()

from lm_eval.api.registry import register_model  # noqa: E402
from lm_eval.models.huggingface import HFLM  # noqa: E402
from lm_eval.models.utils import handle_stop_sequences, normalize_gen_kwargs, postprocess_generated_text  # noqa: E402

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
        raise ValueError(
            "SharedContextLM does not honour "
            + "; ".join(f"{name}={options[name]!r} ({IGNORED_HFLM_OPTIONS[name]})" for name in given)
            + ". Leave them out, or evaluate with lm-eval's own HFLM (model='hf')"
        )


@register_model("polyplatypus")
class SharedContextLM(HFLM):
    """``HFLM`` whose loglikelihoods come from the shared-context engine (see the module docstring).

    Takes ``HFLM``'s arguments, plus ``rescore_near_ties`` (half precision: documents whose top
    two are within rounding of each other are scored again one row per choice, as ``HFLM`` does),
    ``near_ties`` (generation: ``"redecide"`` a step whose top two logits are within rounding by
    ``HFLM``'s batch-1 path, or ``"keep"`` the batch's own token there; see
    :class:`polyplatypus.eval.generation.GenerationEngine`) and ``scorer`` (``"reference"``: one
    row per choice, the straightforward path, for checks).
    ``score_documents`` may be replaced (the evaluation splits documents across processes there).
    """

    def __init__(
        self,
        *args,
        rescore_near_ties: bool = True,
        near_ties: str = DEFAULT_NEAR_TIES,
        scorer: str = "shared",
        **kwargs,
    ):
        refuse_ignored_options(kwargs)
        if near_ties not in NEAR_TIES:
            raise ValueError(f"near_ties is one of {', '.join(NEAR_TIES)}, got {near_ties!r}")
        super().__init__(*args, **kwargs)
        if scorer not in ("shared", "reference"):
            raise ValueError(f"scorer is 'shared' or 'reference', got {scorer!r}")
        self.scorer = scorer
        self.near_ties = near_ties
        self.rescore_near_ties = rescore_near_ties
        self.last_scored: ScoredRequests | None = None
        self.score_documents: Callable[[Sequence[EncodedDoc]], list[ScoredDoc]] = self._score_here
        self.on_generated: Callable[[int, str], None] | None = None  # (request index, answer) as each ends
        self.last_generated: list | None = None  # the last generate_until's Generated records, in request order
        self.generation_counters = None  # the last generate_until's GenerationCounters
        # the rows generate_until batches, where they differ from the scorer's batch_size
        # (polyplatypus eval: --batch-size auto scores one row at a time on a CPU, but generates
        # with the engine's own auto rows, which continuous batching gains from there too)
        self.generation_rows: int | str | None = None

    def make_scorer(self):
        from polyplatypus.eval.scorer import RequestScorer
        from polyplatypus.eval.shared_context import SharedContextScorer

        batch = self.batch_size if isinstance(self.batch_size, int) else "auto"
        if self.scorer == "reference":
            return RequestScorer(self.model, self.tokenizer, batch_size=batch, max_length=self.max_length, greedy=True)
        return SharedContextScorer(
            self.model,
            self.tokenizer,
            batch_size=batch,
            max_length=self.max_length,
            rescore_near_ties=self.rescore_near_ties,
            greedy=True,
        )

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

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """``HFLM.generate_until``'s answers, by the engine of :mod:`polyplatypus.eval.generation`.

        Requests are grouped by their generation kwargs as ``HFLM`` does; each context is
        tokenized and left-truncated exactly as ``HFLM`` does for a batch of one.
        """
        if self.backend != "causal":
            return super().generate_until(requests, disable_tqdm=disable_tqdm)
        from polyplatypus.eval.generation import GenerationCounters

        groups: dict[str, list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(json.dumps(request.args[1], sort_keys=True, default=str), []).append(index)
        self.last_generated = [None] * len(requests)
        self.generation_counters = GenerationCounters()
        for indices in groups.values():
            self._generate_group(requests, indices)
        return [record.text for record in self.last_generated]

    def _generate_group(self, requests, indices: list[int]) -> None:
        from polyplatypus.errors import ConfigError
        from polyplatypus.eval.generation import (
            GenerationEngine,
            GenerationSettings,
            check_generation_settings,
            eos_ids_of,
        )

        if self.mixed_precision_dtype is not None:
            raise ConfigError("generation with mixed_precision_dtype is not supported by polyplatypus' engine")
        gen_kwargs = requests[indices[0]].args[1]
        kwargs = normalize_gen_kwargs(gen_kwargs, self.max_gen_toks)
        until = handle_stop_sequences(
            kwargs.pop("until", None), eos=self.tok_decode(self.eot_token_id, skip_special_tokens=False)
        )
        max_gen_toks = kwargs.pop("max_gen_toks")
        if self.max_length - max_gen_toks <= 0:
            raise ConfigError(
                f"max_gen_toks {max_gen_toks} leaves no room for a context in the model's "
                f"maximum length {self.max_length}"
            )
        config = self.model.generation_config
        settings = GenerationSettings(
            until=tuple(until),
            max_new_tokens=max_gen_toks,
            eos_ids=eos_ids_of(config),
            repetition_penalty=check_generation_settings(kwargs, config, do_sample=kwargs["do_sample"]),
        )
        contexts = [self.generation_context(requests[i]) for i in indices]

        def reference(context: list[int], max_new_tokens: int) -> list[int]:
            ids = torch.tensor([context], device=self.device)
            out = self._model_generate(
                context=ids,
                attention_mask=torch.ones_like(ids),
                stop=list(until),
                max_length=len(context) + max_new_tokens,
                **dict(kwargs),
            )
            return out[0, len(context) :].tolist()

        def finished(position: int, record) -> None:
            index = indices[position]
            record.generation = self.tok_decode(record.tokens)
            record.text = self.answer_text(record.tokens, until)
            self.last_generated[index] = record
            self.cache_hook.add_partial("generate_until", requests[index].args, record.text)
            if self.on_generated is not None:
                self.on_generated(index, record.text)

        batch = self.generation_rows or (self.batch_size if isinstance(self.batch_size, int) else "auto")
        engine = GenerationEngine(self.model, self.tokenizer, rows=batch, reference=reference, near_ties=self.near_ties)
        engine.generate(contexts, settings, on_done=finished)
        for name, value in vars(engine.counters).items():
            setattr(self.generation_counters, name, getattr(self.generation_counters, name) + value)

    def generation_context(self, request) -> list[int]:
        """A generation request's context tokens as ``HFLM`` encodes them for a batch of one: left
        truncated to ``max_length - max_gen_toks``."""
        kwargs = normalize_gen_kwargs(request.args[1], self.max_gen_toks)
        room = self.max_length - kwargs["max_gen_toks"]
        ids, _ = self.tok_batch_encode([request.args[0]], left_truncate_len=room, truncation=self.truncation)
        return ids[0].tolist()

    def answer_text(self, tokens: list[int], until: list[str]) -> str:
        """The answer ``HFLM.generate_until`` makes of generated tokens: thinking stripped, then cut
        at the first stop string, in its order."""
        if isinstance(self.think_end_token, int):
            ends = [i for i, token in enumerate(tokens) if token == self.think_end_token]
            if ends:
                tokens = tokens[ends[-1] + 1 :]
        text = self.tok_decode(tokens)
        if isinstance(self.think_end_token, int):
            text = text.lstrip()
        return postprocess_generated_text(
            generation=text,
            stop=until,
            think_end_token=self.think_end_token if isinstance(self.think_end_token, str) else None,
        )
