"""Benchmark decontamination: drop training records that contain a benchmark document.

A benchmark *text* is a whole document (the union of its content fields, e.g. a COPA premise
with both alternatives) or one long content field (a BoolQ paragraph, a HellaSwag context, a
WiC sentence: fields with at least ``field_min_ngrams`` n-grams). Texts are compared in
:func:`~polyplatypus.data.normalize.letters_form` (NFKC, case-folded, letters and digits
only), as sets of character n-grams.

The measure is *containment*: the share of the benchmark text's n-grams that occur in the
training text, ``|B ∩ T| / |B|``. It does not shrink when the benchmark text is short or the
training record long (where word 13-gram overlap, as lm-evaluation-harness measures it, finds
nothing in a 12-character COPA premise). A record is contaminated when some benchmark text
reaches ``threshold`` *and* shares at least ``min_ngrams`` n-grams with it; texts with fewer
than ``min_ngrams`` n-grams ("만족입니다") are too generic to check and are counted as skipped.

Scaling: each benchmark text ``B`` needing ``r`` shared n-grams is indexed only under a prefix
of its n-grams, rarest (across the benchmark) first, of length ``|B| - r + k``: a training text
sharing ``r`` of them must share ``k`` of the prefix, so only texts with ``k`` prefix hits are
verified, and the very common n-grams of the benchmark never enter the index. Candidates are
then verified exactly on the n-gram strings. The search finds every text at or above the
threshold.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from polyplatypus.data.dedup import as_fraction
from polyplatypus.data.normalize import hash_shingles, letters_form, shingle_set

DEFAULT_THRESHOLD = 0.5
DEFAULT_NGRAM = 5
DEFAULT_MIN_NGRAMS = 4
DEFAULT_FIELD_MIN_NGRAMS = 10
DEFAULT_SPLITS = ("test", "validation")
_PREFIX_EXTRA = 2  # prefix hits required beyond the first (fewer candidates to verify)
_BITMAP_BITS = 24

#: The content fields of each KoBEST task (labels, COPA's "원인/결과" and WiC's target word
#: carry no text worth matching).
KOBEST_TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "boolq": ("paragraph", "question"),
    "copa": ("premise", "alternative_1", "alternative_2"),
    "hellaswag": ("context", "ending_1", "ending_2", "ending_3", "ending_4"),
    "sentineg": ("sentence",),
    "wic": ("context_1", "context_2"),
}
SPLIT_ALIASES = {"dev": "validation", "valid": "validation", "validation": "validation", "test": "test",
                 "train": "train"}


@dataclass(frozen=True)
class BenchmarkText:
    """One checkable benchmark text: ``field`` is a field name, or "document" for the union."""

    benchmark: str
    task: str
    split: str
    doc_index: int
    field: str
    text: str  # the original text (fields joined by newlines for a document)
    parts: tuple[str, ...]  # the field texts whose n-grams make up the set

    def reference(self, max_chars: int = 200) -> dict:
        text = self.text if len(self.text) <= max_chars else self.text[: max_chars - 1] + "…"
        return {"benchmark": self.benchmark, "task": self.task, "split": self.split,
                "doc_index": self.doc_index, "field": self.field, "text": text}


def kobest_texts(
    kobest_dir: str | os.PathLike | None = None,
    *,
    splits: Sequence[str] = DEFAULT_SPLITS,
    tasks: Sequence[str] | None = None,
) -> list[BenchmarkText]:
    """Every KoBEST document of these splits and tasks (all five by default), as one text per
    document plus one per content field of multi-field documents."""
    from polyplatypus.data.kobest import load_kobest

    from polyplatypus.errors import DataError

    texts = []
    for task in tasks or tuple(KOBEST_TEXT_FIELDS):
        if task not in KOBEST_TEXT_FIELDS:
            raise DataError(f"unknown KoBEST task {task!r}; known: {', '.join(KOBEST_TEXT_FIELDS)}")
        fields = KOBEST_TEXT_FIELDS[task]
        for split in splits:
            docs = load_kobest(task, normalize_split(split), kobest_dir)  # validates task/split
            for doc in docs:
                parts = tuple(doc[f] for f in fields)
                texts.append(BenchmarkText("kobest", task, normalize_split(split), doc["doc_index"], "document",
                                           "\n".join(parts), parts))
                if len(fields) > 1:
                    for name, value in zip(fields, parts):
                        texts.append(BenchmarkText("kobest", task, normalize_split(split), doc["doc_index"], name,
                                                   value, (value,)))
    return texts


def normalize_split(split: str) -> str:
    try:
        return SPLIT_ALIASES[split]
    except KeyError:
        from polyplatypus.errors import DataError

        raise DataError(f"unknown KoBEST split {split!r}; use test, validation (dev) or train") from None


def _text_shingles(parts: Iterable[str], n: int) -> set[str]:
    found: set[str] = set()
    for part in parts:
        found |= shingle_set(letters_form(part), n)
    return found


@dataclass
class Contamination:
    """Training record ``record`` (an index into the input) contains ``text`` to this degree."""

    record: int
    text: BenchmarkText
    containment: float
    shared_ngrams: int
    matches: int  # how many benchmark texts the record reaches the threshold with


@dataclass
class BenchmarkIndex:
    """The prefix index of a set of benchmark texts (see the module docstring)."""

    texts: list[BenchmarkText]
    threshold: float = DEFAULT_THRESHOLD
    ngram: int = DEFAULT_NGRAM
    min_ngrams: int = DEFAULT_MIN_NGRAMS
    field_min_ngrams: int = DEFAULT_FIELD_MIN_NGRAMS
    checked: list[int] = field(init=False)  # indices into texts that are indexed
    skipped_short: int = field(init=False)

    def __post_init__(self):
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"containment threshold must be in (0, 1], got {self.threshold}")
        self._limit = as_fraction(self.threshold)
        n = self.ngram
        # n-gram hashes of every field of every text at once; a text's set is the union of its
        # fields' sets (no n-gram spans two fields)
        part_owner = np.fromiter((i for i, t in enumerate(self.texts) for _ in t.parts), dtype=np.int64)
        hashes, bounds = hash_shingles([letters_form(p) for t in self.texts for p in t.parts], n)
        owner = np.repeat(part_owner, np.diff(bounds))
        order = np.lexsort((hashes, owner))
        owner, hashes = owner[order], hashes[order]
        fresh = np.ones(len(hashes), dtype=bool)
        fresh[1:] = (owner[1:] != owner[:-1]) | (hashes[1:] != hashes[:-1])
        owner, hashes = owner[fresh], hashes[fresh]  # distinct (text, n-gram), by text then hash
        size = np.bincount(owner, minlength=len(self.texts))
        is_document = np.array([t.field == "document" for t in self.texts], dtype=bool)
        minimum = np.where(is_document, self.min_ngrams, max(self.min_ngrams, self.field_min_ngrams))
        checked = np.flatnonzero(size >= minimum)
        self.skipped_short = int(np.count_nonzero(is_document & (size < minimum)))
        self.checked = checked.tolist()
        need = np.maximum(
            np.array([math.ceil(self._limit * int(k)) for k in size[checked]], dtype=np.int64), self.min_ngrams
        )
        local = np.full(len(self.texts), -1, dtype=np.int64)
        local[checked] = np.arange(len(checked))
        keep = local[owner] >= 0
        owner, hashes = local[owner[keep]], hashes[keep]
        self._bitmap = np.zeros(1 << _BITMAP_BITS, dtype=bool)
        if not len(hashes):
            self._keys = np.zeros(0, dtype=np.uint64)
            self._postings = np.zeros(0, dtype=np.int64)
            self._posting_bounds = np.zeros(1, dtype=np.int64)
            self._need_hits = np.zeros(0, dtype=np.int64)
            return
        # rarest first (document frequency across the checked texts), ties by hash
        _, inverse, frequency = np.unique(hashes, return_inverse=True, return_counts=True)
        order = np.lexsort((hashes, frequency[inverse], owner))
        owner, hashes = owner[order], hashes[order]
        sizes = size[checked]
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        rank = np.arange(len(owner)) - starts[owner]
        slack = sizes - need  # n-grams a matching training text may lack
        length = np.minimum(sizes, slack + 1 + _PREFIX_EXTRA)
        self._need_hits = length - slack
        in_prefix = rank < length[owner]
        flat_keys, flat_owner = hashes[in_prefix], owner[in_prefix]
        order = np.lexsort((flat_owner, flat_keys))
        flat_keys, flat_owner = flat_keys[order], flat_owner[order]
        self._keys, first = np.unique(flat_keys, return_index=True)
        self._posting_bounds = np.append(first, len(flat_keys)).astype(np.int64)
        self._postings = flat_owner
        self._bitmap[(self._keys & np.uint64((1 << _BITMAP_BITS) - 1)).astype(np.int64)] = True

    @property
    def size(self) -> int:
        return len(self.checked)

    def candidates(self, forms: Sequence[str]) -> list[tuple[int, int]]:
        """(record, local text) pairs with enough prefix hits, for records in letters_form."""
        if not len(self._keys) or not forms:
            return []
        hashes, bounds = hash_shingles(forms, self.ngram)
        mask = self._bitmap[(hashes & np.uint64((1 << _BITMAP_BITS) - 1)).astype(np.int64)]
        positions = np.flatnonzero(mask)
        if not len(positions):
            return []
        slot = np.searchsorted(self._keys, hashes[positions])
        slot = np.minimum(slot, len(self._keys) - 1)
        hit = self._keys[slot] == hashes[positions]
        positions, slot = positions[hit], slot[hit]
        record = np.searchsorted(bounds, positions, side="right") - 1
        pair = np.unique(record.astype(np.int64) * len(self._keys) + slot)  # a repeated n-gram counts once
        record, slot = pair // len(self._keys), pair % len(self._keys)
        lo, hi = self._posting_bounds[slot], self._posting_bounds[slot + 1]
        sizes = hi - lo
        owners = self._postings[np.repeat(lo - np.cumsum(sizes) + sizes, sizes) + np.arange(sizes.sum())]
        width = len(self.checked)
        combined = np.repeat(record, sizes) * width + owners
        combined, hits = np.unique(combined, return_counts=True)
        record, owner = combined // width, combined % width
        keep = hits >= self._need_hits[owner]
        return list(zip(record[keep].tolist(), owner[keep].tolist()))

    def search(
        self,
        texts: Sequence[str],
        *,
        chunk_records: int = 4096,
        stats: dict | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[Contamination]:
        """Contaminated records among raw training texts (instruction + input), input order."""
        found: list[Contamination] = []
        verified = 0
        benchmark_cache: dict[int, set[str]] = {}
        for start in range(0, len(texts), chunk_records):
            forms = [letters_form(t) for t in texts[start:start + chunk_records]]
            by_record: dict[int, list[int]] = {}
            for record, local in self.candidates(forms):
                by_record.setdefault(record, []).append(local)
            for record in sorted(by_record):
                mine = shingle_set(forms[record], self.ngram)
                best, matches = None, 0
                for local in sorted(by_record[record]):
                    verified += 1
                    theirs = benchmark_cache.get(local)
                    if theirs is None:
                        theirs = benchmark_cache[local] = _text_shingles(self.texts[self.checked[local]].parts,
                                                                         self.ngram)
                    shared = len(theirs & mine)
                    below = shared * self._limit.denominator < self._limit.numerator * len(theirs)
                    if shared < self.min_ngrams or below:
                        continue
                    matches += 1
                    value = shared / len(theirs)
                    if best is None or value > best[0]:
                        best = (value, shared, local)
                if best is not None:
                    found.append(Contamination(start + record, self.texts[self.checked[best[2]]], best[0], best[1],
                                               matches))
            if progress is not None:
                progress(len(forms))
        if stats is not None:
            stats.update(benchmark_texts_indexed=self.size, benchmark_documents_too_short=self.skipped_short,
                         index_keys=int(len(self._keys)), pairs_verified=verified)
        return found
