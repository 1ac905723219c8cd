"""Embedding dispersion: a default offline embedder and the streaming sketch S = sum x x^T.

Vendi score, mean pairwise cosine similarity and effective rank of unit-norm embeddings are all
functions of S (d x d) and of the vector sum, so the window needs no per-answer vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ..text.hashing import NgramBatch, TokenHasher
from ..text.normalize import tokenize
from .batch import effective_rank_from_singular_values, vendi_from_eigenvalues
from .codec import Reader, Writer

TAG_EMBEDDING = 20


@runtime_checkable
class Embedder(Protocol):
    """Anything that maps answer texts to one row vector each (rows need not be unit-norm)."""

    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class HashedFeatureEmbedder:
    """Signed feature hashing of word unigrams and bigrams (Weinberger et al. 2009).

    Deterministic, offline and cheap; it sees lexical narrowing, not paraphrase. Plug in a
    sentence-embedding model through the ``Embedder`` protocol for semantic dispersion.
    """

    def __init__(self, dim: int = 128, hasher: TokenHasher | None = None) -> None:
        if dim < 2:
            raise ValueError("dim must be >= 2")
        self.dim = dim
        self._hasher = hasher or TokenHasher()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        batch = NgramBatch([self._hasher.hash_tokens(tokenize(t)) for t in texts])
        return self.embed_batch(batch)

    def embed_batch(self, batch: NgramBatch) -> np.ndarray:
        """Rows for the answers of an NgramBatch (the aggregator's fast path)."""
        rows = len(batch.lengths)
        out = np.zeros(rows * self.dim, dtype=np.float64)
        for n in (1, 2):
            hashes, owner = batch.ngrams(n)
            if not len(hashes):
                continue
            slot = (hashes >> np.uint64(1)) % np.uint64(self.dim)
            sign = 1.0 - 2.0 * (hashes & np.uint64(1)).astype(np.float64)
            out += np.bincount(owner * self.dim + slot.astype(np.int64), weights=sign,
                               minlength=rows * self.dim)
        return out.reshape(rows, self.dim)


class EmbeddingSketch:
    """Second-moment sketch of unit-normalised embeddings: n, sum x, S = sum x x^T."""

    __slots__ = ("dim", "n", "sum", "S")

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.n = 0
        self.sum = np.zeros(dim)
        self.S = np.zeros((dim, dim))

    def update(self, X: np.ndarray) -> int:
        """Add rows (normalised here; zero rows are skipped). Returns rows added."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise ValueError(f"expected rows of dimension {self.dim}")
        norms = np.linalg.norm(X, axis=1)
        keep = np.isfinite(norms) & (norms > 0)
        if not keep.any():
            return 0
        U = X[keep] / norms[keep, None]
        self.n += len(U)
        self.sum += U.sum(axis=0)
        self.S += U.T @ U
        return len(U)

    def merge(self, other: EmbeddingSketch) -> EmbeddingSketch:
        if other.dim != self.dim:
            raise ValueError("cannot merge sketches of different dimension")
        self.n += other.n
        self.sum += other.sum
        self.S += other.S
        return self

    def copy(self) -> EmbeddingSketch:
        out = EmbeddingSketch(self.dim)
        out.n, out.sum, out.S = self.n, self.sum.copy(), self.S.copy()
        return out

    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues of K/n (they equal those of S/n, K being the n x n cosine kernel)."""
        result: np.ndarray = np.clip(np.linalg.eigvalsh(self.S / self.n), 0.0, None)
        return result

    def vendi_score(self, q: float = 1.0) -> float | None:
        return vendi_from_eigenvalues(self.eigenvalues(), q) if self.n else None

    def mean_cosine_similarity(self) -> float | None:
        if self.n < 2:
            return None
        return float((self.sum @ self.sum - self.n) / (self.n * (self.n - 1)))

    def effective_rank(self) -> float | None:
        # singular values of X are the square roots of the eigenvalues of X^T X = S
        return effective_rank_from_singular_values(np.sqrt(self.eigenvalues() * self.n)) \
            if self.n else None

    def get(self) -> tuple[float | None, float | None, float | None]:
        """(Vendi q=1, mean pairwise cosine similarity, effective rank)."""
        if not self.n:
            return None, None, None
        lam = self.eigenvalues()
        return (vendi_from_eigenvalues(lam, 1.0), self.mean_cosine_similarity(),
                effective_rank_from_singular_values(np.sqrt(lam * self.n)))

    def to_bytes(self) -> bytes:
        return (Writer(TAG_EMBEDDING, 1).u64(self.dim).u64(self.n).array(self.sum, "<f8")
                .array(self.S, "<f8").getvalue())

    @classmethod
    def from_bytes(cls, data: bytes) -> EmbeddingSketch:
        r = Reader(data, TAG_EMBEDDING)
        dim = r.u64()
        if not 1 <= dim <= 65536:
            raise ValueError("bad embedding dimension")
        out = cls(dim)
        out.n = r.u64()
        out.sum, out.S = r.array("<f8"), r.array("<f8")
        if out.sum.shape != (dim,) or out.S.shape != (dim, dim):
            raise ValueError("embedding sketch shapes do not match its dimension")
        r.done()
        return out
