"""Permutation tests for the corpus statistics of two equal-size samples.

Under "no difference" the two samples are exchangeable: pool them, split the pool at random
into two halves of the same size many times, and see how often the difference of a
statistic is as large as the one observed. Each statistic is recomputed for a split from
work done once on the pool (n-gram runs sorted once, entity and context keys indexed once,
embedding rows kept), so a split costs a few passes over arrays, not a new analysis.
The p-value uses the normal approximation of the permutation distribution (its mean and
spread from the splits), which resolves small p-values with a few hundred splits; the
compression ratio is permuted in groups of answers (its unit of computation).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple, cast

import numpy as np

from ..forksafe import cached_property
from ..signals import answer_clusters as A
from ..signals import coverage as C
from ..signals import resampling as R
from ..signals.answer_sample import SampledAnswer, embedding_matrix
from ..signals.registry import SIGNALS
from ..text.hashing import NgramBatch, TokenHasher
from ..text.normalize import word_bytes

_HASHER = TokenHasher()
_EMBEDDING = ("vendi", "cosine", "rank")
# A split of the pool (boolean mask: True = one half) -> the statistic on (that half, the rest).
Statistic = Callable[[np.ndarray], tuple[float, float]]


def normal_p_value(observed: float, null: np.ndarray) -> float | None:
    """Two-sided p of ``observed`` against permutation differences ``null``."""
    null = null[np.isfinite(null)]
    if len(null) < 20:
        return None
    sd, centre = float(null.std(ddof=1)), float(null.mean())
    scale = max(1.0, abs(centre), abs(observed))
    if sd <= 1e-12 * scale:     # every split alike (float noise aside)
        return 1.0 if abs(observed - centre) <= 1e-12 * scale else 0.0
    z = abs(observed - centre) / sd
    return math.erfc(z / math.sqrt(2))


class _Runs:
    """Unique (n-gram, answer) pairs of the pool grouped by n-gram (``run`` per pair)."""

    def __init__(self, hashes: np.ndarray, owner: np.ndarray) -> None:
        order = np.lexsort((owner, hashes))
        gram, doc = hashes[order], owner[order]
        keep = np.r_[True, (gram[1:] != gram[:-1]) | (doc[1:] != doc[:-1])] \
            if len(gram) else np.zeros(0, bool)
        gram, self.doc = gram[keep], doc[keep]
        self.run = np.cumsum(np.r_[True, gram[1:] != gram[:-1]]) - 1 if len(gram) else \
            np.zeros(0, np.int64)
        self.size = np.bincount(self.run) if len(gram) else np.zeros(0, np.int64)

    def in_half(self, half: np.ndarray) -> np.ndarray:
        """Per n-gram: how many answers of ``half`` (a float 0/1 mask) hold it."""
        return np.bincount(self.run, weights=half[self.doc], minlength=len(self.size))


def _distinct(batch: NgramBatch, n: int, joined: bool) -> Statistic | None:
    hashes, owner = batch.ngrams(n)
    if joined:   # crossing n-grams of the pool's order go with the answer they start in
        total = max(len(batch.tokens) - n + 1, 0)
        starts = batch.owner[:total]
        crossing = batch.owner[n - 1:] != starts
        hashes = np.concatenate((hashes, batch.crossing(n)))
        owner = np.concatenate((owner, starts[crossing]))
    if not len(hashes):
        return None
    runs = _Runs(hashes, owner)
    per_answer = np.bincount(owner, minlength=len(batch.lengths)).astype(np.float64)
    all_total = per_answer.sum()

    def stat(half: np.ndarray) -> tuple[float, float]:
        inside = runs.in_half(half)
        total = float(per_answer @ half)
        a = np.count_nonzero(inside) / total if total else math.nan
        rest = all_total - total
        b = np.count_nonzero(runs.size - inside) / rest if rest else math.nan
        return a, b

    return stat


def _self_repetition(batch: NgramBatch) -> Statistic | None:
    hashes, owner = batch.ngrams(4)
    if not len(hashes):
        return None
    runs = _Runs(hashes, owner)
    docs = len(batch.lengths)

    def stat(half: np.ndarray) -> tuple[float, float]:
        inside = runs.in_half(half)
        member = half[runs.doc] > 0
        df = np.where(member, inside[runs.run], (runs.size - inside)[runs.run])
        excess = np.log1p(np.bincount(runs.doc, weights=df - 1, minlength=docs))
        side = half > 0
        return float(excess[side].mean()), float(excess[~side].mean())

    return stat


def _keyed(lists: Sequence[Sequence[int]], fn: Callable[[np.ndarray], float | None],
           ) -> Statistic | None:
    lengths = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    if not lengths.sum():
        return None
    flat = np.fromiter((k for x in lists for k in x), dtype=np.uint64, count=int(lengths.sum()))
    item = np.repeat(np.arange(len(lists)), lengths)
    _, key = np.unique(flat, return_inverse=True)
    keys = int(key.max()) + 1
    everything = np.bincount(key, minlength=keys)

    def value(counts: np.ndarray) -> float:
        v = fn(counts)
        return math.nan if v is None else v

    def stat(half: np.ndarray) -> tuple[float, float]:
        inside = np.bincount(key, weights=half[item], minlength=keys).astype(np.int64)
        return value(inside), value(everything - inside)

    return stat


def _types_unseen(batch: NgramBatch, n: int) -> Statistic | None:
    """Coverage deficit of each half's n-grams."""
    tokens, owner = batch.ngrams(n)
    if not len(tokens):
        return None
    _, key = np.unique(tokens, return_inverse=True)
    keys = int(key.max()) + 1
    everything = np.bincount(key, minlength=keys)

    def stat(half: np.ndarray) -> tuple[float, float]:
        inside = np.bincount(key, weights=half[owner], minlength=keys).astype(np.int64)
        a, b = C.deficit(inside), C.deficit(everything - inside)
        return (math.nan if a is None else a), (math.nan if b is None else b)

    return stat


