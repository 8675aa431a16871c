"""Text normalization and character n-gram shingles shared by deduplication and decontamination.

Three normal forms, each applied after Unicode NFKC:

* :func:`normalize_text` collapses whitespace runs to one space and strips the ends; it is the
  key of exact deduplication.
* :func:`dedup_form` also case-folds and drops all whitespace, so spacing (띄어쓰기) edits do not
  change the shingles of near-duplicate detection. Punctuation and symbols stay: ``3+5`` and
  ``3-5`` must not look alike.
* :func:`letters_form` case-folds and keeps letters and digits only: benchmark text matched
  against training text should not depend on punctuation, spacing or WiC's ``[target]`` marks.

A shingle set is the set of character n-grams of a normal form (the whole string when it is
shorter than n, nothing when it is empty). :func:`hash_shingles` computes the same sets as
64-bit hashes for many texts at once with numpy; :func:`shingle_set` computes them as strings
for exact verification.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import numpy as np

_NOT_LETTER_OR_DIGIT = re.compile(r"[\W_]+")


def normalize_text(text: str) -> str:
    """NFKC, whitespace runs collapsed to one space, ends stripped."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def dedup_form(text: str) -> str:
    """NFKC, case-folded, without any whitespace (punctuation kept)."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def letters_form(text: str) -> str:
    """NFKC, case-folded, letters and digits only (Hangul, Hanja, Latin, ...)."""
    return _NOT_LETTER_OR_DIGIT.sub("", unicodedata.normalize("NFKC", text).casefold())


def folded_form(text: str) -> str:
    """NFKC and case-folded, everything kept: ``letters_only(folded_form(t)) == letters_form(t)``."""
    return unicodedata.normalize("NFKC", text).casefold()


def letters_only(text: str) -> str:
    """Letters and digits of an already folded text (see :func:`folded_form`)."""
    return _NOT_LETTER_OR_DIGIT.sub("", text)


def shingle_set(form: str, n: int) -> set[str]:
    """Character n-grams of an already normalized string (see module docstring)."""
    if len(form) < n:
        return {form} if form else set()
    return {form[i : i + n] for i in range(len(form) - n + 1)}


# --- 64-bit hashing of shingles, vectorized ------------------------------------------------

_MULT = np.uint64(0x100000001B3)  # odd multiplier of the polynomial rolling hash
_SHORT_TAG = np.uint64(0x9E3779B97F4A7C15)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer: a bijection on uint64 that spreads every input bit."""
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4").astype(np.uint64)


def hash_shingles(forms: Sequence[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of the n-gram shingles of many normalized strings.

    Returns ``(hashes, bounds)``: the shingles of ``forms[i]`` hash to
    ``hashes[bounds[i]:bounds[i + 1]]``, in text order, repeats included (``np.unique`` gives
    the set). The hash depends only on the characters, never on the process or platform.
    """
    if n < 1:
        raise ValueError("n-gram size must be at least 1")
    lengths = np.fromiter((len(f) for f in forms), dtype=np.int64, count=len(forms))
    counts = np.where(lengths >= n, lengths - n + 1, np.minimum(lengths, 1))
    bounds = np.zeros(len(forms) + 1, dtype=np.int64)
    np.cumsum(counts, out=bounds[1:])
    total = int(bounds[-1])
    if total == 0:
        return np.zeros(0, dtype=np.uint64), bounds
    codes = _codepoints("".join(forms))
    padded = np.concatenate([codes, np.zeros(n - 1, dtype=np.uint64)])
    width = len(codes)
    rolling = np.zeros(width, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            rolling *= _MULT
            rolling += padded[k : k + width]
    starts = np.zeros(len(forms), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    positions = np.arange(total, dtype=np.int64) + np.repeat(starts - bounds[:-1], counts)
    hashes = rolling[positions]
    short = np.flatnonzero((lengths > 0) & (lengths < n))
    for i in short:  # shorter than n: one shingle, the whole string (rare; hashed apart)
        value = np.uint64(0)
        with np.errstate(over="ignore"):
            for code in _codepoints(forms[i]):
                value = value * _MULT + code
            value ^= _SHORT_TAG * np.uint64(lengths[i])
        hashes[bounds[i]] = value
    return splitmix64(hashes), bounds
