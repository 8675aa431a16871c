"""Greedy generation for lm-eval's ``generate_until``: shared prefixes, continuous batching.

The engine decides each document's tokens exactly as lm-eval 0.4.13's ``HFLM`` does at batch size
1 (``model.generate`` with its stop-string criteria), but much faster on a set of documents:

* Documents are taken in token order, so each shares the longest possible prefix with the one
  before it: that prefix's key/value cache is kept (cropped) and only the rest of the context is
  forwarded. Summed over the documents this forwards each distinct context prefix once. Documents
  entering the batch together are prefilled in one forward (:func:`prefill_groups`).
* Up to ``rows`` documents decode together. A row that stops leaves at once and the next
  document's prefilled cache takes its slot (continuous batching); rows of different lengths sit
  right-aligned in one cache, with a 4-D mask hiding each row's left padding (one mask per layer
  type where layers slide: the caches keep every position, :func:`full_cache`).
* Stop strings are checked after every token per row, as lm-eval's ``MultiTokenEOSCriteria``
  does at batch 1 (the last ``len(stop tokens) + 2`` generated tokens decoded).

Cached prefixes and batched rows round differently from one batch-1 prefill, so where a step's
top two logits are within rounding of each other (:func:`~polyplatypus.eval.precision.logits_near_tie`)
``reference`` (``HFLM``'s own batch-1 path) generates the document up to that step and its token is
taken; ``counters.redone`` counts these.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from itertools import islice
from typing import Callable, Sequence

import torch

from polyplatypus.errors import ConfigError
from polyplatypus.eval.precision import logits_near_tie
from polyplatypus.models.attention import sliding_window
from polyplatypus.tasks.lm_eval_tasks import DEFAULT_NEAR_TIES

MAX_CPU_ROWS = 64  # on CPU more rows stop paying: decoding becomes matrix-matrix work
MEMORY_FRACTION = 0.5  # of the free memory, for the rows' key/value cache
# Documents prefilled together forward only their common prefix once; a document that shares more
# with its neighbour than with the group starts a new group when that would re-forward more than
# this many positions (kept small: the issue asks for at most 1.05x the minimum).
REFORWARD_LIMIT = 4
PREFILL_PADDING = 0.03  # right padding allowed in a run prefilled together, as a share of its real positions
PADDING_ALLOWANCE = 32  # plus this many positions: fewer than one forward's fixed cost
# Near ties re-decided: once this many rows have had a first one (re-decided up to its step), and
# half of them a second (each then generated whole by the batch-1 path), later rows are generated
# whole at their first: one batch-1 prefill instead of two (half precision, where ties are frequent).
SECOND_TIE_SAMPLE = 4
# ... and once this many rows have been admitted and nearly all of them (TIES_EVERYWHERE) have met a
# near tie, later documents skip the batch: each is generated whole by the batch-1 path at once, which
# is what it would come to (half precision on a small model: every document), without the batch's work.
ADMITTED_SAMPLE = 8
TIES_EVERYWHERE = 0.9
# While documents skip the batch, one in this many is still admitted, so that the share keeps being
# measured and batching resumes where near ties turn out rarer than in the first rows (neighbours).
RESAMPLE_EVERY = 8
# room a decode cache keeps beyond its positions: at least this many, or an eighth of them
CACHE_RESERVE = 64


def reserved_capacity(positions: int) -> int:
    """The positions a decode cache's buffer holds when it must take ``positions``: room to grow."""
    return positions + max(CACHE_RESERVE, positions // 8)


# Generation settings (task keys or the model's generation_config) that change greedy text and that
# the engine does not reproduce: refused by name rather than silently ignored.
REFUSED_SETTINGS = {
    "num_beams": 1,
    "num_beam_groups": 1,
    "penalty_alpha": None,
    "no_repeat_ngram_size": None,
    "encoder_no_repeat_ngram_size": None,
    "bad_words_ids": None,
    "min_length": 0,
    "min_new_tokens": None,
    "forced_bos_token_id": None,
    "forced_eos_token_id": None,
    "suppress_tokens": None,
    "begin_suppress_tokens": None,
    "sequence_bias": None,
    "exponential_decay_length_penalty": None,
    "encoder_repetition_penalty": 1.0,
    "guidance_scale": None,
    "stop_strings": None,
    "max_time": None,
    "max_new_tokens": None,
    "dola_layers": None,
    "prompt_lookup_num_tokens": None,
    "assistant_early_exit": None,
    "watermarking_config": None,
    "num_return_sequences": 1,
}
# Keys lm-eval passes on to model.generate that greedy decoding ignores (sampling warpers).
IGNORED_WHEN_GREEDY = {"temperature", "top_k", "top_p", "min_p", "typical_p", "epsilon_cutoff", "eta_cutoff"}


@dataclass(frozen=True)
class GenerationSettings:
    """What decides a document's tokens, from a request's gen_kwargs and the model's generation_config."""

    until: tuple[str, ...]
    max_new_tokens: int
    eos_ids: frozenset[int]
    repetition_penalty: float = 1.0


@dataclass
class Generated:
    """One document's result: ``tokens`` as generated (a final EOS included), and why it stopped."""

    tokens: list[int]
    stop_reason: str  # "stop" (a stop string), "eos" or "length"
    text: str = ""  # the answer lm-eval scores (thinking stripped, cut at the first stop string)
    generation: str = ""  # the raw decoded generation
    near_ties_kept: int | None = None  # near_ties="keep": steps near a tie taken from the batch (else None)

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)


