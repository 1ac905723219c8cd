"""Exact and near-duplicate detection over the answers of a window.

Exact: xxh3 of the normalised text. Near: Jaccard of word 5-gram shingle sets >= threshold with
an earlier answer, found through MinHash-LSH candidates and then verified on the stored
shingle hashes. Each answer keeps at most SHINGLE_SKETCH shingles, the ones with the smallest
hashes (a bottom-k sketch), so its state is bounded whatever its length: verification is exact
when both answers have fewer shingles than that (about 500 words), and otherwise a bottom-k
estimate of the Jaccard with standard error at most sqrt(J(1-J)/k), 0.018 at J=0.8. Answers with fewer
than 5 tokens have no shingles and are checked for exact duplicates only.

When capture knows the question (a hash of the user's normalised question, 0 when unknown),
each duplicate is also classed as same-question (an FAQ bot rightly repeating itself) or
cross-question: an exact duplicate whose text no earlier answer in the window gave to this
question, or a near duplicate of an answer to another question (the same answer whatever is
asked, a collapse sign).
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import cast

import numpy as np

from ..extension import compiled_core
from .codec import Reader, Writer
from .minhash import MinHasher

TAG_DUPLICATES = 30
MAX_CANDIDATES = 64   # verified per answer, most shared bands first; bounds the cost
SHINGLE_SKETCH = 512  # shingles kept per answer (the smallest hashes)
ANSWER_BYTES = 56     # per answer: its text hash and list slots
INDEXED_BYTES = 50    # per answer kept for matching: its exact-set entry
BANDED_BYTES = 112    # per answer with shingles: the shingle array's header
BAND_KEY_BYTES = 90   # per band key in the LSH buckets: the key and its dict entry
QUESTION_BYTES = 8     # per answer: its question hash
PAIR_BYTES = 60        # per answer with a question: its (text, question) set entry
_PAIR_MUL = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1
BUCKET_DEPTH = 2048  # most recent entries kept per LSH bucket (templated traffic: see
#                      tests/unit/test_near_duplicates_templated.py; 4/16 flagged 5 of ~450)
HIST_BINS = 128       # per answer: its shingles counted by their low 7 bits (uint8)
_RANK_IN_PYTHON = 48  # bucket entries up to which ranking in Python beats numpy
_NO_SPLIT = 1 << 62  # a window of one pane
_IDX_BITS = 40        # ranking key: shared-band count above the answer's window position


@dataclass(frozen=True, slots=True)
class DuplicateResult:
    exact: bool
    near: bool
    max_similarity: float   # of the match; below the threshold, of the closest verified
    match: int | None = None   # position of the best match in its pane (verification, tests)
    cross_question: bool = False  # a duplicate of an answer given to another question


def pair_key(text_hash: int, question_hash: int) -> int:
    """One key for an (answer text, question) pair."""
    return (text_hash ^ (question_hash * _PAIR_MUL)) & _MASK


def sorted_jaccard(a: np.ndarray, b: np.ndarray, sketch: int = SHINGLE_SKETCH) -> float:
    """Jaccard of two sets given as sorted arrays of unique values, each either the whole set
    (shorter than ``sketch``) or its ``sketch`` smallest values. Exact for two whole sets;
    otherwise the bottom-k estimate: the Jaccard of the union's values up to the smaller of
    the sketches' largest values, all of which both sketches hold."""
    if not len(a) or not len(b):
        return 1.0 if len(a) == len(b) else 0.0
    if len(a) >= sketch or len(b) >= sketch:
        limit = min(a[-1] if len(a) >= sketch else b[-1], b[-1] if len(b) >= sketch else a[-1])
        a = a[:np.searchsorted(a, limit, side="right")]
        b = b[:np.searchsorted(b, limit, side="right")]
    idx = np.searchsorted(b, a)
    idx[idx == len(b)] = 0
    inter = int(np.count_nonzero(b[idx] == a))
    return inter / (len(a) + len(b) - inter)


