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
    """Count, sum and sum of squares: mean and coefficient of variation of token counts."""

    __slots__ = ("count", "total", "total_sq")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.total_sq = 0.0

    def update(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.total_sq += value * value

    def update_many(self, values: list[float]) -> None:
        """Same as ``update`` per value, in order (so the float sums are identical)."""
        total, total_sq = self.total, self.total_sq
        for v in values:
            total += v
            total_sq += v * v
        self.total, self.total_sq = total, total_sq
        self.count += len(values)

    def merge(self, other: MomentStats) -> MomentStats:
        self.count += other.count
        self.total += other.total
        self.total_sq += other.total_sq
        return self

    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def get(self) -> float | None:
        """Coefficient of variation (population std / mean); None without data."""
        if not self.count:
            return None
        mean = self.total / self.count
        if mean <= 0:
            return 0.0
        var = max(self.total_sq / self.count - mean * mean, 0.0)
        return math.sqrt(var) / mean

    def to_bytes(self) -> bytes:
        return (Writer(TAG_MOMENTS, 1).u64(self.count).f64(self.total).f64(self.total_sq)
                .getvalue())

    @classmethod
    def from_bytes(cls, data: bytes) -> MomentStats:
        r = Reader(data, TAG_MOMENTS)
        out = cls()
        out.count, out.total, out.total_sq = r.u64(), r.f64(), r.f64()
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
