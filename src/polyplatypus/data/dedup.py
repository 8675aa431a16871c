"""Exact and near-duplicate removal, first occurrence kept.

Exact duplicates: records whose texts are equal after
:func:`~polyplatypus.data.normalize.normalize_text` (NFKC, whitespace runs collapsed).

Near-duplicates: the Jaccard similarity of the character n-gram sets of
:func:`~polyplatypus.data.normalize.dedup_form` (NFKC, case-folded, no whitespace). The
threshold is a promise: a record is removed only when an earlier *kept* record has an exact
Jaccard at or above it, and no two kept records reach it. Going through the records in input
order, a record is dropped when it is a near-duplicate of a record already kept; the report
names the most similar such record (the earliest on ties). So the first record of every group
survives, and a record that only resembles an already-removed record stays.

Which pairs get compared comes from MinHash LSH: ``num_perm`` min-hashes per record, cut into
``bands`` bands of ``rows`` rows; two records are proposed when one band agrees. A pair at
Jaccard ``J`` shares no band with probability ``(1 - J**rows) ** bands``; :func:`lsh_params`
picks the most selective split whose miss probability at the threshold is at most ``max_miss``
(1e-6 by default; 128 permutations at 0.8 give 32 bands of 4 rows, a "candidate threshold"
near 0.38 and a miss probability of 4.7e-8 at 0.8, less above it). A proposed pair is then
verified exactly on the n-gram strings, unless its min-hashes agree so rarely that a pair at
the threshold would do so with probability under 1e-9 (:func:`signature_prefilter`, exact
binomial tail): this keeps the many weakly similar pairs of templated data from being compared
one by one.

Shingles are character 3-grams by default. Instruction prompts are short (the bundled sample's
median is 39 characters without spaces) and an edit replaces up to ``n`` of a text's ``s``
distinct n-grams, so ``e`` edits keep ``J >= (s - n·e) / (s + n·e)``: with 3-grams one changed
syllable is certainly found from 27 distinct 3-grams on (36 with 4-grams). On the sample, one
edited copy of every record is removed 206 times of 277 for one changed syllable, 205 for a
swapped particle and 91 for two changed syllables (4-grams: 146, 146 and 56), while the
sample's own records stay at most 0.70 apart (2-grams would already merge one pair).

MinHash and LSH are written here with numpy rather than taken from datasketch, for speed: on the
100,000-record benchmark's prompts (``benchmarks/curate_speed.py --compare-datasketch``: 3-grams,
128 permutations, one process on 2 shared cores), datasketch 2.0 took 19.3 s without any
verification (3.1 s to build the shingle sets, 11.3 s for ``MinHash.bulk``, 4.9 s to query and
insert into ``MinHashLSH(threshold=0.8)``), where :func:`near_duplicates` took 6.7 s with every
proposed pair verified exactly. Hashing all records' shingles at once (:func:`hash_shingles`)
and taking the minima per block of records with ``np.minimum.reduceat`` avoids datasketch's
per-record Python calls; its LSH would also need the exact verification and the lower
candidate threshold added.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from polyplatypus.data.normalize import hash_shingles, shingle_set, splitmix64

DEFAULT_THRESHOLD = 0.8
DEFAULT_NGRAM = 3
DEFAULT_NUM_PERM = 128
DEFAULT_MAX_MISS = 1e-6
DEFAULT_SEED = 1
PREFILTER_MAX_MISS = 1e-9
_CHUNK_SHINGLES = 1 << 14  # shingles per MinHash block (keeps each block in cache)


def as_fraction(value: float) -> Fraction:
    """The decimal the user typed (0.8 is 4/5, not the nearest binary float)."""
    return Fraction(repr(float(value))).limit_denominator(10**9)


@dataclass(frozen=True)
class LshParams:
    num_perm: int
    bands: int
    rows: int

    def miss_probability(self, similarity: float) -> float:
        """Probability that a pair at this Jaccard shares no band (is never compared)."""
        return (1.0 - similarity**self.rows) ** self.bands

    def candidate_threshold(self) -> float:
        """The similarity at which a pair becomes a candidate half of the time."""
        return (1.0 - 0.5 ** (1.0 / self.bands)) ** (1.0 / self.rows)


def lsh_params(threshold: float, num_perm: int = DEFAULT_NUM_PERM, max_miss: float = DEFAULT_MAX_MISS) -> LshParams:
    """The largest ``rows`` (fewest false candidates) whose miss probability at ``threshold``,
    with ``bands = num_perm // rows``, is at most ``max_miss``; at least one row."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    if num_perm < 1:
        raise ValueError("num_perm must be positive")
    best = LshParams(num_perm, num_perm, 1)
    for rows in range(1, num_perm + 1):
        params = LshParams(num_perm, num_perm // rows, rows)
        if params.miss_probability(threshold) <= max_miss:
            best = params
    return best


def _binomial_cdf_below(count: int, trials: int, p: float) -> float:
    """P(X < count) for X ~ Binomial(trials, p), summed in log space."""
    if p <= 0.0:
        return 0.0 if count <= 0 else 1.0
    if p >= 1.0:
        return 1.0 if count > trials else 0.0
    total = 0.0
    for k in range(max(0, count)):
        log_term = (
            math.lgamma(trials + 1)
            - math.lgamma(k + 1)
            - math.lgamma(trials - k + 1)
            + k * math.log(p)
            + (trials - k) * math.log1p(-p)
        )
        total += math.exp(log_term)
    return min(total, 1.0)


def signature_prefilter(threshold: float, num_perm: int, max_miss: float = PREFILTER_MAX_MISS) -> int:
    """Fewest agreeing min-hashes a proposed pair needs to be verified.

    Each min-hash of a pair at Jaccard ``J`` agrees with probability ``J``, so the agreements
    follow Binomial(num_perm, J). The cut is the largest count that a pair exactly at the
    threshold falls below with probability at most ``max_miss`` (exact binomial tail); pairs
    above the threshold fall below it even less often.
    """
    count = 0
    while count < num_perm and _binomial_cdf_below(count + 1, num_perm, threshold) <= max_miss:
        count += 1
    return count


class MinHasher:
    """MinHash signatures from 64-bit shingle hashes: ``h_i(x) = a_i * x + b_i mod 2**32`` on the
    high 32 bits of each (already well mixed) shingle hash, with odd ``a_i``. Seeded, so the
    same text always gets the same signature."""

    def __init__(self, num_perm: int = DEFAULT_NUM_PERM, seed: int = DEFAULT_SEED):
        rng = np.random.default_rng(seed)
        self.num_perm = num_perm
        self.a = (rng.integers(0, 2**32, num_perm, dtype=np.uint64).astype(np.uint32) | np.uint32(1))[:, None]
        self.b = rng.integers(0, 2**32, num_perm, dtype=np.uint64).astype(np.uint32)[:, None]

    def signatures(self, hashes: np.ndarray, bounds: np.ndarray) -> np.ndarray:
        """``(num_perm, records)`` uint32 signatures; a record without shingles gets all-ones."""
        count = len(bounds) - 1
        out = np.full((self.num_perm, count), np.iinfo(np.uint32).max, dtype=np.uint32)
        values = (hashes >> np.uint64(32)).astype(np.uint32)
        nonempty = np.flatnonzero(bounds[1:] > bounds[:-1])
        first = 0
        while first < len(nonempty):
            # a block of whole records, about _CHUNK_SHINGLES shingles (at least one record)
            start = bounds[nonempty[first]]
            last = int(np.searchsorted(bounds[nonempty + 1], start + _CHUNK_SHINGLES, side="right"))
            last = max(last, first + 1)
            records = nonempty[first:last]
            stop = bounds[records[-1] + 1]
            block = self.a * values[None, start:stop]
            block += self.b
            out[:, records] = np.minimum.reduceat(block, bounds[records] - start, axis=1)
            first = last
        return out


def band_keys(signatures: np.ndarray, params: LshParams) -> np.ndarray:
    """``(bands, records)`` uint64: one hash per band of ``rows`` min-hashes."""
    count = signatures.shape[1]
    keys = np.zeros((params.bands, count), dtype=np.uint64)
    for band in range(params.bands):
        key = np.full(count, band, dtype=np.uint64)
        for row in range(params.rows):
            key = splitmix64(key ^ signatures[band * params.rows + row].astype(np.uint64))
        keys[band] = key
    return keys


@dataclass(frozen=True)
class Duplicate:
    """``removed`` (an index into the input) duplicates ``kept`` with this Jaccard similarity."""

    removed: int
    kept: int
    similarity: float


def exact_duplicates(keys: Sequence[str]) -> list[Duplicate]:
    """Each key equal to an earlier one, with the index of its first occurrence."""
    first: dict[bytes, int] = {}
    found = []
    for index, key in enumerate(keys):
        digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        kept = first.setdefault(digest, index)
        if kept != index:
            found.append(Duplicate(index, kept, 1.0))
    return found


#: The statistics of :func:`near_duplicates` that describe its LSH settings (the curation report
#: records them with the settings).
LSH_STATS = ("lsh_bands", "lsh_rows", "num_perm", "miss_probability_at_threshold", "candidate_threshold")


def near_duplicates(
    forms: Sequence[str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    ngram: int = DEFAULT_NGRAM,
    num_perm: int = DEFAULT_NUM_PERM,
    seed: int = DEFAULT_SEED,
    max_miss: float = DEFAULT_MAX_MISS,
    chunk_records: int = 4096,
    stats: dict | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Duplicate]:
    """Records (indices into ``forms``, already in :func:`dedup_form`) removed as near-duplicates
    of an earlier kept record, in input order. See the module docstring for the rule."""
    params = lsh_params(threshold, num_perm, max_miss)
    keys, marks = _band_keys_and_marks(forms, params, MinHasher(num_perm, seed), ngram, chunk_records, progress)
    needed_marks = signature_prefilter(threshold, num_perm)
    verifier = _Verifier(forms, ngram, as_fraction(threshold), marks, needed_marks)
    # A band key shared by no other record can never propose a pair: skip it.
    shared = np.zeros(keys.shape, dtype=bool)
    for band in range(params.bands):
        _, inverse, counts = np.unique(keys[:, band], return_inverse=True, return_counts=True)
        shared[:, band] = counts[inverse] > 1
    involved = np.flatnonzero(shared.any(axis=1))

    buckets: list[dict[int, list[int]]] = [{} for _ in range(params.bands)]  # the kept records' band keys
    removed: list[Duplicate] = []
    for index in involved.tolist():
        bands = np.flatnonzero(shared[index]).tolist()
        my_keys = keys[index, bands].tolist()
        candidates = set()
        for band, key in zip(bands, my_keys):
            candidates.update(buckets[band].get(key, ()))
        best = verifier.most_similar(index, candidates)
        if best is not None:
            removed.append(Duplicate(index, *best))
            continue
        for band, key in zip(bands, my_keys):
            buckets[band].setdefault(key, []).append(index)
    if stats is not None:
        stats.update(
            lsh_bands=params.bands,
            lsh_rows=params.rows,
            num_perm=params.num_perm,
            miss_probability_at_threshold=params.miss_probability(threshold)
            + _binomial_cdf_below(needed_marks, num_perm, threshold),
            candidate_threshold=round(params.candidate_threshold(), 4),
            signature_prefilter=f"{needed_marks}/{num_perm} agreeing min-hashes",
            records_in_shared_buckets=int(len(involved)),
            pairs_proposed=verifier.proposed,
            pairs_verified=verifier.compared,
        )
    return removed


def _band_keys_and_marks(
    forms: Sequence[str],
    params: LshParams,
    hasher: MinHasher,
    ngram: int,
    chunk_records: int,
    progress: Callable[[int], None] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per record (one row each): its LSH band keys, and the low 16 bits of every min-hash,
    enough to estimate the Jaccard of a proposed pair."""
    total = len(forms)
    keys = np.zeros((total, params.bands), dtype=np.uint64)
    marks = np.zeros((total, params.num_perm), dtype=np.uint16)
    for start in range(0, total, chunk_records):
        chunk = forms[start : start + chunk_records]
        hashes, bounds = hash_shingles(chunk, ngram)
        signatures = hasher.signatures(hashes, bounds)
        keys[start : start + len(chunk)] = band_keys(signatures, params).T
        marks[start : start + len(chunk)] = signatures.T
        del hashes, bounds, signatures
        if progress is not None:
            progress(len(chunk))
    return keys, marks


class _Verifier:
    """Checks the pairs LSH proposes: the min-hash prefilter, then the exact Jaccard."""

    def __init__(self, forms: Sequence[str], ngram: int, limit: Fraction, marks: np.ndarray, needed_marks: int):
        self.forms, self.ngram, self.limit = forms, ngram, limit
        self.marks, self.needed_marks = marks, needed_marks
        self.proposed = self.compared = 0

    def most_similar(self, index: int, candidates: set[int]) -> tuple[int, float] | None:
        """(record, Jaccard) of the candidate most similar to record ``index`` at or above the
        threshold (the earliest on ties), or None."""
        if not candidates:
            return None
        others = np.fromiter(candidates, dtype=np.int64, count=len(candidates))
        others.sort()
        self.proposed += len(others)
        agree = np.count_nonzero(self.marks[others] == self.marks[index], axis=1)
        others = others[agree >= self.needed_marks]
        if not len(others):
            return None
        best = None
        mine = shingle_set(self.forms[index], self.ngram)
        for other in others.tolist():
            self.compared += 1
            theirs = shingle_set(self.forms[other], self.ngram)
            inter = len(mine & theirs)
            union = len(mine) + len(theirs) - inter
            if union and inter * self.limit.denominator >= self.limit.numerator * union:
                similarity = inter / union
                if best is None or similarity > best[1]:
                    best = (other, similarity)
        return best
