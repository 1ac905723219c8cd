"""The transport-independent core: admit a decoded request whole, or tell the client to retry.

A request is queued as one deferred item on the capture pipeline, so it is taken all or
nothing: a client told to retry (429 / UNAVAILABLE) has had none of its spans counted, and
its retry cannot count any of them twice. Admission is bounded by answers and bytes not yet
analysed plus the bytes held by traces waiting for their root span (one bound, so answers
waiting for a root cannot grow past it), which bounds the server's memory whatever the
clients send. The bytes are what the server holds, not what came over the wire: requests
being decoded reserve their parse and their decoded spans as they grow (``decode``), and a
queued request is charged its decoded spans (an attribute bomb takes 8x its wire size).

With a write-ahead log (wal.py), an admitted request is appended to it before it is queued
and acknowledged. The worker notes which logged requests it has ingested and which of their
traces still wait for a root, so a snapshot taken between two batches (``wal_mark``) says
exactly what a restart must replay: every request after the last one fully counted, and of
those already ingested only the traces that were still held.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

from .. import forksafe
from ..config import CollapseConfig
from ..records import AnswerRecord
from ..records.outcomes import Outcome as RecordOutcome
from ..worker.health import EXTRACT_ERROR, INVALID_EVALUATION
from ..worker.pipeline import Pipeline
from .body import gunzip
from .decode import Batch, DecodeError, Overloaded, batch_of, parse_cost, parse_json, parse_protobuf
from .settings import ServeSettings
from .traces import TraceAssembler, hold_cost
from .wal import GZIP, KIND_JSON, Entry, WriteAheadLog

OK, RETRY, UNAVAILABLE = "ok", "retry", "unavailable"
_PIPELINE_ITEMS = 1_000_000   # the byte/answer gate below is the real bound


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str               # OK | RETRY (queue full) | UNAVAILABLE (starting, stopping)
    rejected: int = 0         # spans refused for good (partial success)
    message: str = ""
    retry_after: int = 0


class ServeStats:
    """Counters of the receiver itself (exported as collapse_serve_*)."""

    def __init__(self) -> None:
        self._lock = forksafe.Lock()
        self.requests: dict[tuple[str, str], int] = {}
        self.spans: dict[str, int] = {}
        self.answers_accepted = 0
        self.snapshots: dict[str, int] = {}
        self.state_corrupt = 0
        self.held_evicted = 0
        self.last_snapshot_time = 0.0
        self.wal_errors = 0          # requests refused because the log could not take them
        self.wal_replayed = 0        # logged requests replayed at start

    def request(self, transport: str, code: str) -> None:
        with self._lock:
            key = (transport, code)
            self.requests[key] = self.requests.get(key, 0) + 1

    def add_spans(self, outcome: str, n: int) -> None:
        if n:
            with self._lock:
                self.spans[outcome] = self.spans.get(outcome, 0) + n

    def snapshot_done(self, outcome: str) -> None:
        with self._lock:
            self.snapshots[outcome] = self.snapshots.get(outcome, 0) + 1


class Receiver:
    """Owns the pipeline (and its aggregator) that every transport feeds."""

    def __init__(self, settings: ServeSettings, config: CollapseConfig,
                 aggregator: object = None) -> None:
        self.settings = settings
        self.config = config
        self.pipeline = Pipeline(replace(config, queue_size=_PIPELINE_ITEMS), aggregator)
        # traces with answers or retrievals still waiting for their root span: their later
        # spans (the root is usually not a GenAI span) must reach the worker too
        self._open: set[bytes] = set()
        # held traces may take half of the byte bound, so the queue always keeps the rest
        self.assembler = TraceAssembler(config, hold_seconds=settings.hold_seconds,
                                        max_traces=settings.max_traces,
                                        on_close=self._trace_closed,
                                        on_error=partial(self.pipeline.report_error,
                                                         EXTRACT_ERROR),
                                        max_bytes=settings.max_queued_bytes // 2,
                                        on_invalid=partial(self.pipeline.count_drop,
                                                           INVALID_EVALUATION))
        self.stats = ServeStats()
        self._lock = forksafe.Lock()
        self.queued_answers = 0
        self.queued_bytes = 0
        self.decoding_bytes = 0  # reserved by requests being decoded (under _lock)
        self.held_bytes = 0      # the assembler's, as of its last change (under _lock)
        self.ready = False
        self.closing = False
        self.snapshot_problem: str | None = None   # why the last snapshot failed, if it did
        self.wal: WriteAheadLog | None = None       # appended to (the ``wal`` setting)
        self.wal_log: WriteAheadLog | None = None   # read at start, whatever the setting
        # worker only: the logged requests each held trace has spans from, and the last
        # logged request ingested (the worker takes them in log order)
        self._held_seqs: dict[bytes, list[int]] = {}
        self._ingested = 0

    def admitted_bytes(self) -> int:
        """Bytes queued, held and being decoded, read together: what the bound bounds."""
        with self._lock:
            return self.queued_bytes + self.held_bytes + self.decoding_bytes

    # -- decoding within the bound ------------------------------------------------------------
    def decode(self, body: bytes | bytearray, json_body: bool = False, extra: int = 0) -> Batch:
        """The request's spans, with their memory reserved: the parsed message (estimated by
        ``parse_cost``, plus ``extra``, e.g. a decompressed body) while it lives, and the
        decoded spans as they grow, kept in ``batch.reserved`` for ``accept``. Overloaded
        (nothing left reserved) when they do not fit; DecodeError."""
        parse = parse_json if json_body else parse_protobuf
        transient = parse_cost(body, json_body) + extra
        self._reserve(transient, 0)
        reserved = transient

        def charge(n: int) -> None:
            nonlocal reserved
            self._reserve(n, reserved)
            reserved += n

        req = None
        error: BaseException | None
        try:
            req = parse(body)
            batch = batch_of(req, charge)
        except BaseException as exc:
            # drop the decode's frames (and the spans they hold) before the bytes are free
            error = exc.with_traceback(None)
        else:
            error = None
        req = None
        if error is not None:
            self.unreserve(reserved)
            try:
                raise error
            finally:   # no frame <-> exception cycle keeping the body until a full collection
                error = None
        self.unreserve(transient)
        return batch

    def _reserve(self, n: int, mine: int) -> None:
        bound = self.settings.max_queued_bytes
        with self._lock:
            if self.queued_bytes + self.held_bytes + self.decoding_bytes + n > bound:
                raise Overloaded(too_large=mine + n > bound)
            self.decoding_bytes += n

    def unreserve(self, n: int) -> None:
        if n:
            with self._lock:
                self.decoding_bytes -= n

    def not_ready(self) -> str | None:
        """Why /readyz answers 503, or None. A failing snapshot fails readiness but not
        intake: what is sent is still counted, only its persistence is at risk."""
        if self.closing:
            return "stopping"
        if not self.ready:
            return "starting"
        return self.snapshot_problem

    def accept(self, batch: Batch,
               logged: tuple[int, bytes | bytearray] | None = None) -> Outcome:
        """Queue the request's spans for analysis, or say why not. Never raises. The bytes
        ``decode`` reserved are taken over or returned. ``logged``: (kind, body as received)
        for the write-ahead log."""
        s = self.settings
        reserved, batch.reserved = batch.reserved, 0
        if self.closing or not self.ready:
            self.unreserve(reserved)
            self.stats.add_spans("refused", batch.spans)
            return Outcome(UNAVAILABLE, message="collapse-otel serve is not ready",
                           retry_after=s.retry_after_seconds)
        message = "; ".join(batch.errors)
        taken = batch.spans - batch.rejected
        opened = self._relevant(batch)
        if not batch.items:    # no GenAI span and nothing waiting for a root: nothing to do
            self.unreserve(reserved)
            self._count_taken(batch, taken)
            return Outcome(OK, batch.rejected, message)
        # admitted bytes: the decoded spans kept and what holding them costs
        nbytes = sum(i.cost for i in batch.items) + hold_cost(batch)
        with self._lock:
            self.decoding_bytes -= reserved
            used = self.queued_bytes + self.held_bytes + self.decoding_bytes
            full = (self.queued_answers and
                    self.queued_answers + batch.answers > s.max_queued_answers) or \
                   (used and used + nbytes > s.max_queued_bytes)
            if full:
                retry = True
            else:
                retry = False
                self.queued_answers += batch.answers
                self.queued_bytes += nbytes
        if retry:
            self.stats.add_spans("refused", batch.spans)
            return Outcome(RETRY, message="collapse-otel serve queue is full; retry later",
                           retry_after=s.retry_after_seconds)
        if opened:   # before the worker can see the batch, so a racing root is not filtered
            if len(self._open) > 4 * self.settings.max_traces:
                self._open.clear()    # ids of traces the worker closed while we raced it
            self._open.update(opened)
        if self.wal is not None and logged is not None:
            queued = self._log_and_queue(batch, nbytes, logged)
        else:
            queued = self.pipeline.submit_deferred(partial(self._work, batch, nbytes))
        if queued is not True:
            if queued is False:
                self._release(batch.answers, nbytes)
            self.stats.add_spans("refused", batch.spans)
            return Outcome(UNAVAILABLE, message="collapse-otel serve is shutting down"
                           if queued is False else queued, retry_after=s.retry_after_seconds)
        self._count_taken(batch, taken)
        return Outcome(OK, batch.rejected, message)

    def _log_and_queue(self, batch: Batch, nbytes: int,
                       logged: tuple[int, bytes | bytearray]) -> bool | str:
        """Append to the log, then queue, under the log's lock (log order = worker order);
        then fsync as the policy says. True; False when not queued (the record is taken
        back); a message when the log failed (not acknowledged: the client retries)."""
        wal = self.wal
        assert wal is not None
        try:
            with wal.lock:
                seq = wal.append(*logged)
                if not self.pipeline.submit_deferred(partial(self._work, batch, nbytes, seq)):
                    wal.undo(seq)
                    return False
        except OSError as exc:
            self._release(batch.answers, nbytes)
            return self._wal_failed("cannot write the write-ahead log", exc)
        try:
            wal.sync(seq)
        except OSError as exc:   # queued, so it counts; but it is not durable as promised
            return self._wal_failed("cannot fsync the write-ahead log", exc)
        return True

    def _wal_failed(self, what: str, exc: OSError) -> str:
        with self.stats._lock:
            self.stats.wal_errors += 1
        self.pipeline.report_error("wal_error", exc, 0)
        return f"collapse-otel serve {what} ({exc.strerror or type(exc).__name__}); retry later"

    def _relevant(self, batch: Batch) -> set[bytes]:
        """Keep only spans of traces with GenAI spans (here or held); return the traces this
        request leaves open (GenAI spans without their root)."""
        genai = {i.trace_id for i in batch.items if i.kind is not None}
        open_ = self._open
        if not genai and not open_ and not any(i.evaluations for i in batch.items):
            batch.items = []
            return set()
        keep = [i for i in batch.items
                if i.trace_id in genai or i.trace_id in open_ or i.evaluations]
        batch.items = keep
        rooted = {i.trace_id for i in keep if i.parent_id is None}
        return genai - rooted

    def _count_taken(self, batch: Batch, taken: int) -> None:
        self.stats.add_spans("accepted", taken)
        self.stats.add_spans("rejected", batch.rejected)
        if batch.answers:
            with self.stats._lock:
                self.stats.answers_accepted += batch.answers

    def _release(self, answers: int, nbytes: int) -> None:
        with self._lock:
            self.queued_answers -= answers
            self.queued_bytes -= nbytes

    def _work(self, batch: Batch, nbytes: int,
              seq: int | None = None) -> list[AnswerRecord | RecordOutcome]:
        """Runs on the pipeline's worker thread. ``seq``: the request's place in the log."""
        try:
            records = self.assembler.ingest(batch)
        except Exception as exc:   # a bug, not the client's: counted, and the bound settled
            self.pipeline.report_error(EXTRACT_ERROR, exc)
            records = []
        if seq is not None:
            held = self.assembler.holds
            for trace_id in {i.trace_id for i in batch.items}:
                if held(trace_id):
                    seqs = self._held_seqs.setdefault(trace_id, [])
                    if not seqs or seqs[-1] != seq:
                        seqs.append(seq)
            self._ingested = max(self._ingested, seq)
        batch.items = []   # the decoded spans are freed before their bytes are released
        return records + self._publish(batch.answers, nbytes)

    def _trace_closed(self, trace_id: bytes) -> None:
        """A trace left the assembler (closed, expired or released early): counted."""
        self._open.discard(trace_id)
        self._held_seqs.pop(trace_id, None)

    # -- the write-ahead log ------------------------------------------------------------------
    def wal_mark(self) -> dict:
        """What a snapshot taken now covers (call on the worker, between batches): every logged
        request up to ``covered`` is fully counted; of those up to ``ingested``, only the spans
        of the ``held`` traces (trace id -> requests) are not."""
        low = min((seqs[0] for seqs in self._held_seqs.values() if seqs),
                  default=self._ingested + 1)
        return {"covered": min(low - 1, self._ingested), "ingested": self._ingested,
                "held": {t.hex(): list(seqs) for t, seqs in self._held_seqs.items() if seqs}}

    def replay(self, entry: Entry, mark: dict) -> bool:
        """Queue a logged request again (at start, before listening), as the worker would have
        taken it: a request the snapshot saw ingested gives only the spans of traces it held.
        Waits for room instead of refusing. False when the body cannot be decoded."""
        covered, ingested = int(mark.get("covered", 0)), int(mark.get("ingested", 0))
        if entry.seq <= covered:
            return True
        try:
            batch = self._decode_logged(entry)
        except DecodeError:
            return False
        if entry.seq <= ingested:
            held = mark.get("held") or {}
            keep = {bytes.fromhex(t) for t, seqs in held.items() if entry.seq in seqs}
            batch.items = [i for i in batch.items if i.trace_id in keep]
            for item in batch.items:
                item.evaluations = None            # counted when it was ingested
            batch.answers = sum(1 for i in batch.items if i.kind == "llm")
            batch.genai = sum(1 for i in batch.items if i.kind is not None)
            rooted = {i.trace_id for i in batch.items if i.parent_id is None}
            opened = {i.trace_id for i in batch.items} - rooted
        else:
            opened = self._relevant(batch)
        nbytes = sum(i.cost for i in batch.items) + hold_cost(batch)
        while True:
            with self._lock:
                used = self.queued_bytes + self.held_bytes
                if not (self.queued_answers and self.queued_answers + batch.answers >
                        self.settings.max_queued_answers) and \
                        not (used and used + nbytes > self.settings.max_queued_bytes):
                    self.queued_answers += batch.answers
                    self.queued_bytes += nbytes
                    break
            self.pipeline.flush(1.0, refresh_gauges=False)   # room comes as the worker goes
        self._open.update(opened)
        self.pipeline.submit_deferred(partial(self._work, batch, nbytes, entry.seq))
        with self.stats._lock:
            self.stats.wal_replayed += 1
        return True

    def _decode_logged(self, entry: Entry) -> Batch:
        body = entry.body
        if entry.kind & GZIP:
            unzipped = gunzip(entry.body, max(self.settings.max_body_bytes, 1 << 30))
            if not isinstance(unzipped, bytes):
                raise DecodeError("logged gzip body does not decompress")
            body = unzipped
        kind = entry.kind & ~GZIP
        req = parse_json(body) if kind == KIND_JSON else parse_protobuf(body)
        return batch_of(req)

    def _publish(self, answers: int = 0, nbytes: int = 0) -> list[AnswerRecord]:
        """Release the batch's admitted bytes and publish what is held, in one step under the
        lock admission takes, so queued + held never exceed the bound as seen there. If what
        the batch added to the held traces does not fit beside what is queued now, the oldest
        held traces are released early (their answers returned for analysis)."""
        with self._lock:
            self.queued_answers -= answers
            self.queued_bytes -= nbytes
            room = max(0, self.settings.max_queued_bytes - self.queued_bytes)
            early = self.assembler.release_to(room) if self.assembler.held_bytes > room else []
            self.held_bytes = self.assembler.held_bytes
        self.stats.held_evicted = self.assembler.evicted
        return early

    def _expire(self) -> list[AnswerRecord]:
        return self.assembler.expire() + self._publish()

    def _close_all(self) -> list[AnswerRecord]:
        return self.assembler.close_all() + self._publish()

    def tick(self) -> None:
        """Let the worker release answers whose trace root never came (called periodically)."""
        if self.assembler.held_traces:
            self.pipeline.submit_deferred(self._expire)

    def drain(self, timeout: float = 30.0) -> bool:
        """Count every held answer and wait until everything queued is analysed."""
        self.pipeline.submit_deferred(self._close_all)
        return self.pipeline.flush(timeout)
