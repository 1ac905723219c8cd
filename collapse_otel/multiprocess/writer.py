"""Multiprocess mode, the writing side: each capture pipeline's state file.

The pipeline's worker thread calls :func:`write_pipeline_state` between batches; it writes
when something changed and ``multiproc_write_seconds`` passed since the last write. ``flush``
writes at once (``force``), and so does the process's exit (``atexit``: gunicorn and uvicorn
workers exit through it when stopped gracefully); a worker killed outright loses what it
analysed since its last write.
"""

from __future__ import annotations

import atexit
import os
import time
import weakref
from typing import Any

from .. import forksafe
from .files import StateWriter

EXIT_FLUSH_SECONDS = 2.0


class _Entry:
    __slots__ = ("writer", "pid", "last", "marker")

    def __init__(self, directory: str) -> None:
        self.writer = StateWriter(directory)
        self.pid = os.getpid()
        self.last = float("-inf")
        self.marker: tuple | None = None


_ENTRIES: weakref.WeakKeyDictionary[Any, _Entry] = weakref.WeakKeyDictionary()
_LOCK = forksafe.Lock()
_registered = False


def write_pipeline_state(pipeline: Any, force: bool = False) -> bool:
    """Write ``pipeline``'s aggregator to its process's state file when due (or ``force``);
    True if written. Never raises."""
    try:
        config = pipeline.config
        if not config.multiproc_dir:
            return False
        entry = _entry(pipeline, config.multiproc_dir)
        aggregator = pipeline._aggregator   # not built yet: nothing observed, nothing to say
        if aggregator is None:
            return False
        tick = getattr(aggregator, "_tick", None)
        if tick is not None:   # idle streams slide and expire, as a scrape would make them
            tick()
        stats = pipeline.stats()
        marker = (stats.records_processed, sum(stats.dropped.values()))
        now = time.monotonic()
        if not force and (marker == entry.marker or
                          now - entry.last < config.multiproc_write_seconds):
            return False
        entry.last = now
        if entry.writer.write(aggregator, stats):
            entry.marker = marker
            return True
        return False
    except Exception:   # pragma: no cover - StateWriter already isolates its failures
        return False


def _entry(pipeline: Any, directory: str) -> _Entry:
    global _registered
    entry = _ENTRIES.get(pipeline)
    if entry is None or entry.pid != os.getpid():   # new, or inherited through fork
        with _LOCK:
            entry = _ENTRIES[pipeline] = _Entry(directory)
            if not _registered:   # once: a forked child inherits the handler
                _registered = True
                atexit.register(_at_exit)
    return entry


def _at_exit() -> None:
    """Flush every live pipeline of this process, which writes its state (one that was
    shut down wrote it then)."""
    pid = os.getpid()
    for pipeline, entry in list(_ENTRIES.items()):
        if entry.pid == pid and not getattr(pipeline, "_closed", True):
            pipeline.flush(EXIT_FLUSH_SECONDS, refresh_gauges=False)