class DuplicateIndex:
    """One pane of the duplicate window: exact hashes, LSH buckets, shingle sets, in order."""

    def __init__(self, threshold: float = 0.8, minhasher: MinHasher | None = None) -> None:
        self.threshold = threshold
        self.minhasher = minhasher or MinHasher()
        self.text_hashes: list[int] = []
        self.shingles: list[np.ndarray | None] = []
        self.question_hashes = array("Q")   # per answer; 0 = question unknown
        self._exact: set[int] = set()
        self._pairs: set[int] = set()       # (text, question) pairs seen
        self._buckets: dict[int, int | array[int]] = {}   # band key -> position(s), oldest first
        self._hist = np.zeros((0, HIST_BINS), dtype=np.uint8)   # see match_in_window
        self._hist_state = np.zeros(0, dtype=np.int8)   # 0 not computed, 1 usable, 2 not
        self.exact_count = 0
        self.near_count = 0
        self.indexed = 0          # answers kept for matching (not exact duplicates)
        self.banded = 0           # of which have band keys in the LSH buckets
        self.shingle_values = 0   # shingle hashes kept, over all answers
        self.with_question = 0    # answers whose question is known
        self.cross_exact = 0      # exact duplicates of an answer to another question
        self.cross_near = 0       # near duplicates of an answer to another question

    def __len__(self) -> int:
        return len(self.text_hashes)

    def nbytes(self) -> int:
        """Approximate memory held (CPython object sizes, measured): what the aggregator's
        memory budget counts. Bounded per answer: shingles are a bottom-k sketch."""
        return (len(self.text_hashes) * ANSWER_BYTES + self.indexed * INDEXED_BYTES +
                self.banded * (BANDED_BYTES + self.minhasher.bands * BAND_KEY_BYTES) +
                4 * self.shingle_values + QUESTION_BYTES * len(self.question_hashes) +
                PAIR_BYTES * len(self._pairs) + self._hist.nbytes + self._hist_state.nbytes)

    # -- lookup and insertion (the aggregator calls these across the panes of a window) --
    def has_exact(self, text_hash: int) -> bool:
        return text_hash in self._exact

    def has_pair(self, pair: int) -> bool:
        return pair in self._pairs

    def candidates(self, band_keys: Iterable[int]) -> list[int]:
        out: list[int] = []
        buckets = self._buckets
        for key in buckets.keys() & band_keys:  # one C-level probe; usually empty
            hit = buckets[key]
            if isinstance(hit, int):
                out.append(hit)
            else:
                out.extend(hit)
        return out

    def ranked(self, band_keys: Iterable[int], limit: int) -> list[int]:
        """The ``limit`` LSH candidates sharing the most bands, the most recent first among
        equals (every entry of the answer's buckets counted)."""
        return [pos for _, pos in ranked_candidates([self], band_keys, limit)]

    def histogram(self, shingles: np.ndarray) -> np.ndarray | None:
        """The answer's shingles counted per bin of their low bits (None when a bin would
        overflow uint8, or for a bottom-k sketch, whose Jaccard is an estimate)."""
        if len(shingles) >= SHINGLE_SKETCH:
            return None
        counts = np.bincount((shingles & (HIST_BINS - 1)).astype(np.intp), minlength=HIST_BINS)
        return counts.astype(np.uint8) if counts.max() < 256 else None

    def _histograms(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(histograms, usable) of the answers at ``idx``, computed on first use (the healthy
        path never asks: answers sharing no band key are never verified)."""
        self._grow()
        missing = idx[self._hist_state[idx] == 0]
        for i in missing.tolist():   # once per answer, then kept
            sh = self.shingles[i]
            h = None if sh is None else self.histogram(sh)
            if h is None:
                self._hist_state[i] = 2
            else:
                self._hist[i] = h
                self._hist_state[i] = 1
        return self._hist[idx], self._hist_state[idx] == 1

    def _grow(self) -> None:
        n = len(self.shingles)
        if len(self._hist_state) < n:
            cap = max(256, 2 * n)
            hist = np.zeros((cap, HIST_BINS), dtype=np.uint8)
            hist[:len(self._hist)] = self._hist
            state = np.zeros(cap, dtype=np.int8)
            state[:len(self._hist_state)] = self._hist_state
            self._hist, self._hist_state = hist, state

    def keep_histogram(self, idx: int, hist: np.ndarray | bytes | None) -> None:
        """Store the histogram of the answer at ``idx`` (computed for its own check), once
        this index has started keeping histograms."""
        if hist is not None and len(self._hist_state):
            self._grow()
            self._hist[idx] = np.frombuffer(hist, np.uint8) if isinstance(hist, bytes) else hist
            self._hist_state[idx] = 1

    def best_match(self, shingles: np.ndarray, band_keys: list[int], limit: int,
                   stop_at: float = 1.0) -> tuple[float, int | None]:
        """(highest verified Jaccard, its position) among at most ``limit`` LSH candidates;
        (0.0, None) if none. Candidates sharing the most bands go first (on templated traffic
        recency alone lets middling siblings crowd out an older true match), then the most
        recent; the first one at or above ``stop_at`` is the match."""
        sim, found = match_in_window([self], shingles, band_keys, limit, stop_at)
        return sim, None if found is None else found[1]

    def add(self, text_hash: int, shingles: np.ndarray | None, band_keys: list[int] | None,
            exact: bool, near: bool, question: int = 0, cross: bool = False) -> None:
        idx = len(self.text_hashes)
        self.text_hashes.append(text_hash)
        self.question_hashes.append(question)
        self.exact_count += exact
        self.near_count += near
        if question:
            self.with_question += 1
            self._pairs.add(pair_key(text_hash, question))
            self.cross_exact += exact and cross
            self.cross_near += near and cross
        if exact:
            # an exact duplicate adds nothing new to match against: keep no shingles for it
            self.shingles.append(None)
            return
        self._exact.add(text_hash)
        self.shingles.append(shingles)
        self.indexed += 1
        if shingles is not None:
            self.shingle_values += len(shingles)
        if band_keys is None:
            return
        self.banded += 1
        buckets = self._buckets
        if buckets.keys().isdisjoint(band_keys):  # the common case: one C-level update
            buckets.update(dict.fromkeys(band_keys, idx))
            return
        for key in band_keys:
            hit = buckets.get(key)
            if hit is None:
                buckets[key] = idx
            elif isinstance(hit, int):
                buckets[key] = array("q", (hit, idx))
            else:
                hit.append(idx)
                if len(hit) > BUCKET_DEPTH:
                    del hit[0]

    def add_unseen(self, text_hash: int, shingles: np.ndarray, band_keys: list[int],
                   question: int = 0) -> None:
        """``add`` of a non-duplicate whose text hash and band keys this index has never seen
        (the caller checked): no lookups."""
        self._buckets.update(dict.fromkeys(band_keys, len(self.text_hashes)))
        self.text_hashes.append(text_hash)
        self.question_hashes.append(question)
        if question:
            self.with_question += 1
            self._pairs.add(pair_key(text_hash, question))
        self.shingles.append(shingles)
        self._exact.add(text_hash)
        self.indexed += 1
        self.banded += 1
        self.shingle_values += len(shingles)

    # -- the uniform streaming API --
    def update(self, text_hash: int, shingles: np.ndarray | None,
               question: int = 0) -> DuplicateResult:
        """Check one answer against this index, then add it."""
        return check_and_add([self], text_hash, shingles, self.threshold, question=question)

    def merge(self, other: DuplicateIndex) -> DuplicateIndex:
        """Replay other's answers in order: equals observing self's answers, then other's.
        Refuses an index of another threshold or LSH shape (ValueError), as datasketch's
        MinHash.merge refuses other permutations: its verdicts would mean something else."""
        if other.threshold != self.threshold or \
                (other.minhasher.bands, other.minhasher.rows) != \
                (self.minhasher.bands, self.minhasher.rows):
            raise ValueError("cannot merge duplicate indexes of different threshold or LSH shape")
        for th, sh, q in zip(other.text_hashes, other.shingles, other.question_hashes,
                             strict=True):
            self.update(th, sh, q)
        return self

    def get(self) -> tuple[int, int, int]:
        """(answers, exact duplicates, near duplicates)."""
        return len(self), self.exact_count, self.near_count

    def question_counts(self) -> tuple[int, int, int]:
        """(answers with a known question, cross-question exact, cross-question near)."""
        return self.with_question, self.cross_exact, self.cross_near

    def to_bytes(self) -> bytes:
        """Version 2 stores each answer's band keys (version 1 recomputed them on restore,
        which a bottom-k sketch of a long answer cannot reproduce); version 3 its question
        hash and the cross-question counts."""
        w = Writer(TAG_DUPLICATES, 3).f64(self.threshold).u64(self.minhasher.bands)
        w.u64(self.minhasher.rows).u64(self.exact_count).u64(self.near_count)
        w.array(np.array(self.text_hashes, dtype=np.uint64), "<u8")
        lengths = np.array([-1 if s is None else len(s) for s in self.shingles], dtype=np.int64)
        flat = [s for s in self.shingles if s is not None]
        w.array(lengths, "<i8")
        w.array(np.concatenate(flat) if flat else np.zeros(0, np.uint64), "<u8")
        keys, missing = self._keys_by_answer(), [0] * self.minhasher.bands
        w.array(np.array([keys.get(i, missing) for i in np.flatnonzero(lengths > 0).tolist()],
                         dtype=np.uint64).reshape(-1, self.minhasher.bands), "<u8")
        w.array(np.frombuffer(self.question_hashes, dtype=np.uint64), "<u8")
        w.u64(self.cross_exact).u64(self.cross_near)
        return w.getvalue()

    def _keys_by_answer(self) -> dict[int, list[int]]:
        """Each answer's band keys, read back from the buckets (a bucket that dropped an old
        entry no longer lists it; that answer's keys are then recomputed on restore)."""
        out: dict[int, list[int]] = {}
        for key, hit in self._buckets.items():
            for idx in (hit,) if isinstance(hit, int) else hit:
                out.setdefault(idx, []).append(key)
        bands = self.minhasher.bands
        return {i: k for i, k in out.items() if len(k) == bands}

    @classmethod
    def from_bytes(cls, data: bytes, minhasher: MinHasher | None = None) -> DuplicateIndex:
        r = Reader(data, TAG_DUPLICATES, versions=(1, 2, 3))
        threshold, bands, rows = r.f64(), r.u64(), r.u64()
        mh = minhasher if minhasher is not None and (minhasher.bands, minhasher.rows) == (
            bands, rows) else MinHasher(bands, rows)
        out = cls(threshold, mh)
        exact_count, near_count = r.u64(), r.u64()
        hashes, lengths, flat = r.array("<u8"), r.array("<i8"), r.array("<u8")
        stored = r.array("<u8") if r.version >= 2 else np.zeros((0, bands), np.uint64)
        questions = r.array("<u8") if r.version >= 3 else np.zeros(len(hashes), np.uint64)
        cross_exact, cross_near = (r.u64(), r.u64()) if r.version >= 3 else (0, 0)
        r.done()
        if len(hashes) != len(lengths) or len(questions) != len(hashes) or int(lengths[lengths > 0].sum()) != len(flat):
            raise ValueError("duplicate index bytes are inconsistent")
        if r.version >= 2 and stored.shape != (int((lengths > 0).sum()), bands):
            raise ValueError("duplicate index band keys are inconsistent")
        pos, row = 0, 0
        for th, n, q in zip(hashes.tolist(), lengths.tolist(), questions.tolist(), strict=True):
            if n < 0:
                out.add(th, None, None, exact=True, near=False, question=q)
                continue
            sh = flat[pos:pos + n]
            pos += n
            keys = None
            if n:
                keys = stored[row].tolist() if r.version >= 2 and stored[row].any() else \
                    band_keys_for(mh, sh)
                row += 1
                if n > SHINGLE_SKETCH:  # state written before shingles were a sketch
                    sh = sh[:SHINGLE_SKETCH].copy()
            out.add(th, sh, keys, exact=False, near=False, question=q)
        out.exact_count, out.near_count = exact_count, near_count
        out.cross_exact, out.cross_near = cross_exact, cross_near
        return out


