"""Stable 64-bit hashes of tokens, n-grams and shingles.

Tokens are hashed with xxh3-64 (stable across processes and machines, unlike ``hash()``);
an n-gram hash is a polynomial combination of its token hashes, computed for a whole batch
in numpy so per-answer work stays out of the Python interpreter.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xxhash

_P = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier (golden ratio); mixes positions
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


def token_hash(token: str) -> int:
    """xxh3-64 of the token's UTF-8 bytes."""
    return xxhash.xxh3_64_intdigest(token.encode("utf-8", "surrogatepass"))


def text_hash(text: str) -> int:
    """xxh3-64 of a (normalised) text; used for exact-duplicate detection and content ids."""
    return xxhash.xxh3_64_intdigest(text.encode("utf-8", "surrogatepass"))


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads polynomial hashes before they feed MinHash."""
    x = x ^ (x >> _S30)
    x = x * _M1
    x = x ^ (x >> _S27)
    x = x * _M2
    return x ^ (x >> _S31)


class TokenHasher:
    """Hashes tokens through a bounded cache (natural text repeats its vocabulary)."""

    def __init__(self, max_cache: int = 200_000) -> None:
        self._cache: dict[str, int] = {}
        self._max = max_cache

    def hash_tokens(self, tokens: Sequence[str] | Sequence[bytes]) -> np.ndarray:
        """xxh3-64 of each token (str tokens hash as their UTF-8 bytes)."""
        cache = self._cache
        try:
            return np.fromiter(map(cache.__getitem__, tokens), dtype=np.uint64, count=len(tokens))
        except KeyError:
            pass
        if len(cache) > self._max:
            cache.clear()
        for tok in tokens:
            if tok not in cache:
                raw = tok if isinstance(tok, bytes) else tok.encode("utf-8", "surrogatepass")
                cache[tok] = xxhash.xxh3_64_intdigest(raw)
        return np.fromiter(map(cache.__getitem__, tokens), dtype=np.uint64, count=len(tokens))


class NgramBatch:
    """Token hashes of many answers laid end to end, with per-answer n-gram views.

    ``ngrams(n)`` returns (hashes, owner) for every n-gram that lies inside one answer:
    n-grams never cross answer boundaries.
    """

    def __init__(self, token_hashes: Sequence[np.ndarray]) -> None:
        lengths = np.fromiter((len(t) for t in token_hashes), dtype=np.int64,
                              count=len(token_hashes))
        self.lengths = lengths
        self.starts = np.concatenate(([0], np.cumsum(lengths)[:-1])) if len(lengths) else lengths
        self.tokens = (np.concatenate(token_hashes) if len(token_hashes)
                       else np.zeros(0, np.uint64)).astype(np.uint64, copy=False)
        self.owner = np.repeat(np.arange(len(lengths)), lengths)
        self._grams: dict[int, np.ndarray] = {1: self.tokens}

    def _raw(self, n: int) -> np.ndarray:
        """Polynomial hash of positions i..i+n-1 for every start i (crossing ones included)."""
        if n not in self._grams:
            prev = self._raw(n - 1)
            with np.errstate(over="ignore"):
                self._grams[n] = prev[:-1] * _P + self.tokens[n - 1:]
        return self._grams[n]

    def ngrams(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(hash, answer index) of every n-gram fully inside an answer."""
        total = len(self.tokens)
        if total < n:
            return np.zeros(0, np.uint64), np.zeros(0, np.int64)
        raw = self._raw(n)
        owner = self.owner[: total - n + 1]
        # valid when the n-gram ends inside the answer it starts in
        valid = self.owner[n - 1:] == owner
        return raw[valid], owner[valid]

    def per_answer(self, n: int) -> list[np.ndarray]:
        """n-gram hashes split per answer (empty arrays for answers shorter than n)."""
        hashes, owner = self.ngrams(n)
        counts = np.bincount(owner, minlength=len(self.lengths))
        return np.split(hashes, np.cumsum(counts)[:-1])


def ngram_hashes(tokens: Sequence[str], n: int, hasher: TokenHasher | None = None) -> np.ndarray:
    """n-gram hashes of one token list (same values as NgramBatch gives)."""
    th = (hasher or TokenHasher()).hash_tokens(tokens)
    return NgramBatch([th]).ngrams(n)[0]


def shingle_set(tokens: Sequence[str], k: int = 5, hasher: TokenHasher | None = None) -> np.ndarray:
    """Sorted unique hashes of the word k-gram shingles of one answer."""
    return np.unique(ngram_hashes(tokens, k, hasher))
