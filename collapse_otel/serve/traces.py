"""Worker-side assembly of received spans into answer records (one code path with capture).

The facts come from spans.conventions.extract, the holding and retrieval join from
spans.trace_buffer and the record from spans.records.facts_to_record, so a span
gives the same record here as in CollapseSpanProcessor. What differs is only when a trace is
held, because spans arrive in OTLP batches rather than one by one: a trace is kept only if it
has answers or retrievals and its local root span was not in the batch (exporters send a
trace's spans as they end and the root ends last, so it usually is). A held answer is cut to
``max_answer_chars`` first, and what held traces cost is bounded in bytes (``max_bytes``, and
what the receiver's bound leaves, see ``release_to``): beyond, the oldest are released early,
counted and never dropped. Only the worker thread touches this.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from ..config import CollapseConfig
from ..records import AnswerRecord
from ..records.outcomes import Outcome
from ..spans.conventions import LLM, SpanFacts, capped, extract, with_refs
from ..spans.evaluations import evaluation_outcomes
from ..spans.records import facts_to_record
from ..spans.trace_buffer import ITEM_COST, LINK_COST, TRACE_COST, Trace, TraceBuffer
from ..turns.answers import policy_of
from .decode import Batch, SpanItem


def hold_cost(batch: Batch) -> int:
    """The most the batch's spans can add to held traces beyond their text, which the request
    bytes already count (a new trace has a GenAI span, so one trace per GenAI span at most).
    Admitted with the request, so that holding them stays in the bound."""
    return LINK_COST * len(batch.items) + (TRACE_COST + ITEM_COST) * batch.genai


class TraceAssembler:
    """Turns batches of decoded spans into AnswerRecords, holding incomplete traces."""

    def __init__(self, config: CollapseConfig, *, hold_seconds: float = 10.0,
                 max_traces: int = 4096, clock: Callable[[], float] = time.monotonic,
                 on_close: Callable[[bytes], None] | None = None,
                 on_error: Callable[[Exception], None] | None = None,
                 max_bytes: int | None = None,
                 on_invalid: Callable[[int], None] | None = None) -> None:
        self._config = config
        self._on_error = on_error or (lambda exc: None)
        self._on_invalid = on_invalid or (lambda n: None)   # unreadable evaluation results
        self._max_bytes = max_bytes
        self._buffer = TraceBuffer(self._record, hold_seconds=hold_seconds,
                                   max_traces=max_traces,
                                   clock=clock,
                                   on_close=on_close,
                                   max_bytes=max_bytes, policy=policy_of(config))
        self._buffer.near_threshold = config.near_duplicate_threshold
        self._buffer.loops = True

    @property
    def held_traces(self) -> int:
        return self._buffer.held

    def holds(self, trace_id: bytes) -> bool:
        return trace_id in self._buffer

    @property
    def held_bytes(self) -> int:
        return self._buffer.held_bytes

    @property
    def evicted(self) -> int:
        return self._buffer.evicted

    def release_to(self, limit: int) -> list[AnswerRecord]:
        """Release the oldest held traces until at most ``limit`` bytes are held."""
        buffer = self._buffer
        buffer.max_bytes = limit if self._max_bytes is None else min(limit, self._max_bytes)
        try:
            return buffer.shrink()
        finally:
            buffer.max_bytes = self._max_bytes

    def ingest(self, batch: Batch) -> list[AnswerRecord | Outcome]:
        out: list[AnswerRecord | Outcome] = list(self.expire())
        for item in batch.items:   # evaluation results: placed by the worker (references.py)
            if item.evaluations:
                out.extend(self._outcomes(item))
        by_trace: dict[bytes, list[SpanItem]] = {}
        for item in batch.items:
            by_trace.setdefault(item.trace_id, []).append(item)
        for trace_id, items in by_trace.items():
            held = self._buffer.get(trace_id)
            genai = held is not None or any(i.kind is not None for i in items)
            if genai:
                out.extend(self._ingest_trace(trace_id, held, items))
        return out

    def _ingest_trace(self, trace_id: bytes, trace: Trace | None,
                      items: list[SpanItem]) -> list[AnswerRecord]:
        out: list[AnswerRecord] = []
        buffer = self._buffer
        if trace is None:
            trace = buffer.new_trace()
        root_seen = False
        for item in items:
            root_seen = root_seen or item.parent_id is None
            facts = self._facts(item) if item.kind is not None else None
            overflow = buffer.add_span(trace, item.span_id, item.parent_id, item.end_time,
                                       facts, item.resource, item.note)
            if overflow is not None:
                out.append(overflow)
        if root_seen:
            out.extend(buffer.close(trace_id, trace))
        elif trace.pending or trace.retrievals or trace.tools or trace.limit:
            out.extend(buffer.hold(trace_id, trace))   # a held trace keeps its first-seen place
        return out

    def _facts(self, item: SpanItem) -> SpanFacts | None:
        try:
            facts = extract(item.attrs or {}, item.kind)
        except Exception as exc:  # conventions never raise on types; a bug must not stop it
            self._on_error(exc)   # counted as a drop (extract_error) and logged once
            return None
        if facts is not None and facts.kind == LLM:
            if facts.captured:
                return None     # collapse-otel's own handler already counted this answer
            return with_refs(capped(facts, self._config.max_answer_chars), item.trace_id)
        return facts

    def _outcomes(self, item: SpanItem) -> list[Outcome]:
        out, invalid = evaluation_outcomes(item.evaluations or (), item.attrs, item.resource,
                                           item.trace_id, self._config)
        if invalid:
            self._on_invalid(invalid)
        return out

    def _record(self, facts: SpanFacts, resource: Mapping[str, Any] | None,
                ids: Any) -> AnswerRecord:
        return facts_to_record(self._config, facts, resource, ids, source="otlp")

    def expire(self, now: float | None = None) -> list[AnswerRecord]:
        """Release answers whose trace root did not come within ``hold_seconds``."""
        return self._buffer.expire(now)

    def close_all(self) -> list[AnswerRecord]:
        return self._buffer.close_all()