def band_keys_for(minhasher: MinHasher, shingles: np.ndarray) -> list[int] | None:
    if not len(shingles):
        return None
    sig = minhasher.signatures(shingles, np.zeros(len(shingles), np.int64), 1)
    keys: list[int] = minhasher.band_keys(sig)[0].tolist()
    return keys


_NOT_DUPLICATE = DuplicateResult(False, False, 0.0)
_EXACT_DUPLICATE = DuplicateResult(True, False, 1.0)
_CROSS_EXACT_DUPLICATE = DuplicateResult(True, False, 1.0, cross_question=True)


def _exact_duplicate(panes: list[DuplicateIndex], text_hash: int,
                     question: int) -> DuplicateResult:
    """Add an exact duplicate to the newest pane; cross-question when no earlier answer in
    the window gave this text to this question."""
    cross = bool(question) and not any(p.has_pair(pair_key(text_hash, question)) for p in panes)
    panes[-1].add(text_hash, None, None, exact=True, near=False, question=question, cross=cross)
    return _CROSS_EXACT_DUPLICATE if cross else _EXACT_DUPLICATE


def check_and_add_many(panes: list[DuplicateIndex], text_hashes: list[int],
                       shingles: list[np.ndarray | None], band_keys: list[list[int] | None],
                       threshold: float, questions: list[int] | None = None,
                       ) -> list[DuplicateResult]:
    """``check_and_add`` for answers in order, with the same results. An answer that shares
    neither its text hash nor any band key with the window (most answers of diverse traffic)
    is added directly, with a handful of C-level set operations and no candidate ranking; the
    others are checked in the compiled core when it is built."""
    if len(panes) > 2:
        raise ValueError("a window has at most two panes")
    current = panes[-1]
    exact = current._exact
    older_exact = panes[0]._exact if len(panes) == 2 else frozenset()
    keys_now = current._buckets.keys()
    keys_older = panes[0]._buckets.keys() if len(panes) == 2 else frozenset()
    out: list[DuplicateResult] = []
    if questions is None:
        questions = [0] * len(text_hashes)
    core = compiled_core()
    for th, sh, keys, q in zip(text_hashes, shingles, band_keys, questions, strict=True):
        if th in exact or th in older_exact:
            out.append(_exact_duplicate(panes, th, q))
        elif sh is None or keys is None or not len(sh):
            out.append(_check_and_add(panes, th, sh, threshold, keys, q, core))
        elif not keys_now.isdisjoint(keys) or not keys_older.isdisjoint(keys):
            matched = None if core is None else \
                compiled_match(core, panes, sh, keys, MAX_CANDIDATES, threshold, True)
            out.append(_check_and_add(panes, th, sh, threshold, keys, q, None)
                       if matched is None else _add_checked(panes, th, sh, keys, q, matched,
                                                            threshold))
        else:
            current.add_unseen(th, sh, keys, q)
            out.append(_NOT_DUPLICATE)
    return out


