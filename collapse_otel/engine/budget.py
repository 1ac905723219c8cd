"""The aggregator's process-wide memory budget: windows shrink, largest first, to fit it.

Every stream reports the memory it holds (``StreamState.nbytes``: bounded per answer, so a
window of 10,000 long answers and one of 10,000 short ones differ by a constant factor). When
the total passes 90% of the budget, a cap is set by water-filling: streams below the cap keep
their windows, streams above it rotate their panes at half the cap, so a big stream cannot
starve small ones. Past the budget itself, the largest streams drop their older pane at once.
The cap is lifted when the total falls under 70% (hysteresis, so windows do not flap).
A stream cut short this way reports ``memory_limited`` (exported as a gauge).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from typing import Generic, Protocol, TypeVar

HIGH, LOW = 0.9, 0.7


K = TypeVar("K", bound=Hashable)


class Sized(Protocol):
    pane_bytes: float
    memory_limited: bool

    def nbytes(self) -> int: ...
    def drop_previous(self) -> int: ...


def water_level(sizes: Iterable[float], target: float) -> float:
    """The cap c with sum(min(size, c)) == target; inf when everything fits under target."""
    ordered = sorted(sizes)
    left, n = target, len(ordered)
    for i, size in enumerate(ordered):
        if size * (n - i) > left:
            return max(left / (n - i), 0.0)
        left -= size
    return math.inf


class MemoryBudget(Generic[K]):
    """Tracks the bytes each stream holds and enforces ``budget_bytes`` over all of them."""

    def __init__(self, budget_bytes: int, fixed_bytes: int = 0) -> None:
        self.budget = budget_bytes
        self.fixed = fixed_bytes      # held whatever the streams (caches, the analyser)
        self.cap = math.inf
        self.sizes: dict[K, int] = {}
        self.trims_total = 0          # older panes dropped to get back under the budget

    @property
    def retained(self) -> int:
        return self.fixed + sum(self.sizes.values())

    def update(self, streams: Mapping[K, Sized], touched: Iterable[K] | None = None,
               ) -> None:
        """Re-measure ``touched`` streams (None: all of them, and forget removed ones), then
        enforce the budget."""
        sizes = self.sizes
        if touched is None:
            self.sizes = sizes = {key: state.nbytes() for key, state in streams.items()}
        else:
            for key in touched:
                state = streams.get(key)
                if state is not None:
                    sizes[key] = state.nbytes()
        self._enforce(streams)

    def _enforce(self, streams: Mapping[K, Sized]) -> None:
        total = self.retained
        if total > HIGH * self.budget:
            self.cap = water_level(self.sizes.values(), HIGH * self.budget - self.fixed)
        elif self.cap != math.inf and total < LOW * self.budget:
            self.cap = math.inf
        else:
            return
        for state in streams.values():
            state.pane_bytes = self.cap / 2
            if self.cap == math.inf:
                state.memory_limited = False
        if total <= self.budget:
            return
        for key in sorted(self.sizes, key=self.sizes.__getitem__, reverse=True):
            held = streams.get(key)
            if total <= self.budget or held is None or self.sizes[key] <= self.cap:
                break
            freed = held.drop_previous()
            if freed:
                self.trims_total += 1
                total -= freed
                self.sizes[key] -= freed
