"""What the capture worker does with one batch taken from the queue (a part of Pipeline).

Records and deferred extractions (span readers: callables returning records and outcomes) are
gathered up to ``batch_size``; the answers' references are noted (references.py) before the
ledger keeps or drops them, so feedback in the same batch finds them; the answers are analysed,
then the feedback and evaluation results are counted in their streams. A flush marker ends the
batch: what was queued before it is done when it is released.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

from .health import CAPTURE_ERROR, EXTRACT_ERROR, INVALID_RECORD, SIGNAL_ERROR
from .outcomes import Outcome
from .records import AnswerRecord, StreamKey

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


class WorkerBatches:
    """The batch step of Pipeline's worker thread (state lives on the Pipeline)."""

    _queue: Any
    _ledger: Any
    _references: Any
    _waiting_outcomes: Any     # deque of (monotonic arrival, Outcome)
    _processed: int
    _processing_seconds: float
    config: Any
    aggregator: Any
    count_drop: Callable[..., None]
    report_error: Callable[..., None]
    _release_bytes: Callable[[int], None]

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