def ranked_candidates(panes: list[DuplicateIndex], band_keys: Iterable[int],
                      limit: int) -> list[tuple[int, int]]:
    """(pane, position) of the ``limit`` answers of a window (panes oldest first) that share
    the most LSH bands with an answer, the most recent first among equals."""
    split = _split(panes)
    return [(1, pos - split) if pos >= split else (0, pos)
            for pos in _ranked(panes, band_keys, limit)]


def _split(panes: list[DuplicateIndex]) -> int:
    """The window position where the newer of two panes starts (past any position of one)."""
    if len(panes) > 2:
        raise ValueError("a window has at most two panes")
    return len(panes[0]) if len(panes) == 2 else _NO_SPLIT


def _ranked(panes: list[DuplicateIndex], band_keys: Iterable[int], limit: int) -> list[int]:
    """``ranked_candidates`` as window positions (the older pane's first). Every entry of
    the answer's buckets is counted, in one pass over the whole window (one sort of the
    buckets' entries, joined without a numpy call per bucket): the work is bounded by bands x BUCKET_DEPTH whatever the traffic, and
    on templated traffic, where siblings crowd every bucket, it is a handful of numpy calls
    for the window instead of several per bucket and pane."""
    parts: list[array[int]] = []   # the buckets' arrays, joined as bytes (no numpy call per bucket)
    newer = 0              # where the newer pane's entries start
    for pane in panes:
        buckets = pane._buckets
        newer = len(parts)
        singles = array("q")
        for key in buckets.keys() & band_keys:
            hit = buckets[key]
            if isinstance(hit, int):
                singles.append(hit)
            else:
                parts.append(hit)
        parts.append(singles)
    first = sum(len(p) for p in parts[:newer]) if len(panes) == 2 else 0
    entries = np.frombuffer(bytearray().join(parts), dtype=np.int64)
    if len(panes) == 2 and first < len(entries):
        entries[first:] += len(panes[0])
    total = len(entries)
    if total <= _RANK_IN_PYTHON:
        counts = Counter(entries.tolist())
        return sorted(counts, key=lambda i: (counts[i], i), reverse=True)[:limit]
    entries = np.sort(entries)
    head = np.empty(total, dtype=bool)   # where each distinct position's run starts
    head[0] = True
    np.not_equal(entries[1:], entries[:-1], out=head[1:])
    starts = np.flatnonzero(head)
    runs = np.empty(len(starts), dtype=np.int64)
    np.subtract(starts[1:], starts[:-1], out=runs[:-1])
    runs[-1] = total - starts[-1]
    keys = (runs << _IDX_BITS) | entries[starts]
    if len(keys) > limit:
        keys = keys[np.argpartition(keys, len(keys) - limit)[len(keys) - limit:]]
    keys.sort()
    positions: list[int] = (keys[::-1] & ((1 << _IDX_BITS) - 1)).tolist()
    return positions


