"""Each n-gram order of a sample sorted once, for every statistic that groups its n-grams.

distinct-n, self-repetition, self-BLEU and the word tail mass all need the sample's n-grams
grouped by n-gram, then by jackknife group, then by answer. One sort of packed 64-bit keys
(n-gram high bits | group | answer) gives that order for all of them; sorting per statistic
cost a refresh four sorts per order (measured in ``make bench``: the refresh row).

The n-gram keeps its top 64 - (answer bits + group bits) bits: 49 for a 1,000-answer sample
in 20 groups, so two of the sample's ~10^5 distinct n-grams share a key with probability
~10^-5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..text.hashing import NgramBatch


@dataclass(frozen=True)
class GramTable:
    """One row per distinct (n-gram, group, answer), sorted in that order."""

    docs: int
    groups: int
    gram_start: np.ndarray      # bool: the row starts a new n-gram
    doc: np.ndarray             # answer index of the row
    grp: np.ndarray             # jackknife group of the row
    count: np.ndarray           # occurrences of the n-gram in the answer
    total: int                  # n-grams of the sample, repeats included
    per_group: np.ndarray       # n-grams of each group, repeats included
    key: np.ndarray             # each distinct n-gram's key (its hash's top bits), sorted
    shift: int                  # key = hash >> shift

    def gram_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(first row, last row) of each distinct n-gram."""
        first = np.flatnonzero(self.gram_start)
        return first, np.r_[first[1:], len(self.doc)][:len(first)] - 1

    def sole_group(self) -> np.ndarray:
        """Per distinct n-gram, the one group all its answers are in, or -1."""
        first, last = self.gram_bounds()
        return np.where(self.grp[first] == self.grp[last], self.grp[first], -1)

    def gram_of_row(self) -> np.ndarray:
        """Index of each row's n-gram among the distinct n-grams."""
        return np.cumsum(self.gram_start) - 1


class GramTables:
    """A batch's tables per order, each built on first use."""

    def __init__(self, batch: NgramBatch, group: np.ndarray, groups: int) -> None:
        self.batch = batch
        self.group = np.asarray(group, dtype=np.int64)
        self.groups = groups
        self._tables: dict[int, GramTable] = {}

    @property
    def docs(self) -> int:
        return len(self.batch.lengths)

    def order(self, n: int) -> GramTable:
        if n not in self._tables:
            self._tables[n] = _build(*self.batch.ngrams(n), self.docs, self.group, self.groups)
        return self._tables[n]


def _build(hashes: np.ndarray, owner: np.ndarray, docs: int, group: np.ndarray,
           groups: int) -> GramTable:
    dbits = max(1, int(docs - 1).bit_length())
    gbits = max(1, int(groups - 1).bit_length())
    low = np.uint64(dbits + gbits)
    owner_group = group[owner]
    per_group = np.bincount(owner_group, minlength=groups)[:groups]
    keys = hashes >> low                       # a new array: the batch's stays as it is
    keys <<= low
    keys |= owner_group.astype(np.uint64) << np.uint64(dbits)
    keys |= owner.astype(np.uint64)
    keys.sort()
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else \
        np.zeros(0, np.int64)
    count = np.diff(np.r_[starts, len(keys)])
    rows = keys[starts]
    gram = rows >> low
    gram_start = np.r_[True, gram[1:] != gram[:-1]] if len(rows) else np.zeros(0, bool)
    doc = (rows & np.uint64((1 << dbits) - 1)).astype(np.int64)
    grp = ((rows >> np.uint64(dbits)) & np.uint64((1 << gbits) - 1)).astype(np.int64)
    return GramTable(docs, groups, gram_start, doc, grp, count.astype(np.int64), len(hashes),
                     per_group, gram[gram_start], int(low))
