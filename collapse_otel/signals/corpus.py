"""Corpus-level signals of a sample of answers, computed on hashed n-grams in numpy.

Same definitions as signals.batch (the oracles), without building Python tuples per n-gram.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..text.hashing import NgramBatch, TokenHasher
from ..text.normalize import tokenize
from .batch import compression_ratio


@dataclass(frozen=True)
class CorpusSignals:
    distinct: dict[int, float] = field(default_factory=dict)   # n -> distinct-n
    ngram_diversity_score: float = 0.0
    compression_ratio: float = 0.0
    self_repetition_score: float = 0.0

    @property
    def repeated_ngram_across_answers(self) -> float:
        return 1.0 - self.distinct.get(4, 0.0)


def _distinct(hashes: np.ndarray) -> float:
    return len(np.unique(hashes)) / len(hashes) if len(hashes) else 0.0


def self_repetition_from_batch(batch: NgramBatch, n: int = 4) -> float:
    """mean_d ln(1 + sum over unique n-grams g of d of (df(g) - 1))."""
    docs = len(batch.lengths)
    if not docs:
        return 0.0
    hashes, owner = batch.ngrams(n)
    if not len(hashes):
        return 0.0
    pairs = np.unique(np.stack([owner.astype(np.uint64), hashes]), axis=1)  # unique (doc, gram)
    _, inverse, df = np.unique(pairs[1], return_inverse=True, return_counts=True)
    excess = np.bincount(pairs[0].astype(np.int64), weights=(df[inverse] - 1), minlength=docs)
    return float(np.log1p(excess).mean())


def corpus_signals(texts: list[str], hasher: TokenHasher | None = None,
                   token_lists: list[list[str]] | None = None) -> CorpusSignals:
    """Signals of a sample of (normalised) answer texts.

    distinct-n and self-repetition use n-grams within each answer; the n-gram diversity score
    uses the answers' tokens concatenated (as the `diversity` package does).
    """
    hasher = hasher or TokenHasher()
    if token_lists is None:
        token_lists = [tokenize(t) for t in texts]
    per_answer = NgramBatch([hasher.hash_tokens(t) for t in token_lists])
    distinct = {n: _distinct(per_answer.ngrams(n)[0]) for n in (1, 2, 3, 4)}
    joined = NgramBatch([per_answer.tokens])
    diversity = sum(_distinct(joined.ngrams(n)[0]) for n in (1, 2, 3, 4))
    return CorpusSignals(
        distinct=distinct,
        ngram_diversity_score=diversity,
        compression_ratio=compression_ratio(texts),
        self_repetition_score=self_repetition_from_batch(per_answer),
    )


def is_finite(x: float) -> bool:
    return x is not None and math.isfinite(x)