def match_in_window(panes: list[DuplicateIndex], shingles: np.ndarray, band_keys: list[int],
                    limit: int, stop_at: float = 1.0, floor: float | None = None,
                    hist: np.ndarray | None = None) -> tuple[float, tuple[int, int] | None]:
    """(highest verified Jaccard, (pane, position)) among at most ``limit`` ranked
    candidates of the window (panes oldest first); (0.0, None) if none. Verification stops
    at the first similarity >= ``stop_at``.

    With a ``floor``, a candidate whose Jaccard provably stays below it is not verified:
    the shared shingles are at most the sum over histogram bins of the smaller count (one
    numpy pass over all candidates). Every result at or above the floor, and the first one
    at or above ``stop_at``, are unchanged; only similarities below the floor are no longer
    all looked at. ``hist``: the answer's histogram, if the caller has it."""
    ranked = _ranked(panes, band_keys, limit)
    split = _split(panes)
    if floor is not None and len(ranked) > 1 and hist is not None:
        ranked = _bounded(panes, split, ranked, len(shingles), hist, floor)
    best, where = 0.0, None
    for pos in ranked:
        k, local = (1, pos - split) if pos >= split else (0, pos)
        other = panes[k].shingles[local]
        if other is None:
            continue
        sim = sorted_jaccard(shingles, other)
        if sim > best:
            best, where = sim, (k, local)
            if best >= stop_at:
                break
    return best, where


