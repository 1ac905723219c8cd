"""The capture pipeline: a bounded queue drained by one daemon thread into the Aggregator.

Capture code runs on the host's hot path, so ``submit`` only appends to a deque: it never
blocks, never raises and never analyses text. When the queue is full the record is dropped and
counted by reason. The worker thread starts lazily on the first submit (no import or
construction side effects) and every pipeline is reset after ``fork()`` so that gunicorn /
uvicorn workers get their own queue, thread and aggregator.

Besides records, the queue carries *deferred extractions*: zero-argument callables returning
records. The span processor uses them so that reading span attributes (JSON parsing
included) happens on the worker thread, not in ``SpanProcessor.on_end``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..config import CollapseConfig
from ..records import AnswerRecord

_log = logging.getLogger(__name__)

Deferred = Callable[[], Iterable[AnswerRecord]]

# Drop reasons (label values of collapse_records_dropped_total{reason}).
QUEUE_FULL = "queue_full"
INVALID_RECORD = "invalid_record"
SIGNAL_ERROR = "signal_error"
EXTRACT_ERROR = "extract_error"
SHUTDOWN = "shutdown"
CAPTURE_ERROR = "capture_error"

LINGER_SECONDS = 0.05
LONG_ANSWER_CHARS = 4_096  # answers longer than this also count against config.queue_mb
REFRESH_BUDGET_SECONDS = 0.05  # per maintenance pass of the worker (at most 2 a second)


@dataclass(frozen=True)
class PipelineStats:
    """Self-observability of one pipeline, read by the exporter."""

    dropped: dict[str, int]
    queue_depth: int
    processing_seconds: float
    records_processed: int


class _FlushMarker:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class Pipeline:
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
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._dropped: dict[str, int] = {}
        self._errors_logged: set[str] = set()
        self._processing_seconds = 0.0
        self._processed = 0
        self._queued_long_chars = 0   # characters of long answers waiting in the queue

    # -- producer side (host threads) -------------------------------------------------

    @property
    def aggregator(self) -> Any:
        """The Aggregator this pipeline feeds (built lazily when not given)."""
        if self._aggregator is None:
            with self._lock:
                if self._aggregator is None:
                    from ..aggregator import Aggregator

                    self._aggregator = Aggregator(self.config)
        return self._aggregator

    def submit(self, record: AnswerRecord) -> bool:
        """Queue one record; True if queued. Never blocks, never raises."""
        try:
            if type(record) is not AnswerRecord and not isinstance(record, AnswerRecord):
                self.count_drop(INVALID_RECORD)
                return False
            text = record.answer
            if text is not None and len(text) > LONG_ANSWER_CHARS:
                return self._put_long(record, len(text))
            return self._put(record)
        except Exception as exc:  # pragma: no cover - defensive
            self.report_error(CAPTURE_ERROR, exc)
            return False

    def submit_deferred(self, fn: Deferred) -> bool:
        """Queue an extraction that the worker runs; its records join the next batch."""
        try:
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

    def _put_long(self, record: AnswerRecord, chars: int) -> bool:
        """Queue a long answer within the ``queue_mb`` bound on queued text (a count bound
        alone would let 10,000 answers of 100,000 characters hold a gigabyte)."""
        with self._lock:
            if self._queued_long_chars + chars > self.config.queue_mb << 20:
                self._dropped[QUEUE_FULL] = self._dropped.get(QUEUE_FULL, 0) + 1
                return False
            self._queued_long_chars += chars
        if self._put(record):
            return True
        self._release_long(chars)
        return False

    def _release_long(self, chars: int) -> None:
        with self._lock:
            self._queued_long_chars -= chars

    def count_drop(self, reason: str, n: int = 1) -> None:
        """Count ``n`` records dropped for ``reason`` (capture code calls this too)."""
        with self._lock:
            self._dropped[reason] = self._dropped.get(reason, 0) + n

    def report_error(self, reason: str, exc: BaseException, n: int = 1) -> None:
        """Count a drop caused by ``exc`` and log it once per (reason, exception kind).

        Only the exception type and message are logged: never record contents.
        """
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

    def _drain_once(self) -> None:
        queue, limit = self._queue, self.config.batch_size
        records: list[AnswerRecord] = []
        markers: list[_FlushMarker] = []
        while queue and len(records) < limit:
            try:
                item = queue.popleft()
            except IndexError:
                break
            if isinstance(item, AnswerRecord):
                records.append(item)
                text = item.answer
                if text is not None and len(text) > LONG_ANSWER_CHARS:
                    self._release_long(len(text))
            elif isinstance(item, _FlushMarker):
                markers.append(item)
                break  # records before the marker must be processed before it is released
            else:
                self._run_deferred(item, records)
        if records:
            self._observe(records)
        for m in markers:
            m.done.set()

    def _run_deferred(self, fn: Deferred, out: list[AnswerRecord]) -> None:
        try:
            for rec in fn():
                if isinstance(rec, AnswerRecord):
                    out.append(rec)
                else:
                    self.count_drop(INVALID_RECORD)
        except Exception as exc:
            self.report_error(EXTRACT_ERROR, exc)

    def _observe(self, records: list[AnswerRecord]) -> None:
        start = time.perf_counter()
        try:
            results = self.aggregator.observe_batch(records)
            # the aggregator isolates a record whose analysis fails and returns None for it
            failed = sum(1 for r in results if r is None) if isinstance(results, list) else 0
            if failed:
                self.count_drop(SIGNAL_ERROR, failed)
            self._processed += len(records) - failed
        except Exception as exc:
            self.report_error(SIGNAL_ERROR, exc, len(records))
        finally:
            self._processing_seconds += time.perf_counter() - start

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

    def _write_state(self, force: bool = False) -> None:
        """Multiprocess mode: this process's state file (collapse_otel.multiprocess)."""
        from ..multiprocess.writer import write_pipeline_state
        write_pipeline_state(self, force)

    def _drain(self, timeout: float) -> bool:
        try:
            idle = self._thread is None or not self._thread.is_alive()
            if not self._queue and idle:
                return True
            if self._thread is None or not self._thread.is_alive():
                if self._closed:
                    return not self._queue
                self._start()
            marker = _FlushMarker()
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
            left = sum(1 for item in self._queue if not isinstance(item, _FlushMarker))
            if left:
                self._queue.clear()
                self.count_drop(SHUTDOWN, left)
        except Exception as exc:  # pragma: no cover - defensive
            self.report_error(CAPTURE_ERROR, exc, 0)

    def stats(self) -> PipelineStats:
        with self._lock:
            dropped = dict(self._dropped)
        return PipelineStats(dropped=dropped, queue_depth=len(self._queue),
                             processing_seconds=self._processing_seconds,
                             records_processed=self._processed)

    def _after_fork(self) -> None:
        """In a forked child: fresh queue, locks and (lazily) thread; a fresh owned aggregator.

        The parent's worker thread does not exist in the child and its locks may be held;
        counts start at zero so parent and child never export the same answers twice.
        """
        self._reset_runtime()
        if self._owns_aggregator:
            self._aggregator = None


# -- process-wide default ---------------------------------------------------------------

_PIPELINES: weakref.WeakSet[Pipeline] = weakref.WeakSet()
_fork_hook_installed = False
_default: Pipeline | None = None
_default_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _default_lock
    _default_lock = threading.Lock()
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
