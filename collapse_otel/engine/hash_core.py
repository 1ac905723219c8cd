"""The hash arithmetic of a batch of answers, in compiled C or in numpy, with equal values.

Token hashes, seq-rep counts, shingle sets, MinHash band keys and hashed-feature embedding rows
are pure functions of an answer's bytes. The compiled core (``collapse_otel._ccore``, built
from csrc/ccore.c at install) computes them with the interpreter lock released, so a host's
request threads run while the analysis thread works; the numpy code here is the fallback when
the extension was not built and the oracle the tests hold it to, bit for bit (results are
compared across processes). ``COLLAPSE_OTEL_PURE_PYTHON=1`` forces the numpy path (see
extension.py; the same extension runs the near-duplicate query of signals.duplicates).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from ..extension import PURE_ENV as PURE_ENV
from ..extension import compiled_core
from ..signals.minhash import MinHasher
from ..text.hashing import WORD_K, NgramBatch, TokenHasher

MAX_BATCH = 1 << 16


@dataclass(slots=True)
class BatchHashes:
    """Per-answer hash results of one batch; arrays run over the answers in order."""

    batch: NgramBatch          # token hashes end to end, per-answer lengths
    seq_total: np.ndarray      # int64: seq_n-grams per answer
    seq_unique: np.ndarray     # int64: distinct ones (48-bit prefixes)
    shingles: np.ndarray       # uint32: each answer's sorted distinct 32-bit shingles, end to end
    shingle_counts: np.ndarray  # int64: shingles per answer
    band_keys: np.ndarray      # uint64 (answers x bands); rows without shingles are meaningless
    embedding: np.ndarray | None  # float64 (answers x dim) when dim > 0


def batch_hashes(pieces: Sequence[bytes], minhasher: MinHasher, *, seq_n: int, shingle_n: int,
                 dim: int = 0, hasher: TokenHasher | None = None) -> BatchHashes:
    """Hashes of ``pieces`` (``word_bytes`` output, one per answer): compiled when available."""
    core = compiled_core()
    if core is None or (hasher is not None and type(hasher) is not TokenHasher):
        return numpy_batch_hashes(pieces, minhasher, seq_n=seq_n, shingle_n=shingle_n, dim=dim,
                                  hasher=hasher)
    return compiled_batch_hashes(core, pieces, minhasher, seq_n=seq_n, shingle_n=shingle_n,
                                 dim=dim)


def compiled_batch_hashes(core: ModuleType, pieces: Sequence[bytes], minhasher: MinHasher, *,
                          seq_n: int, shingle_n: int, dim: int = 0) -> BatchHashes:
    """The compiled path: one call, the lock released inside; the arrays own their memory."""
    if len(pieces) > MAX_BATCH:
        raise ValueError(f"batches are limited to {MAX_BATCH} answers")
    tokens, lengths, total, unique, sh, counts, keys, rows = core.batch(
        pieces, WORD_K, minhasher._a, minhasher._band_salt, minhasher.bands, minhasher.rows,
        seq_n, shingle_n, dim)
    answers = len(pieces)
    return BatchHashes(
        NgramBatch.from_flat(np.frombuffer(tokens, np.uint64), np.frombuffer(lengths, np.int64)),
        np.frombuffer(total, np.int64), np.frombuffer(unique, np.int64),
        np.frombuffer(sh, np.uint32), np.frombuffer(counts, np.int64),
        np.frombuffer(keys, np.uint64).reshape(answers, minhasher.bands),
        np.frombuffer(rows, np.float64).reshape(answers, dim) if dim else None)


def numpy_batch_hashes(pieces: Sequence[bytes], minhasher: MinHasher, *, seq_n: int,
                       shingle_n: int, dim: int = 0,
                       hasher: TokenHasher | None = None) -> BatchHashes:
    """The numpy path: the fallback, and the definition the compiled path must equal."""
    from ..signals.embedding import HashedFeatureEmbedder

    batch = (hasher or TokenHasher()).batch(pieces)
    count = len(pieces)
    grams, owner = batch.ngrams(seq_n)
    total = np.bincount(owner, minlength=count)
    unique = np.bincount(unique_pairs(grams, owner)[1], minlength=count)
    sh, sh_owner = unique_pairs(*batch.ngrams(shingle_n), bits=32)
    sh = sh.astype(np.uint32)
    keys = minhasher.band_keys(minhasher.signatures(sh, sh_owner, count))
    rows = HashedFeatureEmbedder(dim).embed_batch(batch) if dim else None
    return BatchHashes(batch, total.astype(np.int64), unique.astype(np.int64), sh,
                       np.bincount(sh_owner, minlength=count).astype(np.int64), keys, rows)


def unique_pairs(hashes: np.ndarray, owner: np.ndarray,
                 bits: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Unique (owner, hash) pairs sorted by owner then hash, hashes cut to ``bits`` bits.

    Packing the owner into the high bits makes this one sort of one array (3x faster than
    a two-key lexsort). Within one answer of 100 n-grams, 48-bit hashes collide with
    probability ~2e-11 and 32-bit ones (the stored shingles, half the memory) ~1e-6.
    """
    if not len(hashes):
        return hashes, owner
    if owner[-1] >= MAX_BATCH:
        raise ValueError(f"batches are limited to {MAX_BATCH} answers")
    low = np.uint64(bits)
    keys = (hashes >> np.uint64(64 - bits)) | (owner.astype(np.uint64) << low)
    keys.sort(kind="stable")  # the keys arrive in runs of one owner: stable is ~2x faster
    keys = keys[np.r_[True, keys[1:] != keys[:-1]]]
    return keys & np.uint64((1 << bits) - 1), (keys >> low).astype(np.int64)
