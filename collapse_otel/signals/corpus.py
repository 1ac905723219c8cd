"""Corpus-level signals of a sample of answers, computed on hashed n-grams in numpy.

Same definitions as signals.batch (the oracles), without building Python tuples per n-gram.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..text.hashing import NgramBatch, TokenHasher
from ..text.normalize import normalize, word_bytes
from .batch import compression_ratio

STREAMING_GZIP_LEVEL = 6


@dataclass(frozen=True)
class CorpusSignals:
    distinct: dict[int, float] = field(default_factory=dict)   # n -> distinct-n
    ngram_diversity_score: float = 0.0
    compression_ratio: float = 0.0
    self_repetition_score: float = 0.0

    @property
    def repeated_ngram_across_answers(self) -> float:
        return 1.0 - self.distinct.get(4, 0.0)


def _sorted_unique(hashes: np.ndarray) -> np.ndarray:
    """Sorted distinct values (a sort beats np.unique's hash table on 64-bit keys)."""
    s = np.sort(hashes)
    return s[np.r_[True, s[1:] != s[:-1]]] if len(s) else s


def _distinct_counts(batch: NgramBatch, n: int) -> tuple[int, int, int, int]:
    """(distinct, total) n-grams within answers and (distinct, total) of the answers' tokens
    end to end: one sort, since the end-to-end n-grams are the within-answer ones plus the
    few that cross an answer boundary."""
    within = _sorted_unique(batch.ngrams(n)[0])
    crossing = _sorted_unique(batch.crossing(n))
    if len(within) and len(crossing):
        at = np.minimum(np.searchsorted(within, crossing), len(within) - 1)
        new = int(np.count_nonzero(within[at] != crossing))
    else:
        new = len(crossing)
    total = len(batch.tokens)
    within_total = int(np.maximum(batch.lengths - n + 1, 0).sum())
    return len(within), within_total, len(within) + new, max(total - n + 1, 0)


def self_repetition_from_batch(batch: NgramBatch, n: int = 4) -> float:
    """mean_d ln(1 + sum over unique n-grams g of d of (df(g) - 1)).

    One stable sort by gram: n-grams arrive in document order, so equal grams stay in
    document order and repeats within a document are adjacent (half the cost of a two-key
    lexsort, and exact on the full 64-bit hashes)."""
    docs = len(batch.lengths)
    if not docs:
        return 0.0
    hashes, owner = batch.ngrams(n)
    if not len(hashes):
        return 0.0
    order = np.argsort(hashes, kind="stable")
    gram, doc = hashes[order], owner[order]
    keep = np.r_[True, (gram[1:] != gram[:-1]) | (doc[1:] != doc[:-1])]  # unique pairs
    gram, doc = gram[keep], doc[keep]
    run_start = np.r_[True, gram[1:] != gram[:-1]]
    run_id = np.cumsum(run_start) - 1
    df = np.bincount(run_id)[run_id]
    excess = np.bincount(doc, weights=df - 1, minlength=docs)
    return float(np.log1p(excess).mean())


def corpus_signals(texts: list[str], hasher: TokenHasher | None = None,
                   token_lists: list[list[str]] | None = None, *,
                   normalized: bool = False) -> CorpusSignals:
    """Signals of a sample of answer texts (``normalized=True``: they already are, as the
    aggregator's sample is, so they are not normalised again).

    distinct-n and self-repetition use n-grams within each answer; the n-gram diversity score
    uses the answers' tokens concatenated (as the `diversity` package does).
    """
    hasher = hasher or TokenHasher()
    if token_lists is None:  # the aggregator's path: one pass over the sample's bytes
        clean = texts if normalized else [normalize(t) for t in texts]
        per_answer = hasher.batch([word_bytes(t) for t in clean])
    else:
        per_answer = NgramBatch([hasher.hash_tokens(t) for t in token_lists])
    distinct, diversity = {}, 0.0
    for n in (1, 2, 3, 4):
        within, within_total, joined, joined_total = _distinct_counts(per_answer, n)
        distinct[n] = within / within_total if within_total else 0.0
        diversity += joined / joined_total if joined_total else 0.0
    return CorpusSignals(
        distinct=distinct,
        ngram_diversity_score=diversity,
        compression_ratio=compression_ratio(texts, level=STREAMING_GZIP_LEVEL),
        self_repetition_score=self_repetition_from_batch(per_answer),
    )
