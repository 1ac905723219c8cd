"""Small mergeable accumulators: means, moments and frequency tables (entity signals are
computed on the reservoir sample, whose items carry their hashed entities).

Each has ``update``, ``merge`` (in place; merge(A, B) equals observing A's then B's items),
``get`` and ``to_bytes`` / ``from_bytes``.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Iterable

import numpy as np

from .batch import entropy_bits
from .codec import Reader, Writer

TAG_MEAN, TAG_MOMENTS, TAG_FREQ = 1, 2, 3


def agresti_coull_se(count: int, n: int) -> float:
    """Agresti-Coull standard error: p~ = (x + 2) / (n + 4), sqrt(p~(1 - p~) / (n + 4)).
    Unlike sqrt(p(1-p)/n) it is not 0 when no answer (or every answer) is a duplicate, so a
    release with no duplicates still has an interval to compare against."""
    p = (count + 2) / (n + 4)
    return math.sqrt(p * (1 - p) / (n + 4))


class MeanAccumulator:
    """Mean of per-answer values (e.g. seq-rep-4 over a window)."""

    __slots__ = ("count", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0

    def update(self, value: float) -> None:
        self.count += 1
        self.total += value

    def update_many(self, values: list[float]) -> None:
        """Same as ``update`` per value, in order (so the float sum is identical)."""
        total = self.total
        for v in values:
            total += v
        self.total = total
        self.count += len(values)

    def merge(self, other: MeanAccumulator) -> MeanAccumulator:
        self.count += other.count
        self.total += other.total
        return self

    def get(self) -> float | None:
        return self.total / self.count if self.count else None

    def to_bytes(self) -> bytes:
        return Writer(TAG_MEAN, 1).u64(self.count).f64(self.total).getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> MeanAccumulator:
        r = Reader(data, TAG_MEAN)
        out = cls()
        out.count, out.total = r.u64(), r.f64()
        r.done()
        return out


class MomentStats:
    """Count and sums of the first four powers of per-answer values: the mean with its
    standard error, and the coefficient of variation with its delta-method standard error
    (which needs the third and fourth central moments)."""

    __slots__ = ("count", "total", "total_sq", "total_3", "total_4")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.total_sq = 0.0
        self.total_3 = 0.0
        self.total_4 = 0.0

    def update(self, value: float) -> None:
        self.update_many([value])

    def update_many(self, values: list[float]) -> None:
        """Same as ``update`` per value, in order (so the float sums are identical)."""
        t1, t2, t3, t4 = self.total, self.total_sq, self.total_3, self.total_4
        for v in values:
            v2 = v * v
            t1 += v
            t2 += v2
            t3 += v2 * v
            t4 += v2 * v2
        self.total, self.total_sq, self.total_3, self.total_4 = t1, t2, t3, t4
        self.count += len(values)

    def merge(self, other: MomentStats) -> MomentStats:
        self.count += other.count
        self.total += other.total
        self.total_sq += other.total_sq
        self.total_3 += other.total_3
        self.total_4 += other.total_4
        return self

    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def _central(self) -> tuple[float, float, float, float]:
        """(mean, m2, m3, m4): population central moments."""
        n = self.count
        mu = self.total / n
        e2, e3, e4 = self.total_sq / n, self.total_3 / n, self.total_4 / n
        m2 = max(e2 - mu * mu, 0.0)
        m3 = e3 - 3 * mu * e2 + 2 * mu ** 3
        m4 = max(e4 - 4 * mu * e3 + 6 * mu * mu * e2 - 3 * mu ** 4, 0.0)
        return mu, m2, m3, m4

    def mean_se(self) -> float | None:
        """Standard error of the mean (sample standard deviation / sqrt(n))."""
        n = self.count
        if n < 2:
            return None
        var = max(self.total_sq - self.total * self.total / n, 0.0) / (n - 1)
        return math.sqrt(var / n)

    def get(self) -> float | None:
        """Coefficient of variation (population std / mean); None without data."""
        if not self.count:
            return None
        mu, m2, _, _ = self._central()
        return math.sqrt(m2) / mu if mu > 0 else 0.0

    def cv_se(self) -> float | None:
        """Delta-method standard error of the coefficient of variation:
        Var = (m2^2/mu^4 - m3/mu^3 + (m4 - m2^2) / (4 m2 mu^2)) / n."""
        n = self.count
        if n < 2 or not math.isfinite(self.total_4):
            return None
        mu, m2, m3, m4 = self._central()
        if mu <= 0 or m2 <= 0:
            return None
        var = (m2 * m2 / mu ** 4 - m3 / mu ** 3 + (m4 - m2 * m2) / (4 * m2 * mu * mu)) / n
        return math.sqrt(max(var, 0.0))

    def to_bytes(self) -> bytes:
        return (Writer(TAG_MOMENTS, 2).u64(self.count).f64(self.total).f64(self.total_sq)
                .f64(self.total_3).f64(self.total_4).getvalue())

    @classmethod
    def from_bytes(cls, data: bytes) -> MomentStats:
        """Version 1 (no third and fourth powers) restores with them unknown (NaN): the
        coefficient of variation then has no standard error until its window slides."""
        r = Reader(data, TAG_MOMENTS, versions=(1, 2))
        out = cls()
        out.count, out.total, out.total_sq = r.u64(), r.f64(), r.f64()
        if r.version >= 2:
            out.total_3, out.total_4 = r.f64(), r.f64()
        else:
            out.total_3 = out.total_4 = float("nan")
        r.done()
        return out


class FrequencyTable:
    """Counts of hashed keys (retrieved context ids): distinct ratio and top-k share."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts: Counter[int] = Counter()
        self.total = 0

    def update(self, keys: Iterable[int]) -> None:
        keys = list(keys)
        self.counts.update(keys)  # counted in C
        self.total += len(keys)

    def merge(self, other: FrequencyTable) -> FrequencyTable:
        counts = self.counts
        for k, c in other.counts.items():
            counts[k] = counts.get(k, 0) + c
        self.total += other.total
        return self

    def distinct_ratio(self) -> float | None:
        return len(self.counts) / self.total if self.total else None

    def top_share(self, k: int = 10) -> float | None:
        if not self.total:
            return None
        return sum(heapq.nlargest(k, self.counts.values())) / self.total

    def entropy_bits(self) -> float | None:
        if not self.total:
            return None
        return entropy_bits(np.fromiter(self.counts.values(), dtype=np.int64,
                                        count=len(self.counts)))

    def get(self) -> tuple[float | None, float | None]:
        return self.distinct_ratio(), self.top_share()

    def to_bytes(self) -> bytes:
        return Writer(TAG_FREQ, 1).u64(self.total).int_counts(self.counts).getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> FrequencyTable:
        r = Reader(data, TAG_FREQ)
        out = cls()
        out.total = r.u64()
        out.counts = Counter(r.int_counts())
        r.done()
        return out
