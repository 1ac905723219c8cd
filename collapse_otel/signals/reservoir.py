"""Uniform reservoir sample (Vitter's algorithm R) with a counter-based, seedable RNG.

Corpus-level signals (distinct-n, compression, self-repetition) depend on sample size, so every
release is measured on a sample of the same size. The random choice for the i-th item depends
only on (seed, i), so replaying items reproduces the sample exactly and the state serialises
without an RNG object.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

import numpy as np

from .codec import Reader, Writer

TAG_RESERVOIR, TAG_TEXTS = 10, 11
_MASK = (1 << 64) - 1
SLOT_BYTES = 8        # per sampled item: its list slot
T = TypeVar("T")


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
    result: np.ndarray = z % (i + np.uint64(1))
    return result


def _rand64(seed: int, i: int) -> int:
    """splitmix64 of (seed, i): a stable pseudo-random 64-bit value."""
    z = (seed * 0x9E3779B97F4A7C15 + i + 0x632BE59BD9B4E019) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _encode_texts(items: list[str]) -> bytes:
    w = Writer(TAG_TEXTS, 1).u64(len(items))
    for item in items:
        w.text(item)
    return w.getvalue()


def _decode_texts(data: bytes) -> list[str]:
    r = Reader(data, TAG_TEXTS)
    out = [r.text() for _ in range(r.u64())]
    r.done()
    return out


class ReservoirSample(Generic[T]):
    """A uniform sample of at most ``k`` items from the ``seen`` items offered so far.

    Items are opaque (str by default; the aggregator samples whole analysed answers), so
    every signal that depends on sample size is computed on the same fixed-size sample.
    ``sizeof`` tells the memory of one item (kept as the sample changes, so the sample's
    memory is known in O(1)); ``to_bytes`` / ``from_bytes`` take the items' codec.
    """

    __slots__ = ("k", "seed", "seen", "items", "item_bytes", "sizeof")

    def __init__(self, k: int = 1000, seed: int = 0,
                 sizeof: Callable[[T], int] = sys.getsizeof) -> None:
        if k < 1:
            raise ValueError("k must be >= 1")
        self.k = k
        self.seed = seed
        self.seen = 0
        self.items: list[T] = []
        self.item_bytes = 0
        self.sizeof = sizeof

    def nbytes(self) -> int:
        """Approximate memory held by the items (CPython object sizes) and their slots."""
        return self.item_bytes + len(self.items) * SLOT_BYTES

    def _put(self, slot: int, item: T) -> None:
        self.item_bytes += self.sizeof(item) - self.sizeof(self.items[slot])
        self.items[slot] = item

    def update(self, item: T) -> None:
        i = self.seen
        self.seen += 1
        if i < self.k:
            self.items.append(item)
            self.item_bytes += self.sizeof(item)
            return
        j = _rand64(self.seed, i) % (i + 1)
        if j < self.k:
            self._put(j, item)

    def update_many(self, items: Iterable[T]) -> None:
        """``update`` for each item in order (the same sample), drawing for all at once."""
        items = list(items)
        self.offer(len(items), items.__getitem__)

    def offer(self, count: int, make: Callable[[int], T]) -> None:
        """``update`` for ``count`` items in order, where ``make(i)`` builds the i-th: only
        the items that enter the sample are built (after the sample fills, few do)."""
        first = self.seen
        fill = max(0, min(count, self.k - first))  # the sample is not full yet: keep them all
        for i in range(fill):
            item = make(i)
            self.items.append(item)
            self.item_bytes += self.sizeof(item)
        if fill < count:
            slots = _draw_array(self.seed, first + fill, count - fill)
            for pos in np.flatnonzero(slots < self.k).tolist():
                self._put(int(slots[pos]), make(fill + pos))
        self.seen += count

    def merge(self, other: ReservoirSample[T]) -> ReservoirSample[T]:
        """Merge in place. Exact (== observing A then B) while B still holds every item it saw;
        otherwise a uniform sample of the union (each slot drawn in proportion to the counts).
        Refuses a sample of another size (ValueError): the union would not be one."""
        if other.k != self.k:
            raise ValueError(f"cannot merge samples of {self.k} and {other.k} items")
        if other.seen <= other.k:
            self.update_many(other.items)
            return self
        total = self.seen + other.seen
        mine, theirs = list(self.items), list(other.items)
        out: list[T] = []
        left_a, left_b = self.seen, other.seen
        step = 0
        while len(out) < self.k and (mine or theirs):
            pick_a = mine and (not theirs or
                               _rand64(self.seed ^ total, step) % (left_a + left_b) < left_a)
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
        self.item_bytes = sum(map(self.sizeof, out))
        self.seen = total
        return self

    def copy(self) -> ReservoirSample[T]:
        out = ReservoirSample(self.k, self.seed, self.sizeof)
        out.seen, out.items, out.item_bytes = self.seen, list(self.items), self.item_bytes
        return out

    def get(self) -> list[T]:
        return list(self.items)

    # the defaults serve the text samples (T = str); other items pass their own codec
    def to_bytes(self, encode: Callable[[list[T]], bytes] = _encode_texts,  # type: ignore[assignment]
                 ) -> bytes:
        return (Writer(TAG_RESERVOIR, 3).u64(self.k).u64(self.seed).u64(self.seen)
                .blob(encode(self.items)).getvalue())

    @classmethod
    def from_bytes(cls, data: bytes,
                   decode: Callable[[bytes], list[T]] = _decode_texts,  # type: ignore[assignment]
                   sizeof: Callable[[T], int] = sys.getsizeof) -> ReservoirSample[T]:
        r = Reader(data, TAG_RESERVOIR, versions=(3,))
        out = cls(max(r.u64(), 1), r.u64(), sizeof)
        out.seen = r.u64()
        out.items = decode(r.blob())
        r.done()
        if len(out.items) > out.k or len(out.items) > out.seen:
            raise ValueError("reservoir holds more items than it can")
        out.item_bytes = sum(map(sizeof, out.items))
        return out


def legacy_items(data: bytes) -> tuple[int, int, int, list[tuple[str, tuple[int, ...]]]]:
    """(k, seed, seen, [(text, tags)]) of a version 1 or 2 sample (state from before the
    samples held whole answers)."""
    r = Reader(data, TAG_RESERVOIR, versions=(1, 2))
    k, seed, seen, n = r.u64(), r.u64(), r.u64(), r.u64()
    if n > max(k, 1) or n > seen:
        raise ValueError("reservoir holds more items than it can")
    texts = [r.text() for _ in range(n)]
    tags: list[tuple[int, ...]] = [()] * n
    if r.version >= 2:
        lengths, flat = r.array("<i8"), r.array("<u8").tolist()
        if len(lengths) != n or (lengths < 0).any() or int(lengths.sum()) != len(flat):
            raise ValueError("reservoir tags are inconsistent")
        ends = np.cumsum(lengths).tolist()
        tags = [tuple(flat[e - c:e]) for e, c in zip(ends, lengths.tolist(), strict=True)]
    r.done()
    return max(k, 1), seed, seen, list(zip(texts, tags, strict=True))
