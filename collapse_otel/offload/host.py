"""ProcessPipeline: the host's side of the analysis in a separate process.

``submit`` encodes the record and copies its bytes into the socket to the analysis process:
no text analysis, no lock held by an analysis thread, a few microseconds on the caller's
thread. A full socket drops the record and counts it (``queue_full``), as a full in-process
queue does; the counts reach the state file through the analysis process. An agent turn's loop
judgement travels as its evidence and is judged there. Deferred extractions (span readers)
still run on this process's worker thread, which forwards what they return. When the analysis process cannot start, or dies, the pipeline analyses in-process
from then on (the fallback), writing its own state file to the same directory.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..records import AnswerRecord
from ..records.outcomes import Outcome
from ..turns.loops import LoopJudgement
from ..worker.health import CAPTURE_ERROR, INVALID_RECORD, QUEUE_FULL, SHUTDOWN, PipelineStats
from ..worker.pipeline import FlushMarker, Pipeline
from .link import AnalysisLink, LinkError
from .wire import DROPS, encode, encode_judgement, encode_outcome, encode_record

_log = logging.getLogger(__name__)


class ProcessPipeline(Pipeline):
    """A capture pipeline whose analysis runs in a child process. ``config.multiproc_dir``
    must be set: the child writes its state there and /metrics merges that directory."""

    def __init__(self, config: Any) -> None:
        if not config.multiproc_dir:
            raise ValueError("ProcessPipeline needs config.multiproc_dir")
        super().__init__(config)
        self._link: AnalysisLink | None = None
        self._source: Any = None
        self._child_stats: PipelineStats | None = None
        self._drops_told: dict[str, int] = {}
        self._start_link()

    def _start_link(self) -> None:
        try:
            self._link = AnalysisLink(self.config)
        except Exception as exc:
            self._link = None
            _log.warning("collapse-otel: the analysis process did not start (%s); analysing "
                         "in this process", type(exc).__name__)

    def _restart_link(self) -> AnalysisLink | None:
        """In a forked host process, at its first record: its own analysis process."""
        with self._lock:
            if self._restart:
                self._restart = False
                self._start_link()
        return self._link

    @property
    def in_process(self) -> bool:
        """True when this process analyses (the fallback): no analysis process."""
        return self._link is None

    @property
    def analysis_pid(self) -> int | None:
        link = self._link
        return link.pid if link is not None else None

    @property
    def metrics_source(self) -> Any:
        """The merged state files of the directory: what /metrics reads in this mode."""
        if self._source is None:
            from ..multiprocess.source import MultiprocessSource

            self._source = MultiprocessSource(self.config.multiproc_dir, self.config)
        return self._source

    def snapshot(self) -> Any:
        """What /metrics shows: the merged state files (a collector given this pipeline as
        its source reads this, never the host's unused aggregator)."""
        return self.metrics_source.snapshot()

    # -- producer side ------------------------------------------------------------------

    def submit(self, record: AnswerRecord) -> bool:
        link = self._link if not self._restart else self._restart_link()
        if link is None:
            return super().submit(record)
        try:
            if type(record) is not AnswerRecord and not isinstance(record, AnswerRecord):
                self.count_drop(INVALID_RECORD)
                return False
            return self._send(link, encode_record(record), record)
        except Exception as exc:
            self.report_error(CAPTURE_ERROR, exc)
            return False

    def submit_outcome(self, event: Outcome) -> bool:
        link = self._link if not self._restart else self._restart_link()
        if link is None:
            return super().submit_outcome(event)
        try:
            return self._send(link, encode_outcome(event), event)
        except Exception as exc:
            self.report_error(CAPTURE_ERROR, exc)
            return False

    def submit_deferred(self, fn: Any, nbytes: int = 0) -> bool:
        """An agent turn's loop judgement goes to the analysis process with its evidence
        (the shingling is analysis work); other deferred extractions (span readers) run on
        this process's worker thread."""
        link = self._link if not self._restart else self._restart_link()
        if link is None or type(fn) is not LoopJudgement:
            return super().submit_deferred(fn, nbytes)
        try:
            return self._send(link, encode_judgement(fn), fn)
        except Exception as exc:
            self.report_error(CAPTURE_ERROR, exc)
            return False

    def _send(self, link: AnalysisLink, message: bytes, item: Any) -> bool:
        if self._closed:
            self.count_drop(SHUTDOWN)
            return False
        if link.send(message):
            if self._dropped != self._drops_told:
                self._tell_drops(link)
            return True
        if not link.alive:
            self._lost(link)
            if isinstance(item, Outcome):
                return super().submit_outcome(item)
            if type(item) is LoopJudgement:
                return super().submit_deferred(item)
            return super().submit(item)
        self.count_drop(QUEUE_FULL)
        return False

    def _tell_drops(self, link: AnalysisLink, deadline: float | None = None) -> None:
        """The host's drop counts, for the child's state file: when there is room (a flush
        waits for room until its deadline)."""
        with self._lock:
            dropped = dict(self._dropped)
        message = encode(DROPS, dropped)
        if link.send(message) if deadline is None else link.send_waiting(message, deadline):
            self._drops_told = dropped

    def _lost(self, link: AnalysisLink) -> None:
        if self._link is link:
            self._link = None
            _log.warning("collapse-otel: the analysis process (pid %s) is gone; analysing in "
                         "this process from now on", link.pid)

    # -- the worker thread: deferred extractions only ------------------------------------

    def _analyse(self, records: list[AnswerRecord], outcomes: list[Outcome],
                 markers: list[FlushMarker]) -> None:
        link = self._link
        if link is None:
            super()._analyse(records, outcomes, markers)
            return
        for record in records:
            self._send(link, encode_record(record), record)
        for event in outcomes:
            self._send(link, encode_outcome(event), event)
        for m in markers:
            m.release()

    # -- control ------------------------------------------------------------------------

    def flush(self, timeout: float = 5.0, *, refresh_gauges: bool = True) -> bool:
        link = self._link
        if link is None:
            return super().flush(timeout, refresh_gauges=refresh_gauges)
        deadline = time.monotonic() + timeout
        if not self._drain(timeout):   # deferred extractions forwarded first
            return False
        if self._dropped != self._drops_told:
            self._tell_drops(link, deadline)
        try:
            done, stats = link.request((max(0.0, deadline - time.monotonic()),
                                        refresh_gauges), timeout)
        except LinkError:
            if not link.alive or link.process.poll() is not None:
                self._lost(link)
            return False
        self._child_stats = stats
        return bool(done)

    def barrier(self, action: Any, timeout: float) -> bool:
        """The aggregator lives in the analysis process: no cut to run ``action`` at."""
        if self._link is None:
            return super().barrier(action, timeout)
        return False

    def shutdown(self, timeout: float = 5.0) -> None:
        link = self._link
        if link is None:
            super().shutdown(timeout)
            return
        self.flush(timeout)
        super().shutdown(timeout)
        self._link = None
        link.close(timeout)

    def stats(self) -> PipelineStats:
        """This process's drops and queue, with the analysis process's counters as of the
        last flush."""
        own = super().stats()
        child = self._child_stats
        if child is None or self._link is None and self._aggregator is not None:
            return own
        dropped = dict(child.dropped)
        for reason, n in own.dropped.items():
            dropped[reason] = dropped.get(reason, 0) + n
        return PipelineStats(dropped=dropped, queue_depth=own.queue_depth + child.queue_depth,
                             processing_seconds=child.processing_seconds,
                             records_processed=child.records_processed,
                             intermediate=child.intermediate, duplicates=child.duplicates,
                             outcomes_unmatched=child.outcomes_unmatched,
                             references=child.references)

    def _after_fork(self) -> None:
        """A forked host process gets its own analysis process, started here lazily: the
        parent's stays the parent's."""
        link = getattr(self, "_link", None)
        super()._after_fork()
        self._child_stats, self._drops_told = None, {}
        if link is not None:
            link.forget()
            self._link = None
            self._restart = True

    _restart = False
