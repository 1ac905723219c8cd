"""Stable 64-bit hashes of tokens, n-grams and shingles.

Every hash here is a pure function of bytes, identical across processes and machines (never
Python's salted ``hash()``). A token's hash reads its UTF-8 bytes as little-endian 8-byte words,
multiplies word k by an odd constant K_k, sums mod 2^64, mixes in the length and passes the result
through the splitmix64 finaliser. It is computed for every token of a whole batch in a few numpy
operations per token (not per byte): hand-written instead of per-token xxh3 calls because the
benchmark showed the per-token Python work was the largest cost (see ``make bench``). Texts
(exact duplicates, content ids) are hashed with xxh3-64. An n-gram hash is a polynomial
combination of its token hashes, also computed per batch in numpy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xxhash

HASH_VERSION = 2  # bumped when token hashes change: stored shingles of another version
#                   compare with nothing (collapse_otel.engine.state_compat)
_P = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier (golden ratio); mixes positions
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


_LEN_SALT = np.uint64(0xD6E8FEB86659FD93)
WORD_K = np.random.default_rng(0x70CE).integers(1, 2**63, size=64, dtype=np.uint64) \
    * np.uint64(2) + np.uint64(1)  # odd multipliers of a token's first 64 8-byte words
_TAIL_MASK = np.array([(1 << (8 * i)) - 1 for i in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
_WORD_BYTES = np.zeros(256, dtype=bool)
for _c in b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_":
    _WORD_BYTES[_c] = True
_WORD_BYTES[0x80:] = True  # UTF-8 bytes of non-ASCII letters (only word tokens reach here)
del _c


def word_spans(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, length) of every maximal run of word bytes ([A-Za-z0-9_] or >= 0x80).

    On ASCII text this is exactly ``re.findall(rb"\\w+")``; non-ASCII text is first reduced to
    its ``\\w+`` tokens joined by spaces (see analysis), so runs are tokens there too.
    """
    is_word = np.zeros(len(buf) + 2, dtype=bool)  # a non-word byte on either side
    is_word[1:-1] = _WORD_BYTES[buf]
    edges = np.flatnonzero(is_word[1:] != is_word[:-1])  # run starts and ends alternate
    starts = edges[0::2]
    return starts, edges[1::2] - starts


def text_hash(text: str) -> int:
    """xxh3-64 of a (normalised) text; used for exact-duplicate detection and content ids."""
    return xxhash.xxh3_64_intdigest(text.encode("utf-8", "surrogatepass"))


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads polynomial hashes before they feed MinHash."""
    x = x ^ (x >> _S30)
    x = x * _M1
    x = x ^ (x >> _S27)
    x = x * _M2
    result: np.ndarray = x ^ (x >> _S31)
    return result


def _word_multiplier(k: int) -> np.uint64:
    """Odd multiplier of a token's k-th 8-byte word: a table for the first 64, then derived
    from k, so no two word positions of a long token share one."""
    if k < len(WORD_K):
        multiplier: np.uint64 = WORD_K[k]
        return multiplier
    result: np.uint64 = mix64(np.array([k], dtype=np.uint64) ^ _LEN_SALT)[0] | np.uint64(1)
    return result


class TokenHasher:
    """Token hashes computed in numpy, a few operations per token whatever its length."""

    def hash_spans(self, buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Hash of each byte span ``buf[start:start + length]``:
        mix64(sum_k K_k * word_k ^ length * salt), word_k = bytes 8k..8k+7, zero padded."""
        padded = np.zeros(len(buf) + 8, dtype=np.uint8)
        padded[: len(buf)] = buf
        # the 8 bytes starting at every offset, as one little-endian integer (overlapping view)
        words = np.ndarray((len(buf) + 1,), dtype="<u8", buffer=padded, strides=(1,))
        lengths = lengths.astype(np.int64, copy=False)
        with np.errstate(over="ignore"):
            acc = (words[starts] & _TAIL_MASK[np.minimum(lengths, 8)]) * WORD_K[0]
            longer = np.flatnonzero(lengths > 8)
            k = 1
            while len(longer):  # the rare tokens over 8 bytes, one more word per round
                left = lengths[longer] - 8 * k
                chunk = words[starts[longer] + 8 * k] & _TAIL_MASK[np.minimum(left, 8)]
                acc[longer] += chunk * _word_multiplier(k)
                longer = longer[left > 8]
                k += 1
            return mix64(acc ^ (lengths.astype(np.uint64) * _LEN_SALT))

    def hash_tokens(self, tokens: Sequence[str] | Sequence[bytes]) -> np.ndarray:
        """Hash of each token (str tokens hash as their UTF-8 bytes)."""
        raw = [t if isinstance(t, bytes) else t.encode("utf-8", "surrogatepass") for t in tokens]
        lengths = np.fromiter(map(len, raw), dtype=np.int64, count=len(raw))
        buf = np.frombuffer(b"".join(raw), dtype=np.uint8)
        return self.hash_spans(buf, np.cumsum(lengths) - lengths, lengths)

    def hash_words(self, buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(hash, start offset) of every word-byte run of ``buf`` (see ``word_spans``)."""
        starts, lengths = word_spans(buf)
        return self.hash_spans(buf, starts, lengths), starts

    def batch(self, pieces: Sequence[bytes]) -> NgramBatch:
        """Token hashes of many answers in one pass over their bytes (``word_bytes`` output)."""
        buf = np.frombuffer(b" ".join(pieces), dtype=np.uint8)
        hashes, starts = self.hash_words(buf)
        ends = np.cumsum(np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces)) + 1)
        owner = np.searchsorted(ends, starts, side="right")
        return NgramBatch.from_flat(hashes, np.bincount(owner, minlength=len(pieces)))


def token_hash(token: str | bytes) -> int:
    """The stable 64-bit hash of one token."""
    tokens: list[str] | list[bytes] = [token] if isinstance(token, str) else [token]
    return int(TokenHasher().hash_tokens(tokens)[0])


class NgramBatch:
    """Token hashes of many answers laid end to end, with per-answer n-gram views.

    ``ngrams(n)`` returns (hashes, owner) for every n-gram that lies inside one answer:
    n-grams never cross answer boundaries.
    """

    def __init__(self, token_hashes: Sequence[np.ndarray]) -> None:
        lengths = np.fromiter((len(t) for t in token_hashes), dtype=np.int64,
                              count=len(token_hashes))
        tokens = (np.concatenate(token_hashes) if len(token_hashes)
                  else np.zeros(0, np.uint64)).astype(np.uint64, copy=False)
        self._init(tokens, lengths)

    @classmethod
    def from_flat(cls, tokens: np.ndarray, lengths: np.ndarray) -> NgramBatch:
        """From all token hashes end to end and the number of tokens of each answer."""
        batch = cls.__new__(cls)
        batch._init(tokens.astype(np.uint64, copy=False), lengths.astype(np.int64, copy=False))
        return batch

    def _init(self, tokens: np.ndarray, lengths: np.ndarray) -> None:
        self.lengths = lengths
        self.tokens = tokens
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

    def crossing(self, n: int) -> np.ndarray:
        """Hashes of the n-grams of the tokens end to end that span two or more answers."""
        total = len(self.tokens)
        if total < n:
            return np.zeros(0, np.uint64)
        result: np.ndarray = self._raw(n)[self.owner[n - 1:] != self.owner[: total - n + 1]]
        return result

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
