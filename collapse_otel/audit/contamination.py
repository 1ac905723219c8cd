"""Near-duplicate contamination of a holdout set by training rows.

A holdout row is contaminated by a dataset version when one of the version's training rows has
the same normalised text, or word 5-gram shingles whose Jaccard with the holdout row's is at
least the threshold (0.8 by default, the aggregator's near-duplicate threshold). Candidates come
from MinHash-LSH (the aggregator's ``MinHasher``: 10 bands of 3 rows, a pair at Jaccard 0.8 is
a candidate with probability 0.9992) and every candidate is verified on the stored shingle
sets (``sorted_jaccard``: exact below ``SHINGLE_SKETCH`` shingles, a bottom-k estimate above).
Shingles are hashed exactly as the aggregator hashes them (``collapse_otel.engine.analysis``), so
"near duplicate" means the same thing offline and online. As in the aggregator, an LSH bucket
keeps its most recent ``BUCKET_DEPTH`` (2,048) rows and a holdout row's ``CANDIDATES`` best
candidates are verified: bounds that only matter for heavily templated versions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..engine.analysis import SHINGLE_SIZE
from ..engine.hash_core import unique_pairs
from ..signals.duplicates import SHINGLE_SKETCH, DuplicateIndex
from ..signals.minhash import MinHasher
from ..text.hashing import TokenHasher, text_hash
from ..text.normalize import clean_text, normalize, word_bytes

CHUNK = 4096          # rows sketched per numpy batch
CANDIDATES = 256      # LSH candidates verified per holdout row, most shared bands first


@dataclass
class Sketches:
    """Per row: the normalised-text hash (None for an empty text), the bottom-k shingle set
    (None below 5 tokens) and its LSH band keys."""

    hashes: list[int | None]
    shingles: list[np.ndarray | None]
    band_keys: list[list[int] | None]


def sketch(texts: Sequence[str], minhasher: MinHasher,
           hasher: TokenHasher | None = None) -> Sketches:
    hasher = hasher or TokenHasher()
    out = Sketches([], [], [])
    for start in range(0, len(texts), CHUNK):
        chunk = [normalize(clean_text(t)) for t in texts[start:start + CHUNK]]
        out.hashes += [text_hash(t) if t else None for t in chunk]
        batch = hasher.batch([word_bytes(t) for t in chunk])
        sh, owner = unique_pairs(*batch.ngrams(SHINGLE_SIZE), bits=32)
        sh = sh.astype(np.uint32)
        keys = minhasher.band_keys(minhasher.signatures(sh, owner, len(chunk))).tolist()
        bounds = np.concatenate(([0], np.cumsum(np.bincount(owner, minlength=len(chunk)))))
        for i, (lo, hi) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist(),
                                         strict=True)):
            if hi > lo:   # the smallest hashes first: the aggregator's bottom-k sketch
                out.shingles.append(sh[lo:min(hi, lo + SHINGLE_SKETCH)].copy())
                out.band_keys.append(keys[i])
            else:
                out.shingles.append(None)
                out.band_keys.append(None)
    return out


@dataclass(frozen=True)
class Match:
    """A contaminated holdout row: its line, the training row's line, their similarity."""

    holdout_line: int
    training_line: int
    similarity: float


@dataclass(frozen=True)
class Contamination:
    holdout_rows: int
    matches: tuple[Match, ...]     # one per contaminated holdout row, in holdout order

    @property
    def contaminated(self) -> int:
        return len(self.matches)

    @property
    def share(self) -> float:
        return self.contaminated / self.holdout_rows if self.holdout_rows else 0.0


class TrainingIndex:
    """One version's training rows, indexed for exact and near-duplicate lookups."""

    def __init__(self, rows: Sketches, lines: Sequence[int], threshold: float,
                 minhasher: MinHasher) -> None:
        self.threshold = threshold
        self.lines = list(lines)
        self._index = DuplicateIndex(threshold, minhasher)
        self._first: dict[int, int] = {}   # text hash -> first row with it
        for i, (th, sh, keys) in enumerate(zip(rows.hashes, rows.shingles, rows.band_keys,
                                               strict=True)):
            if th is None or th in self._first:   # nothing new to match against
                self._index.add(th or 0, None, None, exact=True, near=False)
                continue
            self._first[th] = i
            self._index.add(th, sh, keys, exact=False, near=False)

    def best(self, th: int | None, sh: np.ndarray | None,
             keys: list[int] | None) -> tuple[int, float] | None:
        """(training row, similarity) of the best match at or above the threshold, or None."""
        if th is None:
            return None
        if th in self._first:
            return self._first[th], 1.0
        if sh is None or keys is None:
            return None
        sim, where = self._index.best_match(sh, keys, CANDIDATES)
        if where is None or sim < self.threshold:
            return None
        return where, sim


def contamination(index: TrainingIndex, holdout: Sketches,
                  holdout_lines: Sequence[int]) -> Contamination:
    matches = []
    for line, th, sh, keys in zip(holdout_lines, holdout.hashes, holdout.shingles,
                                  holdout.band_keys, strict=True):
        found = index.best(th, sh, keys)
        if found is not None:
            row, sim = found
            matches.append(Match(line, index.lines[row], round(sim, 4)))
    return Contamination(len(holdout_lines), tuple(matches))
