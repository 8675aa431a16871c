"""Benchmark decontamination: drop training records that contain a benchmark document.

Benchmark texts are compared with training text in
:func:`~polyplatypus.data.normalize.letters_form` (NFKC, case-folded, letters and digits only,
so spacing, punctuation and WiC's ``[target]`` marks do not count). A record is contaminated
when it matches some benchmark text by one of three measures:

* **Containment** of a *document* (the union of its content fields, e.g. a COPA premise with
  both alternatives, in any order and with anything in between) or of a long field (at least
  ``field_min_ngrams`` n-grams: a BoolQ paragraph, a HellaSwag context): the share of the
  text's character ``ngram``-grams that occur in the record, ``|B ∩ T| / |B|``, reaches
  ``threshold`` and at least ``min_ngrams`` of them are shared. It does not shrink when the
  record is long, and it finds documents whose fields were reordered or split up.
* **Approximate occurrence** of a short text: some stretch of the record is within ``k``
  character edits (insertions, deletions, substitutions) of the text's ``L`` letters. Short
  texts need it: one changed syllable removes five of the six 5-grams of a 10-letter review,
  yet it is one edit. It applies to single-field documents (a SentiNeg review) of at least
  ``min_letters`` letters with ``k = ⌊edit_rate · L⌋``, and to the main field of a multi-field
  document on its own (:data:`KOBEST_STANDALONE_FIELDS`: a COPA premise, a BoolQ question, a
  WiC sentence, a HellaSwag context; not the answer choices) of at least ``field_min_letters``
  letters with ``k = ⌊field_edit_rate · L⌋``; texts of more than :data:`EDIT_MAX_LETTERS` (100)
  letters are left to containment.
* **Whole segment**: a single-field document of ``segment_min_letters`` to ``min_letters - 1``
  letters (``완전 거북이배송``) is found when some *segment* of the record (the text between line
  breaks, sentence punctuation, colons, quotes and brackets) consists of exactly its letters, as
  in ``리뷰: 완전 거북이배송``; such a review inside a longer sentence is not.

The minimum lengths keep ordinary Korean from matching: a 7-letter review (``잘 쓰고 있습니다``)
anywhere in a line, or a 9-letter COPA premise (``안경에 김이 서렸다``), turns up verbatim in the
bundled corpus's everyday prose; a short review with one edit is often its own negation
(``가성비 좋아요`` / ``가성비 안좋아요``). Shorter texts, and short fields of longer documents, are
checked only as part of their document; reviews under ``segment_min_letters`` letters
(``좋아요``) not at all. Word 13-gram overlap, as lm-evaluation-harness measures it, finds none of
these short texts.

Scaling: every measure first finds candidates through a *prefix index* (containment on the
``ngram``-grams, occurrence and whole segments, an occurrence with no edit, on 3-grams). A
benchmark text with ``s`` distinct q-grams, of which a match may lack ``slack`` (containment:
``s - ⌈threshold·s⌉``; occurrence within ``k`` edits: ``k·q``, as an edit destroys at most ``q``
q-grams), is indexed only under its ``slack + 3`` rarest q-grams (document frequency across the
benchmark); a matching record must share 3 of them (all the text has beyond ``slack``, if
fewer), so only records with that many prefix hits are verified, and the very common q-grams
of Korean never enter the index. Candidates are then verified exactly: containment on the
n-gram strings, occurrence with Myers' bit-parallel edit-distance search (after the q-gram
count bound), segments by splitting the record. The search finds every text that matches by
any measure.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
from pydantic import BeforeValidator, Field, StrictInt

from polyplatypus.data.dedup import as_fraction
from polyplatypus.data.normalize import folded_form, hash_shingles, letters_form, letters_only, shingle_set
from polyplatypus.settings import Flag, Number, Settings, comma_list
from polyplatypus.tasks.texts import LM_EVAL_PREFIX, DocumentSource, TaskDocument, document_from_fields

#: Longer texts are left to containment: an edit-distance search over them would cost much and
#: find nothing containment misses (not a setting; the curation report records it).
EDIT_MAX_LETTERS = 100
DEFAULT_SPLITS = ("test", "validation")
#: The statistics of :meth:`BenchmarkIndex.search` that describe the index (the curation report
#: records them with the settings).
INDEX_STATS = (
    "benchmark_texts_indexed",
    "benchmark_documents_too_short",
    "containment_texts",
    "occurrence_texts",
    "segment_texts",
)
_PREFIX_EXTRA = 2  # prefix hits required beyond the first (fewer candidates to verify)
_EDIT_QGRAMS = (3, 2, 1)  # q-gram sizes of the occurrence index: the largest that a match must hit
_BITMAP_BITS = 24
#: Where a record's text is cut into segments (applied after NFKC and case folding).
SEGMENT_BREAKS = re.compile(r"[\n\r.!?:;\"'“”‘’()\[\]{}<>«»《》〈〉「」『』【】。！？]+")


def _kobest_tasks() -> list:
    from polyplatypus.tasks.registry import reference_tasks

    return sorted((t for t in reference_tasks().values() if t.data.source == "kobest"), key=lambda t: t.source)


#: The content fields of each KoBEST task, by short name, from the task files' ``decontamination``
#: (labels, COPA's "원인/결과" and WiC's target word carry no text worth matching).
KOBEST_TEXT_FIELDS: dict[str, tuple[str, ...]] = {t.source: t.text_fields for t in _kobest_tasks()}
#: The fields checked on their own by approximate occurrence: what a training record would copy
#: from a document (not COPA's alternatives or HellaSwag's endings, everyday sentences that only
#: count as part of their document).
KOBEST_STANDALONE_FIELDS: dict[str, tuple[str, ...]] = {t.source: t.standalone_fields for t in _kobest_tasks()}
SPLIT_ALIASES = {
    "dev": "validation",
    "valid": "validation",
    "validation": "validation",
    "test": "test",
    "train": "train",
}


TEXT_FIELDS = Literal["instruction", "input", "output"]


class DecontamConfig(Settings):
    """The decontamination measures' settings (see the module docstring). In ``curate``'s flags,
    YAML keys and keyword arguments each is spelled with a ``decontam_`` prefix
    (``--decontam-threshold``, ``decontam_threshold``)."""

    threshold: Annotated[Number, Flag(metavar="C")] = Field(
        0.5, gt=0, le=1, description="remove a record containing >= C of a benchmark text's n-grams"
    )
    ngram: Annotated[StrictInt, Flag(metavar="N")] = Field(
        5, ge=1, description="character n-gram size for decontamination"
    )
    min_ngrams: Annotated[StrictInt, Flag(metavar="M")] = Field(
        4, ge=1, description="a match must share >= M n-grams; shorter benchmark texts are skipped"
    )
    field_min_ngrams: Annotated[StrictInt, Flag(metavar="M")] = Field(
        10, ge=1, description="check a single field of a document on its own only when it has >= M n-grams"
    )
    edit_rate: Annotated[Number, Flag(metavar="R")] = Field(
        0.2,
        ge=0,
        lt=1,
        description="a short single-field document (a SentiNeg review) is found within floor(R x its letters) "
        "character edits",
    )
    min_letters: Annotated[StrictInt, Flag(metavar="L")] = Field(
        8, ge=1, description="... when it has at least L letters"
    )
    field_edit_rate: Annotated[Number, Flag(metavar="R")] = Field(
        0.15,
        ge=0,
        lt=1,
        description="the main field of a document on its own (a COPA premise, a BoolQ question, a WiC sentence) "
        "within floor(R x its letters) edits",
    )
    field_min_letters: Annotated[StrictInt, Flag(metavar="L")] = Field(
        10, ge=1, description="... when it has at least L letters"
    )
    segment_min_letters: Annotated[StrictInt, Flag(metavar="L")] = Field(
        4,
        ge=1,
        description="a shorter single-field document of at least L letters counts when a whole segment of the "
        "record (between line breaks, punctuation, quotes) is exactly it",
    )
    fields: Annotated[list[TEXT_FIELDS], BeforeValidator(comma_list), Flag(metavar="FIELDS")] = Field(  # type: ignore[valid-type]
        ["instruction", "input"], min_length=1, description="record fields searched for benchmark text"
    )

    def index(self, texts: list["BenchmarkText"]) -> "BenchmarkIndex":
        """The search index of ``texts`` with these settings."""
        return BenchmarkIndex(texts, self)


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
    standalone: bool = True  # a field: checked on its own by approximate occurrence

    def reference(self, max_chars: int = 200) -> dict:
        text = self.text if len(self.text) <= max_chars else self.text[: max_chars - 1] + "…"
        return {
            "benchmark": self.benchmark,
            "task": self.task,
            "split": self.split,
            "doc_index": self.doc_index,
            "field": self.field,
            "text": text,
        }


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
        for split in splits:
            docs = load_kobest(task, normalize_split(split), kobest_dir)  # validates task/split
            for doc in docs:
                document = document_from_fields(
                    task,
                    normalize_split(split),
                    doc["doc_index"],
                    doc,
                    KOBEST_TEXT_FIELDS[task],
                    KOBEST_STANDALONE_FIELDS[task],
                )
                texts.extend(document_texts("kobest", document))
    return texts


def document_texts(benchmark: str, document: TaskDocument) -> list[BenchmarkText]:
    """One text for the whole document, plus one per field when it has several."""
    names = [name for name, _ in document.fields]
    parts = tuple(text for _, text in document.fields)
    if not parts:
        return []
    texts = [
        BenchmarkText(benchmark, document.task, document.split, document.doc_index, "document", "\n".join(parts), parts)
    ]
    if len(parts) > 1:
        texts += [
            BenchmarkText(
                benchmark,
                document.task,
                document.split,
                document.doc_index,
                name,
                value,
                (value,),
                name in document.standalone,
            )
            for name, value in zip(names, parts)
        ]
    return texts


def document_sources(names: Sequence[str], data_dirs=None) -> list[DocumentSource]:
    """The tasks named for decontamination: a reference task's name (or task file), or
    ``lm_eval:<task>`` for a task of lm-evaluation-harness."""
    from polyplatypus.data.task_data import ReferenceTaskDocuments
    from polyplatypus.tasks.registry import get_task

    sources: list[DocumentSource] = []
    for name in names:
        if name.startswith(LM_EVAL_PREFIX):
            sources.append(_lm_eval_source(name))
        else:
            sources.append(ReferenceTaskDocuments(get_task(name), data_dirs))
    return sources


def _lm_eval_source(name: str) -> DocumentSource:
    """The extension point for lm-evaluation-harness tasks: ``polyplatypus.tasks.lm_eval_tasks``
    provides ``document_source(task_name)`` returning a :class:`DocumentSource`."""
    from polyplatypus.errors import ConfigError

    try:
        from polyplatypus.tasks import lm_eval_tasks  # type: ignore[attr-defined]
    except ImportError:
        raise ConfigError(
            f"{name}: lm-evaluation-harness tasks are not available in this version "
            "(no polyplatypus.tasks.lm_eval_tasks)"
        ) from None
    source = lm_eval_tasks.document_source(name[len(LM_EVAL_PREFIX) :])
    if not isinstance(source, DocumentSource):
        raise ConfigError(f"{name}: its task object does not provide documents() for decontamination")
    return source


def task_texts(sources: Sequence[DocumentSource]) -> list[BenchmarkText]:
    """The benchmark texts of every evaluation and few-shot document of ``sources``."""
    return [
        text
        for source in sources
        for document in source.documents()
        for text in document_texts(source.benchmark, document)
    ]


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


def occurrence_distance(pattern: str, text: str) -> int:
    """The fewest edits (insertions, deletions, substitutions) that turn ``pattern`` into some
    substring of ``text`` (``len(pattern)`` when nothing matches at all).

    Myers' bit-parallel algorithm (J. ACM 1999) in its search form: one pass over ``text`` with
    the pattern's columns of the edit-distance table held as the bits of Python integers.
    """
    m = len(pattern)
    if m == 0:
        return 0
    peq: dict[str, int] = {}
    for i, char in enumerate(pattern):
        peq[char] = peq.get(char, 0) | (1 << i)
    full = (1 << m) - 1
    high = 1 << (m - 1)
    pv, mv, score = full, 0, m
    best = m
    for char in text:
        eq = peq.get(char, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | (~(xh | pv) & full)
        mh = pv & xh
        if ph & high:
            score += 1
        elif mh & high:
            score -= 1
            if score < best:
                best = score
                if not best:
                    return 0
        ph = (ph << 1) & full
        mh = (mh << 1) & full
        pv = mh | (~(xv | ph) & full)
        mv = ph & xv
    return best


class _PrefixIndex:
    """Texts indexed under the rarest ``slack + 1 + _PREFIX_EXTRA`` of their distinct q-gram
    hashes: a record sharing at least ``size - slack`` of a text's q-grams has at least
    ``need_hits`` hits in that prefix (see the module docstring)."""

    def __init__(self, owner: np.ndarray, hashes: np.ndarray, count: int, slack: np.ndarray):
        """``owner``/``hashes``: distinct (text, q-gram hash) pairs of ``count`` texts with local
        ids ``0..count-1``; ``slack[i]`` q-grams of text ``i`` may be missing from a match."""
        self.count = count
        self._bitmap = np.zeros(1 << _BITMAP_BITS, dtype=bool)
        if not len(hashes):
            self._keys = np.zeros(0, dtype=np.uint64)
            return
        sizes = np.bincount(owner, minlength=count)
        # rarest first (document frequency across these texts), ties by hash
        _, inverse, frequency = np.unique(hashes, return_inverse=True, return_counts=True)
        order = np.lexsort((hashes, frequency[inverse], owner))
        owner, hashes = owner[order], hashes[order]
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        rank = np.arange(len(owner)) - starts[owner]
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
    def keys(self) -> int:
        return int(len(self._keys))

    def candidates(self, hashes: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(record, local text) arrays of the pairs with enough prefix hits, given the records'
        q-gram hashes (``hash_shingles`` output)."""
        empty = np.zeros(0, dtype=np.int64)
        if not len(self._keys) or not len(hashes):
            return empty, empty
        mask = self._bitmap[(hashes & np.uint64((1 << _BITMAP_BITS) - 1)).astype(np.int64)]
        positions = np.flatnonzero(mask)
        if not len(positions):
            return empty, empty
        slot = np.searchsorted(self._keys, hashes[positions])
        slot = np.minimum(slot, len(self._keys) - 1)
        hit = self._keys[slot] == hashes[positions]
        positions, slot = positions[hit], slot[hit]
        record = np.searchsorted(bounds, positions, side="right") - 1
        pair = np.unique(record.astype(np.int64) * len(self._keys) + slot)  # a repeated q-gram counts once
        record, slot = pair // len(self._keys), pair % len(self._keys)
        lo, hi = self._posting_bounds[slot], self._posting_bounds[slot + 1]
        sizes = hi - lo
        owners = self._postings[np.repeat(lo - np.cumsum(sizes) + sizes, sizes) + np.arange(sizes.sum())]
        combined = np.repeat(record, sizes) * self.count + owners
        combined, hits = np.unique(combined, return_counts=True)
        record, owner = combined // self.count, combined % self.count
        keep = hits >= self._need_hits[owner]
        return record[keep], owner[keep]


