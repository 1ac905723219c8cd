"""Uniform reservoir sample (Vitter's algorithm R) with a counter-based, seedable RNG.

Corpus-level signals (distinct-n, compression, self-repetition) depend on sample size, so every
release is measured on a sample of the same size. The random choice for the i-th item depends
only on (seed, i), so replaying items reproduces the sample exactly and the state serialises
without an RNG object.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

import numpy as np

from .codec import Reader, Writer

TAG_RESERVOIR = 10
_MASK = (1 << 64) - 1
ITEM_BYTES = 64       # per sampled item beyond its str: list slots, its tag tuple (CPython)
TAG_VALUE_BYTES = 40  # per hashed entity: a 64-bit int object and its tuple slot


_C0, _C1 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0x632BE59BD9B4E019)
_C2, _C3 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _draw_array(seed: int, first: int, count: int) -> np.ndarray:
    """``_rand64(seed, i) % (i + 1)`` for i in first..first+count-1, in a few numpy passes
    (the same integers: uint64 arithmetic wraps exactly like the masked Python form)."""
    i = np.arange(first, first + count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(seed & _MASK) * _C0 + i + _C1
        z = (z ^ (z >> np.uint64(30))) * _C2
        z = (z ^ (z >> np.uint64(27))) * _C3
        z = z ^ (z >> np.uint64(31))
    return z % (i + np.uint64(1))


def _rand64(seed: int, i: int) -> int:
    """splitmix64 of (seed, i): a stable pseudo-random 64-bit value."""
    z = (seed * 0x9E3779B97F4A7C15 + i + 0x632BE59BD9B4E019) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


class ReservoirSample:
    """A uniform sample of at most ``k`` items from the ``seen`` items offered so far.

    Each item may carry a tag (a tuple of ints, e.g. the hashed entities of a sampled answer),
    so signals that depend on sample size are all computed on the same fixed-size sample.
    """

    __slots__ = ("k", "seed", "seen", "items", "tags", "item_bytes", "tag_values")

    def __init__(self, k: int = 1000, seed: int = 0) -> None:
        if k < 1:
            raise ValueError("k must be >= 1")
        self.k = k
        self.seed = seed
        self.seen = 0
        self.items: list[str] = []
        self.tags: list[tuple[int, ...]] = []
        self.item_bytes = 0   # sizes of the items held, and values of their tags: kept as
        self.tag_values = 0   # they change, so the sample's memory is known in O(1)

    def nbytes(self) -> int:
        """Approximate memory held by the items and tags (CPython object sizes)."""
        return self.item_bytes + len(self.items) * ITEM_BYTES + \
            self.tag_values * TAG_VALUE_BYTES

    def _put(self, slot: int, item: str, tag: tuple[int, ...]) -> None:
        old_item, old_tag = self.items[slot], self.tags[slot]
        self.item_bytes += sys.getsizeof(item) - sys.getsizeof(old_item)
        self.tag_values += len(tag) - len(old_tag)
        self.items[slot] = item
        self.tags[slot] = tag

    def update(self, item: str, tag: tuple[int, ...] = ()) -> None:
        i = self.seen
        self.seen += 1
        if i < self.k:
            self.items.append(item)
            self.tags.append(tag)
            self.item_bytes += sys.getsizeof(item)
            self.tag_values += len(tag)
            return
        j = _rand64(self.seed, i) % (i + 1)
        if j < self.k:
            self._put(j, item, tag)

    def update_many(self, items: Iterable[str],
                    tags: Iterable[tuple[int, ...]] | None = None) -> None:
        """``update`` for each item in order (the same sample), drawing for all at once and
        touching only the items that enter the sample."""
        items = list(items)
        tags = [()] * len(items) if tags is None else list(tags)
        if len(tags) != len(items):
            raise ValueError("one tag per item")
        first, n = self.seen, len(items)
        fill = max(0, min(n, self.k - first))  # the sample is not full yet: keep every item
        if fill:
            new_tags = [tuple(t) for t in tags[:fill]]
            self.items.extend(items[:fill])
            self.tags.extend(new_tags)
            self.item_bytes += sum(map(sys.getsizeof, items[:fill]))
            self.tag_values += sum(map(len, new_tags))
        if fill < n:
            slots = _draw_array(self.seed, first + fill, n - fill)
            for pos in np.flatnonzero(slots < self.k).tolist():
                self._put(int(slots[pos]), items[fill + pos], tuple(tags[fill + pos]))
        self.seen += n

    def merge(self, other: ReservoirSample) -> ReservoirSample:
        """Merge in place. Exact (== observing A then B) while B still holds every item it saw;
        otherwise a uniform sample of the union (each slot drawn in proportion to the counts)."""
        if other.seen <= other.k:
            self.update_many(other.items, other.tags)
            return self
        total = self.seen + other.seen
        mine = list(zip(self.items, self.tags, strict=True))
        theirs = list(zip(other.items, other.tags, strict=True))
        out: list[tuple[str, tuple[int, ...]]] = []
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
        self.items = [item for item, _ in out]
        self.tags = [tag for _, tag in out]
        self._recount()
        self.seen = total
        return self

    def _recount(self) -> None:
        self.item_bytes = sum(map(sys.getsizeof, self.items))
        self.tag_values = sum(map(len, self.tags))

    def copy(self) -> ReservoirSample:
        out = ReservoirSample(self.k, self.seed)
        out.seen = self.seen
        out.items = list(self.items)
        out.tags = list(self.tags)
        out.item_bytes, out.tag_values = self.item_bytes, self.tag_values
        return out

    def get(self) -> list[str]:
        return list(self.items)

    def get_tags(self) -> list[tuple[int, ...]]:
        return list(self.tags)

    def to_bytes(self) -> bytes:
        w = Writer(TAG_RESERVOIR, 2).u64(self.k).u64(self.seed).u64(self.seen).u64(len(self.items))
        for item in self.items:
            w.text(item)
        w.array(np.array([len(t) for t in self.tags], dtype=np.int64), "<i8")
        w.array(np.array([h for t in self.tags for h in t], dtype=np.uint64), "<u8")
        return w.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ReservoirSample:
        r = Reader(data, TAG_RESERVOIR, versions=(1, 2))
        out = cls(max(r.u64(), 1), r.u64())
        out.seen = r.u64()
        n = r.u64()
        if n > out.k or n > out.seen:
            raise ValueError("reservoir holds more items than it can")
        out.items = [r.text() for _ in range(n)]
        if r.version >= 2:
            lengths, flat = r.array("<i8"), r.array("<u8").tolist()
            if len(lengths) != n or (lengths < 0).any() or int(lengths.sum()) != len(flat):
                raise ValueError("reservoir tags are inconsistent")
            ends = np.cumsum(lengths).tolist()
            out.tags = [tuple(flat[e - k:e]) for e, k in zip(ends, lengths.tolist(), strict=True)]
        else:
            out.tags = [()] * n
        r.done()
        out._recount()
        return out