@dataclass
class GenerationCounters:
    positions_forwarded: int = 0  # context and generated positions run through the model
    minimum_positions: int = 0  # each distinct context prefix once, plus each generated token fed back
    padding_positions: int = 0  # of positions_forwarded: right padding of contexts prefilled together
    redone: int = 0  # steps re-decided by the reference path (near ties)
    # documents generated whole by the reference path without entering the batch (nearly every row
    # admitted had met a near tie)
    sent_whole: int = 0
    redone_positions: int = 0  # of positions_forwarded: those the reference path forwarded (both above)
    near_ties_kept: int = 0  # near_ties="keep": steps near a tie whose token was the batch's own argmax
    documents: int = 0


def check_generation_settings(kwargs: dict, generation_config, *, do_sample: bool) -> float:
    """Refuse, by name, a setting the engine does not reproduce; return the repetition penalty.

    ``kwargs`` are the request's keys left after lm-eval's normalisation (``until`` and
    ``max_gen_toks`` taken out); ``generation_config`` is the model's, which ``model.generate``
    applies under them.
    """
    given = "the task's generation_kwargs or --gen-kwargs"
    if do_sample:
        raise ConfigError(
            "generation with do_sample=True (sampling; lm-eval sets it where temperature > 0 and do_sample is not "
            "given) is not supported: only greedy decoding reproduces lm-eval's hf text; set do_sample=False or "
            f"temperature=0 in {given}"
        )
    if "max_length" in kwargs:  # prompt plus generation in hf: a length that depends on the batch's padding
        raise ConfigError(
            f"generation setting 'max_length' (from {given}) is not supported by polyplatypus' engine; "
            "use max_gen_toks (new tokens) instead"
        )
    unknown = sorted(set(kwargs) - set(REFUSED_SETTINGS) - IGNORED_WHEN_GREEDY - {"do_sample", "repetition_penalty"})
    if unknown:
        raise ConfigError(
            f"generation setting {unknown[0]!r} (from {given}) is not supported by polyplatypus' engine: it takes "
            "until, max_gen_toks, do_sample=False and repetition_penalty, and ignores the sampling-only "
            f"{', '.join(sorted(IGNORED_WHEN_GREEDY))}; leave it out"
        )
    for name, neutral in REFUSED_SETTINGS.items():
        value = kwargs.get(name, getattr(generation_config, name, neutral))
        if value != neutral and value is not None:
            where, fix = (
                (given, "leave it out")
                if name in kwargs
                else (
                    "the model's generation_config.json",
                    "remove it there" + ("" if neutral is None else f" (or set {neutral!r})"),
                )
            )
            raise ConfigError(
                f"generation setting {name}={value!r} (from {where}) is not supported by polyplatypus' engine, "
                f"which reproduces lm-eval's greedy hf text; {fix}"
            )
    penalty = kwargs.get("repetition_penalty", getattr(generation_config, "repetition_penalty", None))
    return 1.0 if penalty is None else float(penalty)


def eos_ids_of(generation_config) -> frozenset[int]:
    """The EOS ids ``model.generate`` stops at."""
    eos = getattr(generation_config, "eos_token_id", None)
    if eos is None:
        return frozenset()
    return frozenset([eos] if isinstance(eos, int) else eos)