class Permuted(NamedTuple):
    """A statistic of a half of the pool and of the rest, over ``units`` exchangeable units
    (None: the pool's answers; otherwise the statistic's own groups of answers, the first
    half of them from the baseline)."""

    statistic: Statistic
    units: int | None = None


class Pool:
    """Two equal-size samples pooled, with the work every permuted statistic shares (hashed
    text, keyed lists, embedding rows) done once on first use. Each method is the permuted
    form of one kind of corpus statistic (None: the pool has nothing to compute it on)."""

    def __init__(self, pool_a: Sequence[SampledAnswer], pool_b: Sequence[SampledAnswer],
                 groups: int = R.GROUPS, level: int = 6) -> None:
        self.a, self.b = list(pool_a), list(pool_b)
        self.items = self.a + self.b
        self.groups, self.level = min(groups, len(self.a)), level

    @cached_property
    def batch(self) -> NgramBatch:
        return _HASHER.batch([word_bytes(item.text) for item in self.items])

    def distinct(self, n: int) -> Permuted | None:
        return _permuted(_distinct(self.batch, n, joined=False))

    def repeated_across(self, n: int = 4) -> Permuted | None:
        d = _distinct(self.batch, n, joined=False)
        return None if d is None else \
            Permuted(lambda h: cast("tuple[float, float]", tuple(1.0 - v for v in d(h))))

    def ngram_diversity(self) -> Permuted | None:
        joined = [_distinct(self.batch, n, joined=True) for n in (1, 2, 3, 4)]
        if not all(joined):
            return None
        parts = cast("list[Statistic]", joined)   # all() above: none is None
        return Permuted(lambda h: cast("tuple[float, float]",
                                       tuple(map(sum, zip(*(f(h) for f in parts), strict=True)))))

    def self_repetition(self) -> Permuted | None:
        return _permuted(_self_repetition(self.batch))

    def deficit(self, kind: str) -> Permuted | None:
        """Coverage deficit of each half's types of ``kind`` (words, bigrams, entities, or
        answers clustered as near duplicates on the pool)."""
        if kind in ("words", "bigrams"):
            return _permuted(_types_unseen(self.batch, {"words": 1, "bigrams": 2}[kind]))
        texts = [item.text for item in self.items]
        keyed: dict[str, Callable[[], Sequence[Sequence[int]]]] = {
                 "entities": lambda: [item.entities for item in self.items],
                 "near_answers": lambda: [(label,) for label in
                                          A.near_labels(texts, self.batch).tolist()]}
        return _permuted(_keyed(keyed[kind](), C.deficit))

    def contexts(self, fn: Callable[[np.ndarray], float | None]) -> Permuted | None:
        return _permuted(_keyed([item.contexts for item in self.items], fn))

    @cached_property
    def _embedding(self) -> Callable[[int], Statistic] | None:
        has_row = np.fromiter((bool(i.embedding) for i in self.items), dtype=bool,
                              count=len(self.items))
        X = embedding_matrix(self.items)
        if len(X) != int(has_row.sum()) or len(X) < 4:
            return None
        return _embedding(X, np.flatnonzero(has_row))

    def embedding(self, statistic: str) -> Permuted | None:
        """vendi, cosine or rank of each half's embeddings."""
        pick = self._embedding
        return None if pick is None else Permuted(pick(_EMBEDDING.index(statistic)))

    def compression(self) -> Permuted | None:
        """gzip ratio, permuted in the groups of answers it is computed on."""
        g = self.groups
        raw_a, packed_a = compression_groups([i.text for i in self.a], g, self.level)
        raw_b, packed_b = compression_groups([i.text for i in self.b], g, self.level)
        if not (packed_a.sum() and packed_b.sum()):
            return None
        raw, packed = np.r_[raw_a, raw_b], np.r_[packed_a, packed_b]

        def stat(half: np.ndarray) -> tuple[float, float]:
            pick = half > 0
            return (raw[pick].sum() / packed[pick].sum(),
                    raw[~pick].sum() / packed[~pick].sum())

        return Permuted(stat, 2 * g)