def _bounded(panes: list[DuplicateIndex], split: int, ranked: list[int], length: int,
             hist: np.ndarray, floor: float) -> list[int]:
    """``ranked`` (window positions) without the candidates whose Jaccard bound is below
    ``floor``."""
    idx = np.array(ranked, dtype=np.intp)
    if int(idx.min()) >= split or int(idx.max()) < split:   # all in one pane
        k = 1 if int(idx.min()) >= split else 0
        hists, usable = panes[k]._histograms(idx - split if k else idx)
    else:
        older = idx < split
        hists = np.empty((len(idx), HIST_BINS), dtype=np.uint8)
        usable = np.empty(len(idx), dtype=bool)
        hists[older], usable[older] = panes[0]._histograms(idx[older])
        hists[~older], usable[~older] = panes[1]._histograms(idx[~older] - split)
    shared = np.minimum(hists, hist).sum(axis=1, dtype=np.int64)
    lengths = hists.sum(axis=1, dtype=np.int64)   # a histogram counts every shingle
    bound = shared / np.maximum(length + lengths - shared, 1)
    kept: list[int] = idx[~usable | (bound >= floor)].tolist()
    return kept


def compiled_match(core: ModuleType, panes: list[DuplicateIndex], shingles: np.ndarray,
                   band_keys: list[int], limit: int, threshold: float, keep: bool = False,
                   ) -> tuple[float, tuple[int, int] | None, bytes | None] | None:
    """``match_in_window(panes, shingles, band_keys, limit, threshold, floor=threshold,
    hist=panes[-1].histogram(shingles))`` and that histogram (as bytes), computed in the
    compiled core with the same results and histogram caches; None when the core cannot
    take these inputs (the caller then runs the Python code, which caches the same).

    ``keep``: the caller adds the answer to ``panes[-1]`` next and calls keep_histogram;
    the core caches the histogram there itself when it can (the bytes are then None)."""
    try:
        out = core.near_match(panes, band_keys, shingles, limit, threshold, threshold,
                              SHINGLE_SKETCH, keep)
        while isinstance(out, int):   # grow the caches as _histograms would, then again
            for k, pane in enumerate(panes):
                if out >> k & 1:
                    pane._grow()
            out = core.near_match(panes, band_keys, shingles, limit, threshold, threshold,
                                  SHINGLE_SKETCH, keep)
    except (TypeError, ValueError, OverflowError, BufferError):
        return None
    best, k, pos, hist = out
    return best, None if k < 0 else (k, pos), hist


