"""The capture pipeline: a bounded queue drained by one daemon thread into the Aggregator.

``submit`` only appends to a deque: it never blocks, raises or analyses text; a full queue
drops the record and counts it by reason. The worker starts lazily on the first submit and every
pipeline is reset after ``fork()``. The queue also carries *deferred extractions* (callables
returning records: span attributes are read on the worker, not in ``on_end``) and feedback
and evaluation results (``Outcome``). Before analysis the worker's ledger (ledger.py) drops an
answer another capture path already gave and counts intermediate LLM calls apart; outcomes go
to the stream of the answer they name (references.py).

One batch: records and deferred extractions are gathered up to ``batch_size``; the answers'
references are noted before the ledger keeps or drops them, so feedback in the same batch finds
them; the answers are analysed, then the feedback and evaluation results are counted in their
streams. A flush marker ends the batch: what was queued before it is done when it is released.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

from .. import forksafe
from ..config import CollapseConfig
from ..records import AnswerRecord, StreamKey
from ..records.outcomes import Outcome
from .health import (
    CAPTURE_ERROR,
    EXTRACT_ERROR,
    INVALID_RECORD,
    QUEUE_FULL,
    SHUTDOWN,
    SIGNAL_ERROR,
    PipelineStats,
)
from .ledger import AnswerLedger
from .references import AnswerReferences

_log = logging.getLogger(__name__)

LINGER_SECONDS = 0.05
REFRESH_BUDGET_SECONDS = 0.05  # per maintenance pass of the worker (at most 2 a second)
Deferred = Callable[[], Iterable[AnswerRecord | Outcome]]
LONG_ANSWER_CHARS = 4_096  # answers longer than this also count against config.queue_mb
ATTRIBUTES_READ = 256      # attributes of a span whose size is counted (SDK default limit: 128)
ITEMS_READ = 64            # items of a sequence attribute read; the rest are extrapolated
BATCH_SHARE = 16           # a batch stops at 1/16 of queue_mb of long text (4 MiB of 64)
# a result naming a trace whose answer is not known yet waits for it this long: a span
# processor holds a trace's answers until its root span ends (30 s at most by default)
OUTCOME_WAIT_SECONDS = 35.0
MAX_WAITING_OUTCOMES = 4_096   # beyond: the oldest is counted by its own labels at once


class Charged:
    """A deferred extraction and the bytes it holds, charged on the queue's byte budget
    until the worker has analysed what it returned."""

    __slots__ = ("fn", "nbytes")

    def __init__(self, fn: Deferred, nbytes: int) -> None:
        self.fn, self.nbytes = fn, nbytes

    def __call__(self) -> Iterable[AnswerRecord | Outcome]:
        return self.fn()


def held_bytes(record: AnswerRecord) -> int:
    """The bytes a record's long texts hold (0 when they are short: no lock, no count).
    ``sys.getsizeof`` is O(1) and counts what a str really takes (1 to 4 bytes a
    character), where a character count undercounts non-Latin text up to 4 times."""
    n = 0
    for text in (record.answer, record.question):
        if type(text) is str and len(text) > LONG_ANSWER_CHARS:
            n += sys.getsizeof(text)
    return n


def attribute_bytes(attributes: object) -> int:
    """The bytes a span's attributes hold, from their sizes (O(attributes), never a pass
    over the text): strings, and sequences of strings (the first ``ITEMS_READ`` items,
    extrapolated to the rest)."""
    values = getattr(attributes, "values", None)
    if values is None:
        return 0
    total = 0
    for value in islice(values(), ATTRIBUTES_READ):
        if type(value) is str:
            total += sys.getsizeof(value)
        elif isinstance(value, (tuple, list)) and value:
            read = [sys.getsizeof(v) for v in islice(value, ITEMS_READ) if type(v) is str]
            total += sys.getsizeof(value) + sum(read) * len(value) // min(len(value), ITEMS_READ)
    return total


class FlushMarker:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()

    def release(self) -> None:
        self.done.set()


class Barrier(FlushMarker):
    """A flush marker whose ``action`` runs on the worker once everything queued before it is
    analysed, before the worker takes anything queued after it: a consistent cut of the
    state (serve's snapshots). What the action raises is kept in ``error``."""

    __slots__ = ("action", "error")

    def __init__(self, action: Callable[[], None]) -> None:
        super().__init__()
        self.action = action
        self.error: BaseException | None = None

    def release(self) -> None:
        try:
            self.action()
        except BaseException as exc:   # handed to the caller, never into the worker
            self.error = exc
        finally:
            self.done.set()


class Pipeline:
    """Bounded queue + worker thread feeding one Aggregator.

    ``aggregator`` may be given (tests, custom signal code); otherwise the pipeline builds
    ``collapse_otel.engine.aggregator.Aggregator(config)`` on first use and owns it.
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
                    from ..engine.aggregator import Aggregator

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
        from ..multiprocess.writer import write_pipeline_state
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

    # -- the worker's batch step ------------------------------------------------------

    def _drain_once(self) -> None:
        queue, limit = self._queue, self.config.batch_size
        # the analysis of a batch holds a few times its text: long answers make short batches
        byte_limit = (self.config.queue_mb << 20) // BATCH_SHARE
        records: list[AnswerRecord] = []
        outcomes: list[Outcome] = []
        markers: list[FlushMarker] = []
        charged = 0   # released once the batch is analysed: the batch holds it until then
        try:
            while queue and len(records) + len(outcomes) < limit and charged < byte_limit:
                try:
                    item = queue.popleft()
                except IndexError:
                    break
                if isinstance(item, AnswerRecord):
                    records.append(item)
                    charged += held_bytes(item)
                elif isinstance(item, Outcome):
                    outcomes.append(item)
                elif isinstance(item, FlushMarker):
                    markers.append(item)
                    break  # records before the marker must be processed before it is released
                else:
                    if type(item) is Charged:
                        charged += item.nbytes
                    self._run_deferred(item, records, outcomes)
            self._analyse(records, outcomes, markers)
        finally:
            if charged:
                self._release_bytes(charged)

    def _analyse(self, records: list[AnswerRecord], outcomes: list[Outcome],
                 markers: list[FlushMarker]) -> None:
        if records:   # before the outcomes: feedback in this batch may name these answers
            try:
                self._references.note(records)
            except Exception as exc:  # pragma: no cover - defensive: answers still count
                self.report_error(CAPTURE_ERROR, exc, 0)
        records = self._admit(records, bool(markers))
        if records:
            self._observe(records)
        if outcomes or self._waiting_outcomes:
            self._place_outcomes(outcomes, force=bool(markers))
        for m in markers:
            m.release()

    def _run_deferred(self, fn: Deferred, out: list[AnswerRecord],
                      outcomes: list[Outcome]) -> None:
        try:
            for rec in fn():
                if isinstance(rec, AnswerRecord):
                    out.append(rec)
                elif isinstance(rec, Outcome):
                    outcomes.append(rec)
                else:
                    self.count_drop(INVALID_RECORD)
        except Exception as exc:
            self.report_error(EXTRACT_ERROR, exc)

    def _admit(self, records: list[AnswerRecord], flush: bool) -> list[AnswerRecord]:
        try:   # what the ledger lets through: no second sightings, no intermediate calls
            ledger = self._ledger
            kept = ledger.pass_on(records, time.monotonic(), flush)
            for refs, key in ledger.repointed:
                self._references.point(refs, key)
            ledger.repointed.clear()
            return kept
        except Exception as exc:  # pragma: no cover - defensive: analyse them as they are
            self.report_error(CAPTURE_ERROR, exc, 0)
            return [r for r in records if not getattr(r, "intermediate", False)]

    def _observe(self, records: list[AnswerRecord]) -> None:
        if not records:
            return
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

    def _place_outcomes(self, events: list[Outcome], force: bool = False) -> None:
        """Count the events whose answer is known or cannot come any more; keep the ones that
        name a trace not seen yet until its answer arrives (at most OUTCOME_WAIT_SECONDS, all
        of them on a flush)."""
        waiting, refs = self._waiting_outcomes, self._references
        now = time.monotonic()
        ready: list[Outcome] = []
        try:
            for _ in range(len(waiting)):
                at, event = waiting.popleft()
                if force or now - at >= OUTCOME_WAIT_SECONDS or not refs.awaits(event):
                    ready.append(event)
                else:
                    waiting.append((at, event))
            for event in events:
                if not force and event.refs and refs.awaits(event):
                    waiting.append((now, event))
                else:
                    ready.append(event)
            while len(waiting) > MAX_WAITING_OUTCOMES:
                ready.append(waiting.popleft()[1])
        except Exception as exc:  # pragma: no cover - defensive: count them as they are
            self.report_error(CAPTURE_ERROR, exc, 0)
            ready.extend(e for _, e in waiting)
            waiting.clear()
        if ready:
            self._observe_outcomes(ready)

    def _observe_outcomes(self, events: list[Outcome]) -> None:
        start = time.perf_counter()
        try:
            cfg = self.config
            defaults = StreamKey(cfg.service, cfg.release, cfg.cohort)
            stream_of = self._references.stream_of
            done = self.aggregator.observe_outcomes([(stream_of(e, defaults), e) for e in events])
            if done < len(events):
                self.count_drop(SIGNAL_ERROR, len(events) - done)
            self._processed += done
        except Exception as exc:
            self.report_error(SIGNAL_ERROR, exc, len(events))
        finally:
            self._processing_seconds += time.perf_counter() - start


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


def current_pipeline() -> Pipeline | None:
    """The process-wide pipeline if one is installed; None (and none is built) otherwise."""
    return _default


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