def _permuted(stat: Statistic | None) -> Permuted | None:
    return None if stat is None else Permuted(stat)


def _embedding(X: np.ndarray, rows: np.ndarray) -> Callable[[int], Statistic]:
    """Vendi, mean cosine and effective rank (0, 1, 2) of each half, from S_half = X_h' X_h
    and S - S_half (one product per split, shared by the three)."""
    S, total = X.T @ X, X.sum(axis=0)
    # the last split's key and its per-half (vendi, cosine, rank)
    cache: dict[str, bytes | list[tuple[float, float, float]]] = {}

    def both(half: np.ndarray) -> list[tuple[float, float, float]]:
        key = half.tobytes()
        if cache.get("key") != key:
            side = half[rows] > 0
            Xh = X[side]
            Sh, th, nh = Xh.T @ Xh, Xh.sum(axis=0), len(Xh)
            pair: list[tuple[float, float, float]] = []
            for S_, t_, n_ in ((Sh, th, nh), (S - Sh, total - th, len(X) - nh)):
                pair.append(R.embedding_stats(np.linalg.eigvalsh(S_), t_, n_) if n_ >= 2
                            else (math.nan,) * 3)
            cache.update(key=key, value=pair)
        return cast("list[tuple[float, float, float]]", cache["value"])

    def pick(i: int) -> Statistic:
        return lambda half: (both(half)[0][i], both(half)[1][i])

    return pick


def compression_groups(texts: Sequence[str], groups: int, level: int,
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Raw and compressed bytes of ``texts`` dealt into ``groups`` (text i to i mod groups)."""
    raw, packed = np.zeros(groups), np.zeros(groups)
    for k in range(groups):
        data = " ".join(texts[k::groups]).encode("utf-8", "surrogatepass")
        raw[k] = len(data)
        packed[k] = len(R.gzip_bytes(data, level)) if data else 0
    return raw, packed


def permutation_test(pool_a: Sequence[SampledAnswer], pool_b: Sequence[SampledAnswer],
                     permutations: int, seed: int, level: int = 6,
                     groups: int = R.GROUPS) -> dict[str, float | None]:
    """p-value per registry key for "the two equal-size samples come from one population",
    for every signal the registry tests by permutation."""
    m = len(pool_a)
    if m != len(pool_b) or m < 4:
        return {}
    pool = Pool(pool_a, pool_b, groups, level)
    by_units: dict[int | None, dict[str, Statistic]] = {}
    for s in SIGNALS:
        if s.permuted is not None and (p := s.permuted(pool)) is not None:
            by_units.setdefault(p.units, {})[s.key] = p.statistic
    rng = np.random.default_rng(seed)
    out: dict[str, float | None] = {}
    # the answers' splits first, then each grouping's (one generator, in that order)
    for units in sorted(by_units, key=lambda u: -1 if u is None else u):
        out.update(_permute(by_units[units], units or 2 * m, permutations, rng))
    return out


def _permute(stats: dict[str, Statistic], units: int, permutations: int,
             rng: np.random.Generator) -> dict[str, float | None]:
    """Each statistic's p over ``permutations`` random halvings of ``units`` units (the first
    half of them is the baseline), every statistic on the same halvings."""
    half_units = units // 2
    observed = {}
    for k, f in stats.items():
        a, b = f(np.r_[np.ones(half_units), np.zeros(half_units)])
        observed[k] = b - a
    null = {k: np.empty(permutations) for k in stats}
    for i in range(permutations):
        half = np.zeros(units)
        half[rng.permutation(units)[:half_units]] = 1.0
        for k, f in stats.items():
            a, b = f(half)
            null[k][i] = b - a
    return {k: normal_p_value(observed[k], null[k]) if np.isfinite(observed[k]) else None
            for k in stats}