def _distinct_pairs(forms: Sequence[str], owners: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (owner, n-gram hash) pairs of these strings, sorted by owner then hash (an
    owner's set is the union of its strings' sets)."""
    hashes, bounds = hash_shingles(forms, n)
    owner = np.repeat(owners.astype(np.int64), np.diff(bounds))
    order = np.lexsort((hashes, owner))
    owner, hashes = owner[order], hashes[order]
    fresh = np.ones(len(hashes), dtype=bool)
    fresh[1:] = (owner[1:] != owner[:-1]) | (hashes[1:] != hashes[:-1])
    return owner[fresh], hashes[fresh]


@dataclass
class Contamination:
    """Training record ``record`` (an index into the input) contains ``text``.

    ``measure`` is "containment" (``similarity`` is the share of the text's n-grams found in the
    record, ``shared_ngrams`` how many), "occurrence" (``edits`` character edits away from the
    text's ``letters`` letters; ``similarity`` is ``1 - edits / letters``) or "segment" (a
    whole segment of the record is the text's ``letters`` letters; ``similarity`` 1).
    """

    record: int
    text: BenchmarkText
    measure: str
    similarity: float
    matches: int  # how many benchmark texts the record matches
    shared_ngrams: int | None = None
    edits: int | None = None
    letters: int | None = None

    def describe(self) -> dict:
        out = {"measure": self.measure, "similarity": round(self.similarity, 4)}
        if self.measure == "containment":
            out["shared_ngrams"] = self.shared_ngrams
        else:
            out.update(edits=self.edits, letters=self.letters)
        return out


class BenchmarkIndex:
    """Both indexes of a set of benchmark texts (see the module docstring), built with
    ``config``'s settings (the defaults when None; its ``fields`` are the caller's business: the
    search gets the record texts already joined)."""

    def __init__(self, texts: list[BenchmarkText], config: DecontamConfig | None = None):
        self.texts = texts
        self.config = config if config is not None else DecontamConfig()
        self._limit = as_fraction(self.config.threshold)
        self._rates = (as_fraction(self.config.edit_rate), as_fraction(self.config.field_edit_rate))
        text_forms = [[letters_form(p) for p in t.parts] for t in texts]
        self._letters = [sum(map(len, forms)) for forms in text_forms]  # ranks matches (longest first)
        self._index_containment(text_forms)
        self._index_short_texts(text_forms)
        self.skipped_short = self._count_unreached()  # documents checked by neither measure, in no field
        self._shingle_sets: dict[int, set[str]] = {}  # containment text -> its n-gram set, once needed
        self._qgram_sets: dict[int, set[str]] = {}  # short text -> its q-gram set, once needed

    def _index_containment(self, text_forms: list[list[str]]) -> None:
        """The n-gram prefix index of whole documents and long fields; ``checked``: those texts
        (indices into ``texts``)."""
        ngram, min_ngrams = self.config.ngram, self.config.min_ngrams
        part_owner = np.fromiter((i for i, forms in enumerate(text_forms) for _ in forms), dtype=np.int64)
        owner, hashes = _distinct_pairs([f for forms in text_forms for f in forms], part_owner, ngram)
        size = np.bincount(owner, minlength=len(self.texts))
        is_document = np.array([t.field == "document" for t in self.texts], dtype=bool)
        minimum = np.where(is_document, min_ngrams, max(min_ngrams, self.config.field_min_ngrams))
        checked = np.flatnonzero(size >= minimum)
        self.checked: list[int] = checked.tolist()
        need = np.maximum(
            np.array([math.ceil(self._limit * int(k)) for k in size[checked]], dtype=np.int64), min_ngrams
        )
        local = np.full(len(self.texts), -1, dtype=np.int64)
        local[checked] = np.arange(len(checked))
        keep = local[owner] >= 0
        self._containment = _PrefixIndex(local[owner[keep]], hashes[keep], len(checked), size[checked] - need)

    def _index_short_texts(self, text_forms: list[list[str]]) -> None:
        """Approximate occurrence and whole segments, through one q-gram index: each text under
        the largest q-gram size that leaves at least one of its q-grams after k edits (3 for all
        KoBEST texts: one pass over the records); a whole segment is an occurrence with no edit,
        then checked on the segments."""
        self._patterns: list[str] = []
        self._budgets: list[int] = []
        self._qsize: list[int] = []
        self._whole: list[bool] = []  # a whole-segment text
        self._owner: list[int] = []  # index into texts
        for i, (text, forms) in enumerate(zip(self.texts, text_forms)):
            if len(forms) != 1:
                continue
            form = forms[0]
            budget, whole = self.edit_budget(text, len(form)), False
            if (
                budget is None
                and text.field == "document"
                and self.config.segment_min_letters <= len(form) < self.config.min_letters
            ):
                budget, whole = 0, True
            if budget is None:
                continue
            q = next((q for q in _EDIT_QGRAMS if len(shingle_set(form, q)) - budget * q >= 1), None)
            if q is None:
                continue  # so repetitive (ㅋㅋㅋㅋㅋㅋㅋㅋ) that k edits may leave no q-gram: containment only
            self._owner.append(i)
            self._patterns.append(form)
            self._budgets.append(budget)
            self._qsize.append(q)
            self._whole.append(whole)
        self.occurrence_checked = [i for i, whole in zip(self._owner, self._whole) if not whole]
        self.segment_checked = [i for i, whole in zip(self._owner, self._whole) if whole]
        self._occurrence: dict[int, tuple[_PrefixIndex, np.ndarray]] = {}
        qsize = np.array(self._qsize, dtype=np.int64)
        budgets = np.array(self._budgets, dtype=np.int64)
        for q in sorted(set(self._qsize)):
            members = np.flatnonzero(qsize == q)
            owner, hashes = _distinct_pairs([self._patterns[m] for m in members], np.arange(len(members)), q)
            self._occurrence[q] = (_PrefixIndex(owner, hashes, len(members), budgets[members] * q), members)

    def _count_unreached(self) -> int:
        def key(t: BenchmarkText) -> tuple:
            return t.benchmark, t.task, t.split, t.doc_index

        reached = {key(self.texts[i]) for i in (*self.checked, *self._owner)}
        return sum(1 for t in self.texts if t.field == "document" and key(t) not in reached)

    def edit_budget(self, text: BenchmarkText, letters: int) -> int | None:
        """Edits allowed in an approximate occurrence of this single-part text of ``letters``
        letters, or None when it is not checked that way (see the module docstring)."""
        if letters > EDIT_MAX_LETTERS:
            return None
        if text.field == "document":
            minimum, rate = self.config.min_letters, self._rates[0]
        elif text.standalone:
            minimum, rate = self.config.field_min_letters, self._rates[1]
        else:
            return None
        if letters < minimum:
            return None
        return letters * rate.numerator // rate.denominator

    @property
    def size(self) -> int:
        """Benchmark texts checked by at least one measure."""
        return len(set(self.checked) | set(self.occurrence_checked) | set(self.segment_checked))

    def candidates(self, forms: Sequence[str]) -> list[tuple[int, int]]:
        """(record, local text) pairs of the containment index, for records in letters_form."""
        hashes, bounds = hash_shingles(forms, self.config.ngram)
        record, local = self._containment.candidates(hashes, bounds)
        return list(zip(record.tolist(), local.tolist()))

    def _occurrence_candidates(self, forms: Sequence[str]) -> dict[int, list[int]]:
        """Record -> numbers of the short texts (occurrence or whole segment) to verify."""
        out: dict[int, list[int]] = {}
        for q, (index, members) in self._occurrence.items():
            hashes, bounds = hash_shingles(forms, q)
            record, local = index.candidates(hashes, bounds)
            for r, m in zip(record.tolist(), members[local].tolist()):
                out.setdefault(r, []).append(m)
        return out

    @staticmethod
    def _segment_letters(folded: str) -> set[str]:
        """The letters of each segment of a folded record text."""
        return {letters_only(part) for part in SEGMENT_BREAKS.split(folded)}

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
        verified = Counter()  # candidate pairs verified, by measure
        for start in range(0, len(texts), chunk_records):
            folded = [folded_form(t) for t in texts[start : start + chunk_records]]
            forms = [letters_only(t) for t in folded]  # letters_form
            found += self._search_chunk(start, folded, forms, verified)
            if progress is not None:
                progress(len(forms))
        if stats is not None:
            stats.update(
                benchmark_texts_indexed=self.size,
                benchmark_documents_too_short=self.skipped_short,
                containment_texts=len(self.checked),
                occurrence_texts=len(self.occurrence_checked),
                segment_texts=len(self.segment_checked),
                index_keys=self._containment.keys + sum(i.keys for i, _ in self._occurrence.values()),
                pairs_verified=verified["containment"] + verified["occurrence"],
                occurrence_pairs_verified=verified["occurrence"],
            )
        return found

    def _search_chunk(self, start: int, folded: list[str], forms: list[str], verified: Counter) -> list[Contamination]:
        """The contaminated records of one chunk (record numbers counted from ``start``): each
        with its best match among the benchmark texts it matches."""
        by_record: dict[int, list[int]] = {}
        for record, local in self.candidates(forms):
            by_record.setdefault(record, []).append(local)
        by_record_edit = self._occurrence_candidates(forms)
        found = []
        for record in sorted(set(by_record) | set(by_record_edit)):
            matched: dict[int, Contamination] = {}  # benchmark text -> its best match
            self._match_containment(start + record, forms[record], by_record.get(record, ()), matched, verified)
            self._match_short_texts(
                start + record, folded[record], forms[record], by_record_edit.get(record, ()), matched, verified
            )
            if matched:
                # the most similar text; on ties the longest, then the first
                best = max(matched.items(), key=lambda item: (item[1].similarity, self._letters[item[0]], -item[0]))[1]
                best.matches = len(matched)
                found.append(best)
        return found

    def _match_containment(
        self, record: int, form: str, local_texts: Sequence[int], matched: dict[int, Contamination], verified: Counter
    ) -> None:
        """Adds to ``matched`` the candidate texts (local numbers) this record contains."""
        if not local_texts:
            return
        mine = shingle_set(form, self.config.ngram)
        for local in sorted(local_texts):
            verified["containment"] += 1
            text = self.checked[local]
            theirs = self._shingle_sets.get(local)
            if theirs is None:
                theirs = self._shingle_sets[local] = _text_shingles(self.texts[text].parts, self.config.ngram)
            shared = len(theirs & mine)
            below = shared * self._limit.denominator < self._limit.numerator * len(theirs)
            if shared < self.config.min_ngrams or below:
                continue
            matched[text] = Contamination(
                record, self.texts[text], "containment", shared / len(theirs), 0, shared_ngrams=shared
            )

    def _match_short_texts(
        self,
        record: int,
        folded: str,
        form: str,
        numbers: Sequence[int],
        matched: dict[int, Contamination],
        verified: Counter,
    ) -> None:
        """Adds to ``matched`` the candidate short texts that occur in this record within their
        edit budget, or that are one of its whole segments."""
        mine_by_q: dict[int, set[str]] = {}
        segments = None
        for number in sorted(numbers):
            pattern, budget, q = self._patterns[number], self._budgets[number], self._qsize[number]
            text = self._owner[number]
            if self._whole[number]:
                if segments is None:
                    segments = self._segment_letters(folded)
                if pattern in segments:
                    matched[text] = Contamination(
                        record, self.texts[text], "segment", 1.0, 0, edits=0, letters=len(pattern)
                    )
                continue
            theirs = self._qgram_sets.get(number)
            if theirs is None:
                theirs = self._qgram_sets[number] = shingle_set(pattern, q)
            mine = mine_by_q.get(q)
            if mine is None:
                mine = mine_by_q[q] = shingle_set(form, q)
            if len(theirs & mine) < len(theirs) - budget * q:
                continue  # the q-gram lemma: more than `budget` edits away
            verified["occurrence"] += 1
            edits = occurrence_distance(pattern, form)
            if edits > budget:
                continue
            similarity = 1.0 - edits / len(pattern)
            if text not in matched or similarity > matched[text].similarity:
                matched[text] = Contamination(
                    record, self.texts[text], "occurrence", similarity, 0, edits=edits, letters=len(pattern)
                )
