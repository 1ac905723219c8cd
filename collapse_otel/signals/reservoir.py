"""Uniform reservoir sample (Vitter's algorithm R) with a counter-based, seedable RNG.

Corpus-level signals (distinct-n, compression, self-repetition) depend on sample size, so every
release is measured on a sample of the same size. The random choice for the i-th item depends
only on (seed, i), so replaying items reproduces the sample exactly and the state serialises
without an RNG object.
"""

from __future__ import annotations

from collections.abc import Iterable

from .codec import Reader, Writer

TAG_RESERVOIR = 10
_MASK = (1 << 64) - 1


def _rand64(seed: int, i: int) -> int:
    """splitmix64 of (seed, i): a stable pseudo-random 64-bit value."""
    z = (seed * 0x9E3779B97F4A7C15 + i + 0x632BE59BD9B4E019) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


class ReservoirSample:
    """A uniform sample of at most ``k`` items from the ``seen`` items offered so far."""

    __slots__ = ("k", "seed", "seen", "items")

    def __init__(self, k: int = 1000, seed: int = 0) -> None:
        if k < 1:
            raise ValueError("k must be >= 1")
        self.k = k
        self.seed = seed
        self.seen = 0
        self.items: list[str] = []

    def update(self, item: str) -> None:
        i = self.seen
        self.seen += 1
        if i < self.k:
            self.items.append(item)
            return
        j = _rand64(self.seed, i) % (i + 1)
        if j < self.k:
            self.items[j] = item

    def update_many(self, items: Iterable[str]) -> None:
        for item in items:
            self.update(item)

    def merge(self, other: ReservoirSample) -> ReservoirSample:
        """Merge in place. Exact (== observing A then B) while B still holds every item it saw;
        otherwise a uniform sample of the union (each slot drawn in proportion to the counts)."""
        if other.seen <= other.k:
            self.update_many(other.items)
            return self
        total = self.seen + other.seen
        mine, theirs = list(self.items), list(other.items)
        out: list[str] = []
        left_a, left_b = self.seen, other.seen
        step = 0
        while len(out) < self.k and (mine or theirs):
            pick_a = mine and (not theirs or _rand64(self.seed ^ total, step) % (left_a + left_b) < left_a)
            src = mine if pick_a else theirs
            j = _rand64(self.seed + 1, step) % len(src)
            src[j], src[-1] = src[-1], src[j]
            out.append(src.pop())
            if pick_a:
                left_a -= 1
            else:
                left_b -= 1
            step += 1
        self.items = out
        self.seen = total
        return self

    def copy(self) -> ReservoirSample:
        out = ReservoirSample(self.k, self.seed)
        out.seen = self.seen
        out.items = list(self.items)
        return out

    def get(self) -> list[str]:
        return list(self.items)

    def to_bytes(self) -> bytes:
        w = Writer(TAG_RESERVOIR, 1).u64(self.k).u64(self.seed).u64(self.seen).u64(len(self.items))
        for item in self.items:
            w.text(item)
        return w.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ReservoirSample:
        r = Reader(data, TAG_RESERVOIR)
        out = cls(max(r.u64(), 1), r.u64())
        out.seen = r.u64()
        n = r.u64()
        if n > out.k or n > out.seen:
            raise ValueError("reservoir holds more items than it can")
        out.items = [r.text() for _ in range(n)]
        r.done()
        return out
