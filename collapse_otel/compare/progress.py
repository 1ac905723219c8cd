"""The progress bar of ``collapse-otel compare``: on stderr, for long inputs only.

Shown when stderr is a terminal and a side has more than ``THRESHOLD`` answers, or always
with ``--progress``; it counts answers, never shows their text.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

THRESHOLD = 10_000
WIDTH = 30


class ProgressBar:
    def __init__(self, stream: TextIO | None = None, *, force: bool = False,
                 enabled: bool = True, interval: float = 0.1) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.force, self.enabled, self.interval = force, enabled, interval

    def _shown(self, total: int) -> bool:
        if not self.enabled:
            return False
        if self.force:
            return True
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty()) and total > THRESHOLD

    def __call__(self, label: str, total: int, unit: str = "answers",
                 size: int | None = None) -> Callable[[int], None]:
        """A ``tick(n)`` for one task of ``total`` units; ``size``: the answers behind it,
        which decide whether it is long enough to show (a no-op when not shown)."""
        if not self._shown(total if size is None else size):
            return lambda n: None
        done, last = 0, 0.0

        def tick(n: int) -> None:
            nonlocal done, last
            done = min(total, done + n)
            now = time.monotonic()
            if done < total and now - last < self.interval:
                return
            last = now
            share = done / total if total else 1.0
            bar = "#" * round(WIDTH * share)
            self.stream.write(f"\rcollapse-otel compare: {label} [{bar:<{WIDTH}}] "
                              f"{done:,}/{total:,} {unit} {share:4.0%}")
            if done >= total:
                self.stream.write("\n")
            self.stream.flush()

        return tick
