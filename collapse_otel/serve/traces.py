"""Worker-side assembly of received spans into answer records (one code path with capture).

The facts come from capture.conventions.extract, the retrieval join from
capture.trace_join.join_context_ids and the record from capture.span_processor's
facts_to_record, so a span gives the same record here as in CollapseSpanProcessor. What
differs is only the buffering, because spans arrive in OTLP batches rather than one by one:
an LLM answer waits in its trace until the trace's local root span arrives (usually in the
same request, since exporters send a trace's spans as they end and the root ends last), or
``hold_seconds`` pass, or ``max_traces`` traces are open. Only the worker thread touches this.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from ..capture.conventions import LLM, RETRIEVER, SpanFacts, extract
from ..capture.span_processor import facts_to_record
from ..capture.trace_join import join_context_ids
from ..config import CollapseConfig
from ..records import AnswerRecord
from .decode import Batch, SpanItem

MAX_PENDING_PER_TRACE = 256
MAX_LINKS_PER_TRACE = 10_000


class _Trace:
    __slots__ = ("first_seen", "pending", "retrievals", "parents")

    def __init__(self, now: float) -> None:
        self.first_seen = now
        self.pending: list[tuple[int, int, SpanFacts, Mapping[str, Any] | None]] = []
        self.retrievals: list[tuple[int, int, tuple[str, ...]]] = []
        self.parents: dict[int, int | None] = {}


class TraceAssembler:
    """Turns batches of decoded spans into AnswerRecords, holding incomplete traces."""

    def __init__(self, config: CollapseConfig, *, hold_seconds: float = 10.0,
                 max_traces: int = 4096, clock: Callable[[], float] = time.monotonic,
                 on_close: Callable[[bytes], None] | None = None) -> None:
        self._config = config
        self._on_close = on_close or (lambda trace_id: None)
        self._hold = hold_seconds
        self._max_traces = max_traces
        self._clock = clock
        self._traces: OrderedDict[bytes, _Trace] = OrderedDict()
        self.extract_errors = 0

    @property
    def held_traces(self) -> int:
        return len(self._traces)

    def ingest(self, batch: Batch) -> list[AnswerRecord]:
        out = self.expire()
        by_trace: dict[bytes, list[SpanItem]] = {}
        for item in batch.items:
            by_trace.setdefault(item.trace_id, []).append(item)
        for trace_id, items in by_trace.items():
            held = self._traces.get(trace_id)
            genai = held is not None or any(i.kind is not None for i in items)
            if genai:
                out.extend(self._ingest_trace(trace_id, held, items))
        return out

    def _ingest_trace(self, trace_id: bytes, trace: _Trace | None,
                      items: list[SpanItem]) -> list[AnswerRecord]:
        out: list[AnswerRecord] = []
        if trace is None:
            trace = _Trace(self._clock())
        root_seen = False
        for item in items:
            if len(trace.parents) < MAX_LINKS_PER_TRACE:
                trace.parents[item.span_id] = item.parent_id
            root_seen = root_seen or item.parent_id is None
            if item.kind is None:
                continue
            facts = self._facts(item)
            if facts is None:
                continue
            if facts.kind == RETRIEVER:
                if facts.context_ids and len(trace.retrievals) < MAX_PENDING_PER_TRACE:
                    trace.retrievals.append((item.span_id, item.end_time, facts.context_ids))
            elif len(trace.pending) < MAX_PENDING_PER_TRACE:
                trace.pending.append((item.span_id, item.end_time, facts, item.resource))
            else:
                out.append(self._record(facts, item.resource, ()))
        if root_seen:
            self._traces.pop(trace_id, None)
            self._on_close(trace_id)
            out.extend(self._join(trace))
        elif trace.pending or trace.retrievals:
            self._traces[trace_id] = trace     # stays in first-seen order for expire()
            while len(self._traces) > self._max_traces:
                out.extend(self._pop_oldest())
        return out

    def _facts(self, item: SpanItem) -> SpanFacts | None:
        try:
            facts = extract(item.attrs or {}, item.kind)
        except Exception:   # conventions never raise on types; a bug must not stop the worker
            self.extract_errors += 1
            return None
        if facts is not None and facts.kind == LLM and facts.captured:
            return None     # collapse-otel's own handler already counted this answer
        return facts

    def _join(self, trace: _Trace) -> list[AnswerRecord]:
        if not trace.pending:
            return []
        joined = join_context_ids([(sid, end) for sid, end, _, _ in trace.pending],
                                  trace.retrievals, trace.parents)
        return [self._record(facts, resource, ids)
                for (_, _, facts, resource), ids in zip(trace.pending, joined, strict=True)]

    def _record(self, facts: SpanFacts, resource: Mapping[str, Any] | None,
                ids: Any) -> AnswerRecord:
        return facts_to_record(self._config, facts, resource, ids)

    def expire(self, now: float | None = None) -> list[AnswerRecord]:
        """Release answers whose trace root did not come within ``hold_seconds``."""
        out: list[AnswerRecord] = []
        limit = (self._clock() if now is None else now) - self._hold
        while self._traces:
            trace_id, trace = next(iter(self._traces.items()))
            if trace.first_seen > limit:
                break
            out.extend(self._pop_oldest())
        return out

    def close_all(self) -> list[AnswerRecord]:
        out: list[AnswerRecord] = []
        while self._traces:
            out.extend(self._pop_oldest())
        return out

    def _pop_oldest(self) -> list[AnswerRecord]:
        trace_id, trace = self._traces.popitem(last=False)
        self._on_close(trace_id)
        return self._join(trace)
