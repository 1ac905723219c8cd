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


def _count_distinct(hashes: np.ndarray) -> int:
    """Distinct values by sorting (faster than np.unique's hash table on 64-bit keys)."""
    if not len(hashes):
        return 0
    s = np.sort(hashes)
    return 1 + int(np.count_nonzero(s[1:] != s[:-1]))


def _distinct(hashes: np.ndarray) -> float:
    return _count_distinct(hashes) / len(hashes) if len(hashes) else 0.0


def self_repetition_from_batch(batch: NgramBatch, n: int = 4) -> float:
    """mean_d ln(1 + sum over unique n-grams g of d of (df(g) - 1))."""
    docs = len(batch.lengths)
    if not docs:
        return 0.0
    hashes, owner = batch.ngrams(n)
    if not len(hashes):
        return 0.0
    # unique (doc, gram) pairs: lexsort, then drop repeats within a document
    order = np.lexsort((hashes, owner))
    h, o = hashes[order], owner[order]
    keep = np.r_[True, (h[1:] != h[:-1]) | (o[1:] != o[:-1])]
    h, o = h[keep], o[keep]
    # document frequency of each pair's gram
    by_gram = np.argsort(h, kind="stable")
    sg = h[by_gram]
    run_start = np.r_[True, sg[1:] != sg[:-1]]
    run_id = np.cumsum(run_start) - 1
    df = np.bincount(run_id)[run_id]
    excess = np.bincount(o[by_gram], weights=df - 1, minlength=docs)
    return float(np.log1p(excess).mean())


def corpus_signals(texts: list[str], hasher: TokenHasher | None = None,
                   token_lists: list[list[str]] | None = None) -> CorpusSignals:
    """Signals of a sample of (normalised) answer texts.

    distinct-n and self-repetition use n-grams within each answer; the n-gram diversity score
    uses the answers' tokens concatenated (as the `diversity` package does).
    """
    hasher = hasher or TokenHasher()
    if token_lists is None:  # the aggregator's path: one pass over the sample's bytes
        per_answer = hasher.batch([word_bytes(normalize(t)) for t in texts])
    else:
        per_answer = NgramBatch([hasher.hash_tokens(t) for t in token_lists])
    distinct = {n: _distinct(per_answer.ngrams(n)[0]) for n in (1, 2, 3, 4)}
    joined = NgramBatch([per_answer.tokens])
    diversity = sum(_distinct(joined.ngrams(n)[0]) for n in (1, 2, 3, 4))
    return CorpusSignals(
        distinct=distinct,
        ngram_diversity_score=diversity,
        compression_ratio=compression_ratio(texts, level=STREAMING_GZIP_LEVEL),
        self_repetition_score=self_repetition_from_batch(per_answer),
    )