def check_and_add(panes: list[DuplicateIndex], text_hash: int, shingles: np.ndarray | None,
                  threshold: float, band_keys: list[int] | None = None,
                  question: int = 0) -> DuplicateResult:
    """Check an answer against every pane of a window (newest last), then add it to the last.

    ``shingles`` is None or empty for answers too short to shingle (exact check only).
    ``question`` is the answer's question hash (0: unknown). The MAX_CANDIDATES answers of
    the window sharing the most LSH bands are verified; the first at or above the
    threshold is the match.
    """
    return _check_and_add(panes, text_hash, shingles, threshold, band_keys, question,
                          compiled_core())


def _check_and_add(panes: list[DuplicateIndex], text_hash: int, shingles: np.ndarray | None,
                   threshold: float, band_keys: list[int] | None, question: int,
                   core: ModuleType | None) -> DuplicateResult:
    """``check_and_add``, the candidates ranked and verified by ``core`` when it is given."""
    current = panes[-1]
    for pane in panes:
        if pane.has_exact(text_hash):
            return _exact_duplicate(panes, text_hash, question)
    best, found = 0.0, None
    hist: np.ndarray | bytes | None
    if shingles is not None and len(shingles):
        if band_keys is None:   # shingles is not empty, so neither are its keys
            band_keys = cast("list[int]", band_keys_for(current.minhasher, shingles))
        matched = None if core is None else \
            compiled_match(core, panes, shingles, band_keys, MAX_CANDIDATES, threshold, True)
        if matched is None:
            hist = current.histogram(shingles)
            best, found = match_in_window(panes, shingles, band_keys, MAX_CANDIDATES,
                                          threshold, floor=threshold, hist=hist)
        else:
            best, found, hist = matched
    else:
        shingles, band_keys, hist = None, None, None
    return _add_checked(panes, text_hash, shingles, band_keys, question, (best, found, hist),
                        threshold)


def _add_checked(panes: list[DuplicateIndex], text_hash: int, shingles: np.ndarray | None,
                 band_keys: list[int] | None, question: int,
                 matched: tuple[float, tuple[int, int] | None, np.ndarray | bytes | None],
                 threshold: float) -> DuplicateResult:
    """Add an answer checked against the window (not an exact duplicate) to its newest pane,
    with the verdict of its best verified match."""
    best, found, hist = matched
    current = panes[-1]
    near = best >= threshold
    match, owner = (found[1], panes[found[0]]) if found is not None else (None, current)
    # near implies a verified match (threshold > 0), so match is a position here
    cross = near and bool(question) and owner.question_hashes[cast(int, match)] != question
    current.add(text_hash, shingles, band_keys, exact=False, near=near, question=question,
                cross=cross)
    if hist is not None:
        current.keep_histogram(len(current) - 1, hist)
    return DuplicateResult(False, near, best, match if near else None, cross)
