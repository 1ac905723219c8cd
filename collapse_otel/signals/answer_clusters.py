"""Answers grouped into clusters, exact and near duplicates, as "species" of a sample.

The duplicate ratios say how many answers repeat one; the clusters' abundance distribution
says how the repeats are spread (one canned reply given 200 times, or 100 replies given
twice), and its Hill numbers at equal coverage (``coverage``) compare two releases of
different sizes. Exact clusters: equal normalised text. Near clusters: chains of answers
whose word 5-gram shingles overlap an earlier answer's by Jaccard >= 0.8, found with the
window's own MinHash-LSH check (``duplicates``), so a sample clusters as production does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..text.hashing import NgramBatch, text_hash
from ..text.normalize import normalize
from .duplicates import SHINGLE_SKETCH, DuplicateIndex, check_and_add_many
from .minhash import MinHasher

SHINGLE = 5
THRESHOLD = 0.8
_MINHASHER = MinHasher()


def exact_labels(texts: Sequence[str]) -> np.ndarray:
    """Per answer: the index of the first answer with the same normalised text."""
    first: dict[int, int] = {}
    return np.fromiter((first.setdefault(text_hash(normalize(t)), i)
                        for i, t in enumerate(texts)), dtype=np.int64, count=len(texts))


def near_labels(texts: Sequence[str], batch: NgramBatch) -> np.ndarray:
    """Per answer: the cluster of answers joined by exact or near duplicate matches (each
    answer to the earlier one it matches), named by its first answer. ``batch``: the texts'
    word tokens, hashed."""
    count = len(texts)
    hashes, owner = batch.ngrams(SHINGLE)
    shingles: list[np.ndarray | None] = [None] * count
    keys: list[list[int] | None] = [None] * count
    if len(hashes):
        packed = np.sort((owner.astype(np.uint64) << np.uint64(32))
                         | (hashes & np.uint64(0xFFFFFFFF)))
        packed = packed[np.r_[True, packed[1:] != packed[:-1]]]   # unique, by answer
        sh = (packed & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        sh_owner = (packed >> np.uint64(32)).astype(np.int64)
        bands = _MINHASHER.band_keys(_MINHASHER.signatures(sh, sh_owner, count)).tolist()
        bounds = np.concatenate(([0], np.cumsum(np.bincount(sh_owner, minlength=count))))
        for i in np.flatnonzero(np.diff(bounds)).tolist():
            shingles[i] = sh[bounds[i]:min(bounds[i + 1], bounds[i] + SHINGLE_SKETCH)]
            keys[i] = bands[i]
    exact = exact_labels(texts)
    results = check_and_add_many([DuplicateIndex(THRESHOLD, _MINHASHER)],
                                 [int(h) + 1 for h in exact], shingles, keys, THRESHOLD)
    labels = exact.copy()
    for i, r in enumerate(results):
        if exact[i] != i:       # the cluster its text's first answer joined
            labels[i] = labels[exact[i]]
        elif r.near and r.match is not None:
            labels[i] = labels[r.match]
    return labels


def cluster_counts(labels: np.ndarray, group: np.ndarray, groups: int) -> np.ndarray:
    """clusters x groups counts of answers (answer i in group ``group[i]``)."""
    if not len(labels):
        return np.zeros((0, groups), np.int64)
    _, cluster = np.unique(labels, return_inverse=True)
    k = int(cluster.max()) + 1
    return np.bincount(cluster * groups + group[:len(labels)],
                       minlength=k * groups).reshape(k, groups)