class StopRule:
    """Whether a row has stopped after its latest token, as ``model.generate`` decides at batch 1."""

    def __init__(self, tokenizer, settings: GenerationSettings):
        self.tokenizer = tokenizer
        self.settings = settings
        # lm-eval looks back two tokens more than the stop string's own encoding
        self.lookback = [(s, len(tokenizer.encode(s, add_special_tokens=False)) + 2) for s in settings.until]

    def reason(self, tokens: Sequence[int]) -> str | None:
        if tokens[-1] in self.settings.eos_ids:
            return "eos"
        for stop, lookback in self.lookback:
            if stop in self.tokenizer.decode(tokens[-lookback:]):
                return "stop"
        if len(tokens) >= self.settings.max_new_tokens:
            return "length"
        return None


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def minimum_prefix_positions(contexts: Sequence[Sequence[int]]) -> int:
    """Distinct context prefixes (the nodes of their token trie): what must be forwarded at least."""
    ordered = sorted({tuple(c) for c in contexts})
    return sum(len(c) - common_prefix(c, p) for c, p in zip(ordered, [()] + ordered[:-1]))


def prefill_groups(documents: Sequence[Sequence[int]], kept: Sequence[int] = ()) -> list[list[int]]:
    """Consecutive runs of ``documents`` (in token order) to prefill together, one forward each.

    A run forwards once the prefix its members share (``shared``), then each member's rest, padded
    on the right to the longest. A member whose neighbour (the document before it; for the first,
    ``kept``: the cache kept from before) shares ``n > shared`` positions with it re-forwards
    ``n - shared`` beyond the minimum. A document joins the run unless that adds more than
    :data:`REFORWARD_LIMIT` such positions, or makes padding more than :data:`PREFILL_PADDING`
    of the run's real positions plus :data:`PADDING_ALLOWANCE`.
    """

    def costs(members: list[int], neighbours: list[int]) -> tuple[int, int, int]:
        if len(members) == 1:
            return 0, 0, 1
        shared = min(min(neighbours[1:]), min(len(documents[m]) for m in members) - 1)
        widths = [len(documents[m]) - shared for m in members]
        return sum(max(0, n - shared) for n in neighbours), max(widths) * len(widths) - sum(widths), sum(widths)

    groups: list[list[int]] = []
    neighbours: list[int] = []  # of the current run's members
    for i, document in enumerate(documents):
        neighbour = common_prefix(documents[i - 1] if i else kept, document)
        if groups:
            before = costs(groups[-1], neighbours)
            after = costs(groups[-1] + [i], neighbours + [neighbour])
            if after[0] - before[0] <= REFORWARD_LIMIT and after[1] <= PREFILL_PADDING * after[2] + PADDING_ALLOWANCE:
                groups[-1].append(i)
                neighbours.append(neighbour)
                continue
        groups.append([i])
        neighbours = [neighbour]
    return groups


