"""CollapseSpanProcessor: answers from the GenAI spans an app already emits, any convention.

``on_end`` only classifies the span (a few dict lookups) and queues a deferred extraction; the
worker thread reads the attributes (conventions.py) and joins LLM spans with the retriever spans
of the same trace. Retriever spans usually end before the LLM span in a RAG chain, but arrival
order is not relied on: LLM answers wait in a per-trace buffer (trace_buffer.py) until the
trace's local root span ends (or too many traces are held, or ``hold_seconds`` pass), then take
the ids of the trace's retrievals that ended before the LLM span did, and each user turn of the
trace has its answer picked (spans/trace_turns.py: the other LLM calls count as intermediate).
The bytes a span's attributes hold are charged on the pipeline's queue budget (``queue_mb``,
shared with observe() and the handler) until the worker has read them, and the answers waiting
for their trace's root are bounded by the same number of bytes. Never blocks, never raises.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from functools import partial
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from ..records import AnswerRecord
from ..records.outcomes import Outcome
from ..spans.conventions import (
    LLM,
    SpanFacts,
    capped,
    chain_input,
    chain_output,
    classify,
    extract,
    with_refs,
)
from ..spans.evaluations import evaluation_outcomes, is_evaluation, sdk_events
from ..spans.records import facts_to_record
from ..spans.trace_buffer import MAX_LINKS_PER_TRACE, TraceBuffer
from ..spans.trace_turns import Note, answer_flags
from ..turns.answers import policy_of
from ..turns.loops import span_hit_limit
from ..worker.health import CAPTURE_ERROR, INVALID_EVALUATION
from ..worker.pipeline import Pipeline, attribute_bytes, get_pipeline
from .turn_loops import DROPPED as LOOP_STATE_DROPPED

_log = logging.getLogger(__name__)


class CollapseSpanProcessor(SpanProcessor):
    """Reads finished spans; register it on the app's SDK ``TracerProvider``.

    ``release`` / ``cohort`` / ``service`` override what spans and the resource say.
    """

    def __init__(self, release: str | None = None, cohort: str | None = None,
                 service: str | None = None, pipeline: Pipeline | None = None, *,
                 max_traces: int = 1024, hold_seconds: float = 30.0,
                 max_pending_per_trace: int = 256) -> None:
        self._release, self._cohort, self._service = release, cohort, service
        self._pipeline = pipeline
        self._max_traces = max_traces
        # shared by host threads and the worker; single set/dict/list ops are atomic
        self._open: set[int] = set()
        self._links: dict[int, list[tuple[int, int | None, Note | None]]] = {}
        # worker-thread state only
        self._buffer = TraceBuffer(self._record, hold_seconds=hold_seconds,
                                   max_traces=max_traces,
                                   max_pending_per_trace=max_pending_per_trace,
                                   on_close=self._forget)

    @property
    def pipeline(self) -> Pipeline:
        return self._pipeline if self._pipeline is not None else get_pipeline()

    # -- host thread --------------------------------------------------------------------

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        try:
            raw = getattr(span, "_attributes", None)
            attrs: Mapping[str, Any] | None = getattr(raw, "_dict", None)
            if type(attrs) is not dict:
                attrs = span.attributes
            parent = span.parent
            is_root = parent is None or parent.is_remote
            parent_id = None if is_root or parent is None else parent.span_id
            kind = classify(attrs) if attrs else None
            ctx = span.context
            trace_id = ctx.trace_id
            events = getattr(span, "_events", None)
            if events or is_evaluation(attrs):   # evaluation results (span events, or spans)
                self._evaluations(span, attrs, events, trace_id)
            if kind is not None and attrs:   # a kind is only found in attributes
                if not is_root and trace_id not in self._open:
                    if len(self._open) > 4 * self._max_traces:
                        self._open.clear()  # traces whose items were dropped on a full queue
                        self._links.clear()
                    self._links[trace_id] = []
                    self._open.add(trace_id)
                resource = span.resource.attributes if span.resource is not None else None
                self.pipeline.submit_deferred(partial(
                    self._ingest, kind, attrs, resource, trace_id, ctx.span_id, parent_id,
                    span.end_time or 0, span.name), attribute_bytes(attrs))
            elif trace_id in self._open:
                # an ancestor of GenAI spans (ancestors end after their descendants)
                links = self._links.get(trace_id)
                if links is not None and len(links) < MAX_LINKS_PER_TRACE:
                    chain, output = chain_output(attrs) if attrs else (0, None)
                    asked = chain_input(attrs) if chain and attrs else None
                    status = span.status
                    limit = not status.is_ok and span_hit_limit(attrs, status.description)
                    links.append((ctx.span_id, parent_id,
                                  Note(span.name, chain, output, asked, limit)))
                if is_root:
                    self.pipeline.submit_deferred(partial(self._buffer.close, trace_id))
        except Exception as exc:
            self.pipeline.report_error(CAPTURE_ERROR, exc)

    def _evaluations(self, span: ReadableSpan, attrs: Mapping[str, Any] | None, events: Any,
                     trace_id: int) -> None:
        found = sdk_events(events or ())
        if is_evaluation(attrs):
            found.append(dict(attrs))
        if found:
            resource = span.resource.attributes if span.resource is not None else None
            self.pipeline.submit_deferred(partial(
                self._outcomes, found, dict(attrs) if attrs else None,
                dict(resource) if resource else None, trace_id),
                attribute_bytes(attrs) + sum(map(attribute_bytes, found)))

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Release every held answer and wait until the worker analysed them."""
        try:
            p = self.pipeline
            p.submit_deferred(self._buffer.close_all)
            return p.flush(timeout_millis / 1000.0)
        except Exception as exc:  # pragma: no cover - defensive
            self.pipeline.report_error(CAPTURE_ERROR, exc, 0)
            return False

    def shutdown(self) -> None:
        self.force_flush(5000)

    # -- worker thread ------------------------------------------------------------------

    def _ingest(self, kind: str, attrs: Mapping[str, Any], resource: Mapping[str, Any] | None,
                trace_id: int, span_id: int, parent_id: int | None,
                end_time: int, name: str | None = None) -> list[AnswerRecord]:
        buffer = self._buffer
        config = self.pipeline.config
        policy = buffer.policy = policy_of(config)
        buffer.near_threshold = config.near_duplicate_threshold
        buffer.loops = True
        if buffer.max_bytes is None:   # answers waiting for their root: the queue's bound
            buffer.max_bytes = config.queue_mb << 20
        out = buffer.expire()
        facts = extract(attrs, kind)
        if facts is not None and facts.kind == LLM:
            # None: our own LangChain handler already counted this answer
            facts = None if facts.captured else \
                with_refs(capped(facts, self.pipeline.config.max_answer_chars), trace_id)
        is_root = parent_id is None
        note = Note(name) if facts is not None and facts.kind == LLM else None
        if is_root and trace_id not in buffer:
            if facts is not None and facts.kind == LLM:   # a turn of its own
                assert note is not None   # made for every LLM span just above
                record = self._record(facts, resource, ())
                if not answer_flags([(span_id, end_time, facts)], {}, {span_id: note}, policy)[0]:
                    record = replace(record, intermediate=True)
                out.append(record)
            return out
        trace = buffer.get(trace_id)
        if trace is None:
            trace = buffer.new_trace()
            out.extend(buffer.hold(trace_id, trace))
        overflow = buffer.add_span(trace, span_id, parent_id, end_time, facts, resource, note)
        if overflow is not None:
            out.append(overflow)
        if buffer.tools_dropped:   # tool calls past the loop state's bound
            self.pipeline.count_drop(LOOP_STATE_DROPPED, buffer.tools_dropped)
            buffer.tools_dropped = 0
        if is_root:
            out.extend(buffer.close(trace_id))
        return out

    def _outcomes(self, evaluations: list[dict], attrs: Mapping[str, Any] | None,
                  resource: Mapping[str, Any] | None, trace_id: int) -> list[Outcome]:
        out, invalid = evaluation_outcomes(evaluations, attrs, resource, trace_id,
                                           self.pipeline.config, service=self._service,
                                           release=self._release, cohort=self._cohort)
        if invalid:
            self.pipeline.count_drop(INVALID_EVALUATION, invalid)
        return out

    def _forget(self, trace_id: int) -> list[tuple[int, int | None, Note | None]] | None:
        """The host-thread links of a trace the buffer releases, for its join."""
        self._open.discard(trace_id)
        return self._links.pop(trace_id, None)

    def _record(self, facts: SpanFacts, resource: Mapping[str, Any] | None,
                ids: Any) -> AnswerRecord:
        return facts_to_record(self.pipeline.config, facts, resource, ids,
                               release=self._release, cohort=self._cohort,
                               service=self._service)
