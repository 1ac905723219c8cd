"""The capture pipeline: a bounded queue drained by one daemon thread into the Aggregator.

``submit`` only appends to a deque: it never blocks, raises or analyses text; a full queue
drops the record and counts it by reason. The worker starts lazily on the first submit and every
pipeline is reset after ``fork()``. The queue also carries *deferred extractions* (callables
returning records: span attributes are read on the worker, not in ``on_end``) and feedback
and evaluation results (``Outcome``). Before analysis the worker's ledger (ledger.py) drops an
answer another capture path already gave and counts intermediate LLM calls apart; outcomes go
to the stream of the answer they name (references.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from . import forksafe
from .config import CollapseConfig
from .health import (
    CAPTURE_ERROR,
    EXTRACT_ERROR,  # noqa: F401 - re-exported: the receiver counts its drops with it
    INVALID_RECORD,
    QUEUE_FULL,
    SHUTDOWN,
    SIGNAL_ERROR,
    PipelineStats,
)
from .ledger import AnswerLedger
from .outcomes import Outcome
from .pipeline_batches import (
    LONG_ANSWER_CHARS,
    Barrier,
    Charged,
    Deferred,
    FlushMarker,
    WorkerBatches,
    held_bytes,
)
from .records import AnswerRecord
from .references import AnswerReferences

_log = logging.getLogger(__name__)

LINGER_SECONDS = 0.05
REFRESH_BUDGET_SECONDS = 0.05  # per maintenance pass of the worker (at most 2 a second)


class Pipeline(WorkerBatches):
    """Bounded queue + worker thread feeding one Aggregator.

    ``aggregator`` may be given (tests, custom signal code); otherwise the pipeline builds
    ``collapse_otel.aggregator.Aggregator(config)`` on first use and owns it.
    """

    def __init__(self, config: CollapseConfig | None = None, aggregator: Any = None) -> None:
        self.config = config if config is not None else CollapseConfig.resolve()
        self._aggregator = aggregator
        self._owns_aggregator = aggregator is None
        self._reset_runtime()
        _PIPELINES.add(self)
        _ensure_fork_hook()

    def _reset_runtime(self) -> None:
        self._queue: deque[Any] = deque()
        self._wake = threading.Event()
        self._urgent = threading.Event()  # flush / shutdown: skip the linger
        self._last_maintenance = float("-inf")
        self._lock = forksafe.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._dropped: dict[str, int] = {}
        self._errors_logged: set[str] = set()
        self._processing_seconds = 0.0
        self._processed = 0
        self._queued_bytes = 0   # bytes of long texts queued or in the batch being analysed
        self._ledger = AnswerLedger(self.config.max_streams)   # worker thread only
        self._references = AnswerReferences(self.config.feedback_references)   # worker only
        self._waiting_outcomes: deque[tuple[float, Outcome]] = deque()          # worker only

    # -- producer side (host threads) -------------------------------------------------

    @property
    def aggregator(self) -> Any:
        """The Aggregator this pipeline feeds (built lazily when not given)."""
        if self._aggregator is None:
            with self._lock:
                if self._aggregator is None:
                    from .aggregator import Aggregator

                    self._aggregator = Aggregator(self.config)
        return self._aggregator

    def submit(self, record: AnswerRecord) -> bool:
        """Queue one record; True if queued. Never blocks, never raises."""
        try:
            if type(record) is not AnswerRecord and not isinstance(record, AnswerRecord):
                self.count_drop(INVALID_RECORD)
                return False
            nbytes = held_bytes(record)
            return self._put_charged(record, nbytes) if nbytes else self._put(record)
        except Exception as exc:  # pragma: no cover - defensive
            self.report_error(CAPTURE_ERROR, exc)
            return False

    def submit_outcome(self, event: Outcome) -> bool:
        """Queue a feedback or evaluation result; True if queued. Never blocks or raises."""
        try:
            return self._put(event)
        except Exception as exc:  # pragma: no cover - defensive
            self.report_error(CAPTURE_ERROR, exc)
            return False

    def submit_deferred(self, fn: Deferred, nbytes: int = 0) -> bool:
        """Queue an extraction that the worker runs; its records join the next batch.
        ``nbytes``: what it holds (a span's attributes), charged on the queue's byte budget
        with the long answers of every other capture path when over ``LONG_ANSWER_CHARS``."""
        try:
            if nbytes > LONG_ANSWER_CHARS:
                return self._put_charged(Charged(fn, nbytes), nbytes)
            return self._put(fn)
        except Exception as exc:  # pragma: no cover - defensive
            self.report_error(CAPTURE_ERROR, exc)
            return False

    def _put(self, item: Any) -> bool:
        if self._closed:
            self.count_drop(SHUTDOWN)
            return False
        if len(self._queue) >= self.config.queue_size:
            self.count_drop(QUEUE_FULL)
            return False
        self._queue.append(item)
        if self._thread is None:
            self._start()
        if not self._wake.is_set():
            self._wake.set()
        return True

    def _put_charged(self, item: Any, nbytes: int) -> bool:
        """Queue an item holding long text within the ``queue_mb`` byte budget, shared by
        every capture path (a count bound alone would let 10,000 answers of 100,000
        characters hold a gigabyte). The charge lasts until the worker has analysed it."""
        with self._lock:
            if self._queued_bytes + nbytes > self.config.queue_mb << 20:
                self._dropped[QUEUE_FULL] = self._dropped.get(QUEUE_FULL, 0) + 1
                return False
            self._queued_bytes += nbytes
        if self._put(item):
            return True
        self._release_bytes(nbytes)
        return False

    def _release_bytes(self, nbytes: int) -> None:
        with self._lock:
            self._queued_bytes -= nbytes

    def expect_direct(self) -> None:
        """A direct capture path (the LangChain handler) feeds this pipeline (see ledger.py)."""
        self._ledger.expect_direct(time.monotonic())

    def count_drop(self, reason: str, n: int = 1) -> None:
        """Count ``n`` records dropped for ``reason`` (capture code calls this too)."""
        with self._lock:
            self._dropped[reason] = self._dropped.get(reason, 0) + n

    def report_error(self, reason: str, exc: BaseException, n: int = 1) -> None:
        """Count a drop caused by ``exc``; log its type once per (reason, exception kind),
        never record contents."""
        self.count_drop(reason, n)
        kind = f"{reason}:{type(exc).__name__}"
        if kind not in self._errors_logged:
            self._errors_logged.add(kind)
            _log.warning("collapse-otel: %s (%s); counted as dropped, logged once per kind",
                         reason, type(exc).__name__)

    # -- worker side --------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(target=self._run, name="collapse-otel-worker",
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        queue, wake, limit = self._queue, self._wake, self.config.batch_size
        while True:
            wake.wait(0.5)
            if len(queue) < limit and not self._urgent.is_set():
                # linger so a batch fills up: the per-batch cost is amortised and the host
                # thread is not handed the GIL back and forth for every record
                self._urgent.wait(LINGER_SECONDS)
            self._urgent.clear()
            wake.clear()
            while queue:
                self._drain_once()
                if self.config.multiproc_dir:   # state files stay fresh under constant load
                    self._maintain()
            if self._ledger.waiting:
                self._observe(self._admit([], False))
            if self._waiting_outcomes:
                self._place_outcomes([], force=self._closed)
            self._maintain()
            if self._closed and not queue:
                return

    def _maintain(self) -> None:
        """Between batches, at most every half second: recompute stale window gauges within a
        small budget, so scrapes read cached values instead of computing them."""
        now = time.monotonic()
        if now - self._last_maintenance < 0.5:
            return
        self._last_maintenance = now
        if self.config.multiproc_dir:   # windows are computed where the files are merged
            self._write_state()
            return
        refresh = getattr(self.aggregator, "refresh", None)
        if refresh is None:
            return
        try:
            refresh(REFRESH_BUDGET_SECONDS)
        except Exception as exc:
            self.report_error(SIGNAL_ERROR, exc, 0)

    # -- control ------------------------------------------------------------------------

    def flush(self, timeout: float = 5.0, *, refresh_gauges: bool = True) -> bool:
        """Wait until everything queued before this call is analysed, then (by default) bring
        the window gauges up to date, so a snapshot taken next sees every answer (multiprocess
        mode: and write this process's state file); False on timeout."""
        done = self._drain(timeout)
        if done and refresh_gauges:
            refresh = getattr(self.aggregator, "refresh", None)
            try:
                if refresh is not None:
                    refresh(None, 0.0)  # every changed stream, no budget: flush is explicit
            except Exception as exc:
                self.report_error(SIGNAL_ERROR, exc, 0)
        if self.config.multiproc_dir:
            self._write_state(force=True)
        return done

    def _write_state(self, force: bool = False) -> None:   # multiprocess mode: the state file
        from .multiprocess.writer import write_pipeline_state
        write_pipeline_state(self, force)

    def barrier(self, action: Callable[[], None], timeout: float) -> bool:
        """Run ``action`` on the worker once everything queued before this call is analysed,
        with nothing queued after it analysed yet; False on timeout (the action may still run
        later) or when the worker is gone. What the action raises is raised here."""
        barrier = Barrier(action)
        if self._closed or not self._drain(timeout, barrier):
            return False
        if barrier.error is not None:
            raise barrier.error
        return True

    def _drain(self, timeout: float, marker: FlushMarker | None = None) -> bool:
        try:
            idle = self._thread is None or not self._thread.is_alive()
            if not self._queue and idle and marker is None:
                return True
            if self._thread is None or not self._thread.is_alive():
                if self._closed:
                    return not self._queue and marker is None
                self._start()
            marker = marker or FlushMarker()
            self._queue.append(marker)
            self._urgent.set()
            self._wake.set()
            return marker.done.wait(timeout)
        except Exception as exc:  # pragma: no cover - defensive
            self.report_error(CAPTURE_ERROR, exc, 0)
            return False

    def shutdown(self, timeout: float = 5.0) -> None:
        """Analyse what is queued (up to ``timeout``), stop the worker, refuse new records."""
        try:
            self.flush(timeout)
            self._closed = True
            self._urgent.set()
            self._wake.set()
            thread = self._thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout)
            left = sum(1 for item in self._queue if not isinstance(item, FlushMarker))
            if left:
                self._queue.clear()
                with self._lock:
                    self._queued_bytes = 0
                self.count_drop(SHUTDOWN, left)
        except Exception as exc:  # pragma: no cover - defensive
            self.report_error(CAPTURE_ERROR, exc, 0)

    def stats(self) -> PipelineStats:
        with self._lock:
            dropped = dict(self._dropped)
        return PipelineStats(dropped=dropped, queue_depth=len(self._queue),
                             processing_seconds=self._processing_seconds,
                             records_processed=self._processed,
                             intermediate=dict(self._ledger.intermediate),
                             duplicates=self._ledger.duplicates,
                             outcomes_unmatched=dict(self._references.unmatched),
                             references=len(self._references))

    def _after_fork(self) -> None:
        """In a forked child (the parent's thread is gone, its locks may be held): fresh queue,
        events, locks, thread and owned aggregator; counts start at zero, never exported
        twice. A given aggregator is kept (its lock is re-created: forksafe.py)."""
        self._reset_runtime()
        if self._owns_aggregator:
            self._aggregator = None


# -- process-wide default ---------------------------------------------------------------

_PIPELINES: weakref.WeakSet[Pipeline] = weakref.WeakSet()
_fork_hook_installed = False
_default: Pipeline | None = None
_default_lock = forksafe.Lock()   # unlocked again in a forked child (forksafe.py)


def _after_fork_in_child() -> None:
    for p in list(_PIPELINES):
        with contextlib.suppress(Exception):
            p._after_fork()


def _ensure_fork_hook() -> None:
    global _fork_hook_installed
    if not _fork_hook_installed and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _fork_hook_installed = True


def get_pipeline() -> Pipeline:
    """The process-wide default pipeline (created on first use from env config)."""
    global _default
    p = _default
    if p is None:
        with _default_lock:
            if _default is None:
                _default = Pipeline()
            p = _default
    return p


def set_pipeline(pipeline: Pipeline | None) -> Pipeline | None:
    """Replace the default pipeline (None: the next get_pipeline() builds one). Returns the old."""
    global _default
    with _default_lock:
        old, _default = _default, pipeline
    return old


def flush(timeout: float = 5.0) -> bool:
    """Flush the default pipeline (see :meth:`Pipeline.flush`)."""
    p = _default
    return True if p is None else p.flush(timeout)


def shutdown(timeout: float = 5.0) -> None:
    """Shut the default pipeline down; a later get_pipeline() starts a new one."""
    p = set_pipeline(None)
    if p is not None:
        p.shutdown(timeout)