def check_cache_layout(model) -> None:
    """Refuse layouts whose attention the engine cannot reproduce exactly.

    Full-attention and sliding-window layers (Gemma 3, EXAONE 4, Mistral, Qwen with sliding
    layers) are exact: the engine keeps every position of every layer (:func:`full_cache`) and
    gives the sliding layers their window as a mask, so cropping, right-aligning and refilling
    rows work as for full layers. Other layer kinds (chunked, linear, indexed or shared
    key/value layers) are refused by name."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

    try:
        sliding_window(model.config)  # names a layer type other than full and sliding attention
    except ConfigError as error:
        raise ConfigError(f"generation: {error}") from None
    kinds = {type(layer).__name__ for layer in DynamicCache(config=model.config).layers}
    unknown = kinds - {DynamicLayer.__name__, DynamicSlidingWindowLayer.__name__}
    if unknown:
        raise ConfigError(
            f"generation with a {'/'.join(sorted(unknown))} key/value cache is not supported by polyplatypus' engine"
        )
    implementation = getattr(model.config, "_attn_implementation", "eager")
    if implementation not in ("eager", "sdpa"):
        raise ConfigError(f"generation needs attn_implementation 'sdpa' or 'eager', not {implementation!r}")


def full_cache(model):
    """An empty DynamicCache with a plain growing layer for every decoder layer, sliding ones
    included: transformers' sliding layers drop what falls out of the window, which would make a
    cached prefix impossible to crop back or to share. The window is applied by the masks instead
    (:meth:`DecodeBatch.step`; transformers' own mask when the engine passes none). Memory: every
    layer keeps every position, as a model without sliding layers does."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    cache = DynamicCache(config=model.config)
    cache.layers = [DynamicLayer() for _ in cache.layers]
    return cache


def decode_cache(model):
    """:func:`full_cache` whose layers keep room to grow (:class:`ReservedLayer`): what the rows
    decoding together write into at every step."""
    cache = full_cache(model)
    reserved_layer = _reserved_layer_class()
    cache.layers = [reserved_layer() for _ in cache.layers]
    return cache


@functools.cache
def _reserved_layer_class():
    from transformers.cache_utils import DynamicLayer

    class ReservedLayer(DynamicLayer):
        """A growing key/value layer that writes a step's positions into spare room of a buffer:
        transformers' DynamicLayer concatenates, copying the whole cache of every row at every decode
        step, which on a long context costs as much as the step's attention. ``keys``/``values`` read
        as the filled part (a view); assigning them (the engine's padding, trimming, row selection)
        stores the tensor as the buffer, which grows once at the next step."""

        def __init__(self):
            self._buffers = {"keys": None, "values": None}
            self._lengths = {"keys": 0, "values": 0}
            super().__init__()

        def _filled(self, name: str):
            buffer = self._buffers[name]
            return buffer if buffer is None or buffer.dim() != 4 else buffer[:, :, : self._lengths[name]]

        def _store(self, name: str, tensor) -> None:
            self._buffers[name] = tensor
            self._lengths[name] = tensor.shape[-2] if tensor is not None and tensor.dim() == 4 else 0

        keys = property(lambda self: self._filled("keys"), lambda self, t: self._store("keys", t))
        values = property(lambda self: self._filled("values"), lambda self, t: self._store("values", t))

        def _append(self, name: str, states: torch.Tensor) -> None:
            buffer, length = self._buffers[name], self._lengths[name]
            needed = length + states.shape[-2]
            if buffer is None or buffer.dim() != 4 or buffer.shape[-2] < needed or buffer.shape[:2] != states.shape[:2]:
                grown = states.new_empty(*states.shape[:2], reserved_capacity(needed), states.shape[-1])
                if length:
                    grown[:, :, :length] = buffer[:, :, :length]
                self._buffers[name] = buffer = grown
            buffer[:, :, length:needed] = states
            self._lengths[name] = needed

        def update(self, key_states, value_states, *args, **kwargs):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            self._append("keys", key_states)
            self._append("values", value_states)
            return self.keys, self.values

    return ReservedLayer


@dataclass
class Row:
    """A document being decoded: its context, the tokens so far and its next position."""

    doc: int
    context: list[int]
    tokens: list[int] = field(default_factory=list)
    redone: int = 0  # near ties re-decided in this row
    kept: int = 0  # near ties taken from the batch (near_ties="keep")

    @property
    def position(self) -> int:  # of the latest token, the one fed next
        return len(self.context) + len(self.tokens) - 1


def cache_of(model, layers, row: int, length: int):
    """A new batch-1 DynamicCache holding the first ``length`` positions of ``row`` of ``layers``."""
    cache = full_cache(model)
    for layer, source in zip(cache.layers, layers):
        layer.update(source.keys[row : row + 1, :, :length].clone(), source.values[row : row + 1, :, :length].clone())
    return cache


@dataclass
class Prefilled:
    """Documents forwarded together: row ``i`` of ``cache`` holds document ``i``'s context (right-padded)."""

    cache: object
    logits: torch.Tensor  # [documents, vocabulary], float32: each document's next-token logits
    one_row: bool = False  # identical documents: all in row 0

    def row_of(self, document: int) -> int:
        return 0 if self.one_row else document


class PrefixCache:
    """The previous document's key/value cache, cropped to what the next documents share with it."""

    def __init__(self, model):
        self.model = model
        self.ids: list[int] = []
        self.cache = None
        self.logits: torch.Tensor | None = None
        self.forwarded = self.padding = 0

    def _extend_to(self, ids: list[int], length: int, *, logits: bool) -> None:
        """Make the kept cache hold exactly ``ids[:length]``, cropping what differs and forwarding the
        rest; with ``logits``, ``self.logits`` is then the next-token logits after ``ids[:length]``."""

        keep = min(common_prefix(self.ids, ids), length)
        if logits and not (keep == length == len(self.ids) and self.logits is not None):
            keep = min(keep, length - 1)  # at least one position forwarded to get the logits
        if self.cache is None or keep == 0:
            self.cache, keep, self.logits = full_cache(self.model), 0, None
        elif keep < self.cache.get_seq_length():
            self.cache.crop(keep - self.cache.get_seq_length())  # transformers 5.x: a negative count to remove
            self.logits = None
        if length > keep:
            out = self.model(
                input_ids=torch.tensor([ids[keep:length]], device=self.model.device),
                cache=self.cache,
                use_cache=True,
                logits_to_keep=1,
            )
            self.logits = out.logits[0, -1].float()
            self.forwarded += length - keep
        self.ids = list(ids[:length])

    def prefill(self, documents: list[list[int]]) -> Prefilled:
        """The caches and next-token logits of ``documents`` (in token order): their common prefix
        comes from the kept cache, the rest is forwarded as one right-padded batch."""

        if all(d == documents[0] for d in documents):
            self._extend_to(documents[0], len(documents[0]), logits=True)
            return Prefilled(cache=self.cache, logits=self.logits[None].expand(len(documents), -1), one_row=True)
        shared = min(min(common_prefix(documents[0], d) for d in documents), min(len(d) for d in documents) - 1)
        batch = full_cache(self.model)
        if shared:
            self._extend_to(documents[0], shared, logits=False)
            for layer, source in zip(batch.layers, self.cache.layers):
                layer.update(
                    source.keys.expand(len(documents), -1, -1, -1).contiguous(),
                    source.values.expand(len(documents), -1, -1, -1).contiguous(),
                )
        widths = [len(d) - shared for d in documents]
        rows = torch.tensor(
            [d[shared:] + [0] * (max(widths) - w) for d, w in zip(documents, widths)], device=self.model.device
        )  # right padding: no real position attends to it
        last = torch.tensor([[w - 1] for w in widths], device=self.model.device)
        logits = self.model(input_ids=rows, cache=batch, use_cache=True, logits_to_keep=last).logits[:, -1].float()
        self.forwarded += rows.numel()
        self.padding += rows.numel() - sum(widths)
        self.cache = cache_of(self.model, batch.layers, len(documents) - 1, len(documents[-1]))
        self.ids, self.logits = list(documents[-1]), logits[-1]
        return Prefilled(cache=batch, logits=logits)


class DecodeBatch:
    """Rows decoding together in one cache, right-aligned: row ``b`` owns columns ``starts[b]:``."""

    def __init__(self, model):
        self.model = model
        self.dtype = model.dtype  # a property that walks the parameters: read once
        self.window = sliding_window(model.config)
        self.rows: list[Row] = []
        self.starts: list[int] = []
        self.cache = None
        self.width = 0

    def __len__(self) -> int:
        return len(self.rows)

    def _layers(self):
        return self.cache.layers

    def put(self, row: Row, doc_cache, slot: int | None = None, source: int = 0) -> None:
        """Place a prefilled document (row ``source`` of ``doc_cache``) in ``slot`` (a finished row's)
        or in a new row."""

        length = len(row.context)
        if self.cache is None:
            self.cache = decode_cache(self.model)
            for layer, from_ in zip(self.cache.layers, doc_cache.layers):  # update copies into its own buffer
                layer.update(from_.keys[source : source + 1, :, :length], from_.values[source : source + 1, :, :length])
            self.rows, self.starts, self.width = [row], [0], length
            return
        if length > self.width:  # widen every row on the left
            grow = length - self.width
            for layer in self._layers():
                layer.keys = torch.nn.functional.pad(layer.keys, (0, 0, grow, 0))
                layer.values = torch.nn.functional.pad(layer.values, (0, 0, grow, 0))
            self.starts = [s + grow for s in self.starts]
            self.width = length
        if slot is None:
            for layer in self._layers():
                layer.keys = torch.cat([layer.keys, torch.zeros_like(layer.keys[:1])])
                layer.values = torch.cat([layer.values, torch.zeros_like(layer.values[:1])])
            self.rows.append(row)
            self.starts.append(0)
            slot = len(self.rows) - 1
        begin = self.width - length
        for layer, from_ in zip(self._layers(), doc_cache.layers):
            layer.keys[slot, :, begin:] = from_.keys[source, :, :length]
            layer.values[slot, :, begin:] = from_.values[source, :, :length]
        self.rows[slot], self.starts[slot] = row, begin
        self._trim()

    def _trim(self) -> None:
        """Drop the columns on the left that no row uses any more (a finished row's, once its slot
        holds a shorter document): every later step would attend over them and copy them."""
        unused = min(self.starts)
        if unused:
            for layer in self._layers():
                layer.keys = layer.keys[:, :, unused:]
                layer.values = layer.values[:, :, unused:]
            self.starts = [s - unused for s in self.starts]
            self.width -= unused

    def drop(self, slots: Sequence[int]) -> None:
        """Remove finished rows, and the columns that no remaining row uses."""
        keep = [b for b in range(len(self.rows)) if b not in set(slots)]
        self.rows = [self.rows[b] for b in keep]
        self.starts = [self.starts[b] for b in keep]
        if not keep:
            self.cache, self.width = None, 0
            return
        index = torch.tensor(keep, device=self._layers()[0].keys.device)
        for layer in self._layers():
            layer.keys = layer.keys.index_select(0, index)
            layer.values = layer.values.index_select(0, index)
        self._trim()

    def step(self) -> torch.Tensor:
        """Feed every row's latest token; the float32 logits of each row's next token."""
        device = self.model.device
        tokens = torch.tensor([[row.tokens[-1]] for row in self.rows], device=device)
        positions = torch.tensor([[row.position] for row in self.rows], device=device)
        out = self.model(
            input_ids=tokens,
            position_ids=positions,
            attention_mask=self._mask(),
            cache=self.cache,
            use_cache=True,
        )
        self.width += 1
        return out.logits[:, -1].float()

    def _mask(self):
        """None where no row has left padding and no layer slides (the model's own causal mask, as
        hf at batch 1); else the step's additive ``[rows, 1, 1, width + 1]`` mask hiding each row's left padding; for
        sliding-window layers (``{layer type: mask}``) also every key a window or more back. The
        query sits at column ``width`` of every row, so its distance to column ``c`` is ``width - c``."""
        from polyplatypus.models.attention import masks_by_distance

        if not any(self.starts) and self.window is None:
            return None  # no left padding, no window: causal attention over the whole cache, as hf at batch 1
        device, dtype = self.model.device, self.dtype
        columns = torch.arange(self.width + 1, device=device)
        allowed = columns[None, :] >= torch.tensor(self.starts, device=device)[:, None]
        distance = (self.width - columns)[None, None, None]
        masks = masks_by_distance(self.model.config, allowed[:, None, None, :], distance)

        def additive(mask):
            return torch.zeros(mask.shape, dtype=dtype, device=device).masked_fill(~mask, torch.finfo(dtype).min)

        return {kind: additive(m) for kind, m in masks.items()} if isinstance(masks, dict) else additive(masks)


class GenerationEngine:
    """Generates documents greedily with shared prefixes and continuous batching (module docstring).

    ``reference(context, max_new_tokens)`` generates one document by the batch-1 path whose text
    must be matched (``HFLM._model_generate``); it is called at a near tie, up to that step.
    ``near_ties``: ``"redecide"`` so (the text is the batch-1 path's), or ``"keep"``: the batch's own
    argmax is taken there too and counted (faster in half precision, where near ties are frequent;
    the text may then differ from the batch-1 path's at those steps, as ``hf``'s own at batch > 1).
    """

    def __init__(
        self,
        model,
        tokenizer,
        *,
        rows: int | str,
        reference: Callable[[list[int]], list[int]],
        near_ties: str = DEFAULT_NEAR_TIES,
    ):
        check_cache_layout(model)
        self.model, self.tokenizer, self.rows, self.reference = model, tokenizer, rows, reference
        self.keep_near_ties = near_ties == "keep"
        self.dtype = model.dtype  # a property that walks the parameters: read once
        self.counters = GenerationCounters()

    def generate(
        self,
        contexts: Sequence[list[int]],
        settings: GenerationSettings,
        on_done: Callable[[int, Generated], None] | None = None,
    ) -> list[Generated]:
        """Every context's generation, in the order given; ``on_done(index, result)`` as each ends."""
        results: list[Generated | None] = [None] * len(contexts)
        self.rule, self.settings = StopRule(self.tokenizer, settings), settings
        self.partly_redecided = self.tied_again = 0  # rows re-decided up to a first near tie; of them, tied again
        self.admitted = self.rows_tied = 0  # rows admitted to the batch; of them, with a near tie re-decided
        self.skipped = 0  # documents met while skipping the batch (_skipping)
        self.prefixes, self.batch = PrefixCache(self.model), DecodeBatch(self.model)
        pending = iter(sorted(range(len(contexts)), key=lambda i: contexts[i]))  # neighbours share prefixes

        def done(row: Row, reason: str) -> None:
            kept = row.kept if self.keep_near_ties else None
            results[row.doc] = Generated(tokens=row.tokens, stop_reason=reason, near_ties_kept=kept)
            self.counters.documents += 1
            self.counters.minimum_positions += len(row.tokens) - 1
            if on_done is not None:
                on_done(row.doc, results[row.doc])

        self.done = done
        self.counters.minimum_positions += minimum_prefix_positions(contexts)
        with torch.inference_mode():
            self._fill(pending, contexts, self._row_limit(contexts))
            while len(self.batch):
                logits = self.batch.step()
                self.counters.positions_forwarded += len(self.batch)
                finished = [
                    b
                    for b, (row, picked) in enumerate(zip(self.batch.rows, self._tops(logits)))
                    if self._advance(row, *picked)
                ]
                self._refill(finished, pending, contexts)
        self.counters.positions_forwarded += self.prefixes.forwarded
        self.counters.padding_positions += self.prefixes.padding
        return results

    def _fill(self, pending, contexts, limit: int) -> None:
        self._admit(pending, contexts, [None] * limit)

    def _refill(self, finished: list[int], pending, contexts) -> None:
        empty = self._admit(pending, contexts, finished)
        if empty:
            self.batch.drop(empty)

    def _admit(self, pending, contexts, slots: list[int | None]) -> list[int]:
        """Prefill the next documents together into ``slots`` (finished rows', or None: new rows);
        a document that stops at its first token gives its slot to the next. The slots left empty."""
        slots = list(slots)
        while slots:
            docs = list(islice(pending, len(slots)))
            if not docs:
                break
            if self._ties_everywhere():  # whole by the batch-1 path; their slots stay free for the next
                whole, docs = self._skipping(docs)
                for doc in whole:
                    self.counters.sent_whole += 1
                    self._generate_whole(Row(doc=doc, context=list(contexts[doc])), counted=True)
                if not docs:
                    continue
            self.admitted += len(docs)
            for group in prefill_groups([contexts[d] for d in docs], kept=self.prefixes.ids):
                prefilled = self.prefixes.prefill([list(contexts[docs[i]]) for i in group])
                for place, (i, picked) in enumerate(zip(group, self._tops(prefilled.logits))):
                    row = Row(doc=docs[i], context=list(contexts[docs[i]]))
                    if not self._advance(row, *picked):
                        self.batch.put(row, prefilled.cache, slot=slots.pop(0), source=prefilled.row_of(place))
        return [s for s in slots if s is not None]

    def _tops(self, logits: torch.Tensor) -> list[tuple[torch.Tensor, tuple[float, float, int] | None]]:
        """Per row of ``logits``: ``(its logits, top)``, ``top`` the two highest logits and the
        argmax, found for all rows in one call (``None`` where the repetition penalty changes them)."""
        if self.settings.repetition_penalty != 1.0 or logits.shape[-1] < 2:
            return [(row, None) for row in logits]
        top = torch.topk(logits, 2, dim=-1)
        return [(row, (v[0], v[1], i[0])) for row, v, i in zip(logits, top.values.tolist(), top.indices.tolist())]

    def _advance(self, row: Row, logits: torch.Tensor, top: tuple[float, float, int] | None = None) -> bool:
        """Append the row's greedy token; whether the row has finished (then it is reported)."""
        if top is None:
            if self.settings.repetition_penalty != 1.0:
                logits = self._penalised(row, logits)
            values, indices = torch.topk(logits, min(2, logits.numel()))
            top = (float(values[0]), float(values[-1]), int(indices[0]))
        token = top[2]
        if logits.numel() > 1 and logits_near_tie(top[0], top[1], self.dtype):
            if self.keep_near_ties:
                row.kept += 1
                self.counters.near_ties_kept += 1
            else:
                token = self._redecide(row)
                if token is None:
                    return True
        row.tokens.append(token)
        reason = self.rule.reason(row.tokens)
        if reason is not None:
            self.done(row, reason)
        return reason is not None

    def _penalised(self, row: Row, logits: torch.Tensor) -> torch.Tensor:
        from transformers import RepetitionPenaltyLogitsProcessor

        ids = torch.tensor([row.context + row.tokens], device=logits.device)
        return RepetitionPenaltyLogitsProcessor(self.settings.repetition_penalty)(ids, logits[None].clone())[0]

    def _redecide(self, row: Row) -> int | None:
        """A near tie at the row's next step. At a row's first, the batch-1 path generates the
        document up to that step: its token there is the row's (the row goes on in the batch; later
        steps are checked as before), or, where the batch-1 path went another way earlier, its whole
        generation is the document's. At a row's second (frequent in half precision) the batch-1
        path generates the whole document at once, so that a document costs at most one batch-1
        generation up to a step plus one whole, however many ties it has; where most rows so far have
        had a second (:data:`SECOND_TIE_SAMPLE`), at once at the first. ``None``: the row is
        reported finished."""
        step, first = len(row.tokens), not row.redone and not self._second_ties_likely()
        self.partly_redecided += first
        self.tied_again += row.redone == 1
        self.rows_tied += not row.redone
        if not first:
            self._generate_whole(row)
            return None
        row.redone += 1
        self.counters.redone += 1
        tokens = list(self.reference(row.context, step + 1))
        self._count_redone(len(row.context) + max(len(tokens) - 1, 0))
        if len(tokens) == step + 1 and tokens[:step] == row.tokens:
            return tokens[step]
        if len(tokens) == step + 1:  # went another way and has not stopped: the rest by batch 1 too
            self._generate_whole(row, counted=True)
            return None
        self._finish_as_batch_one(row, tokens)
        return None

    def _generate_whole(self, row: Row, counted: bool = False) -> None:
        """The whole document by the batch-1 path (``counted``: as part of a re-decision already
        counted); the row is reported finished."""
        if not counted:
            row.redone += 1
            self.counters.redone += 1
        tokens = list(self.reference(row.context, self.settings.max_new_tokens))
        self._count_redone(len(row.context) + max(len(tokens) - 1, 0))
        self._finish_as_batch_one(row, tokens)

    def _finish_as_batch_one(self, row: Row, tokens: list[int]) -> None:
        row.tokens = tokens
        # batch 1 stops at the first token a criterion fires on: the last one, unless the length ran out
        self.done(row, (self.rule.reason(tokens) if tokens else None) or "length")

    def _ties_everywhere(self) -> bool:
        """Whether nearly every row admitted so far in this call has met a near tie (re-deciding, not
        keeping them)."""
        return (
            not self.keep_near_ties
            and self.admitted >= ADMITTED_SAMPLE
            and self.rows_tied >= TIES_EVERYWHERE * self.admitted
        )

    def _skipping(self, docs: list[int]) -> tuple[list[int], list[int]]:
        """Of ``docs``, those sent whole to the batch-1 path and those still admitted (one in
        :data:`RESAMPLE_EVERY`)."""
        whole, admitted = [], []
        for doc in docs:
            self.skipped += 1
            (admitted if self.skipped % RESAMPLE_EVERY == 0 else whole).append(doc)
        return whole, admitted

    def _second_ties_likely(self) -> bool:
        """Whether most rows re-decided at a first near tie have had a second, so far in this call."""
        return self.partly_redecided >= SECOND_TIE_SAMPLE and 2 * self.tied_again >= self.partly_redecided

    def _count_redone(self, positions: int) -> None:
        self.counters.positions_forwarded += positions
        self.counters.redone_positions += positions

    def _row_limit(self, contexts: Sequence[list[int]]) -> int:
        if self.rows != "auto":
            return max(1, int(self.rows))
        if not contexts:
            return 1
        width = max(len(c) for c in contexts) + self.settings.max_new_tokens
        return max(1, min(len(contexts), auto_rows(self.model, width)))


def redecided_summary(work: dict) -> str:
    """What the batch-1 path did in ``work`` (a :class:`GenerationCounters` as a dict), for a message."""
    sent = work.get("sent_whole", 0)
    whole = f" and {sent} document(s) generated whole by it (nearly every row met a near tie)" if sent else ""
    return (
        f"{work['redone']} step(s) near a tie re-decided by the batch-1 path{whole}: "
        f"{work['redone_positions']:,} of {work['positions_forwarded']:,} positions forwarded"
    )


def mostly_redecided(work: dict | None) -> bool:
    """Whether re-deciding near ties by the batch-1 path forwarded more than half of the positions
    (``work``: a :class:`GenerationCounters` as a dict), where batching gained little: half
    precision, whose near ties are frequent (``near_ties="keep"`` avoids it)."""
    return bool(work) and work.get("redone_positions", 0) > work.get("positions_forwarded", 0) / 2


def kv_bytes_per_position(model) -> int:
    """Key/value cache bytes one position of one row takes, from a one-token forward."""

    cache = full_cache(model)
    with torch.inference_mode():
        model(input_ids=torch.zeros((1, 1), dtype=torch.long, device=model.device), cache=cache, use_cache=True)
    return sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))


def free_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    import os

    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def auto_rows(model, width: int) -> int:
    """Rows whose key/value caches of ``width`` positions (and the room they keep to grow) fit in
    part of the free memory."""
    row_bytes = reserved_capacity(width) * kv_bytes_per_position(model)
    rows = int(free_memory_bytes(model.device) * MEMORY_FRACTION // row_bytes)
    return max(1, rows if model.device.type == "cuda" else min(rows, MAX_CPU_ROWS))
