"""CollapseSpanProcessor: answers from the GenAI spans an app already emits, any convention.

``on_end`` only classifies the span (a few dict lookups) and queues a deferred extraction; the
worker thread reads the attributes (conventions.py) and joins LLM spans with the retriever spans
of the same trace. Retriever spans usually end before the LLM span in a RAG chain, but arrival
order is not relied on: LLM answers wait in a per-trace buffer (trace_buffer.py) until the
trace's local root span ends (or too many traces are held, or ``hold_seconds`` pass), then take
the ids of the trace's retrievals that ended before the LLM span did. Never blocks, never raises.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from ..config import CollapseConfig
from ..records import AnswerRecord
from .build import first_label, make_record
from .conventions import (
    LLM,
    SpanFacts,
    capped,
    classify,
    extract,
    resource_release,
    resource_service,
)
from .pipeline import CAPTURE_ERROR, Pipeline, get_pipeline
from .trace_buffer import MAX_LINKS_PER_TRACE, TraceBuffer

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
        self._links: dict[int, list[tuple[int, int | None]]] = {}
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
            attrs = getattr(raw, "_dict", None)
            if type(attrs) is not dict:
                attrs = span.attributes
            parent = span.parent
            is_root = parent is None or parent.is_remote
            parent_id = None if is_root else parent.span_id
            kind = classify(attrs) if attrs else None
            ctx = span.context
            trace_id = ctx.trace_id
            if kind is not None:
                if not is_root and trace_id not in self._open:
                    if len(self._open) > 4 * self._max_traces:
                        self._open.clear()  # traces whose items were dropped on a full queue
                        self._links.clear()
                    self._links[trace_id] = []
                    self._open.add(trace_id)
                resource = span.resource.attributes if span.resource is not None else None
                self.pipeline.submit_deferred(partial(
                    self._ingest, kind, attrs, resource, trace_id, ctx.span_id, parent_id,
                    span.end_time or 0))
            elif trace_id in self._open:
                # an ancestor of GenAI spans (ancestors end after their descendants)
                links = self._links.get(trace_id)
                if links is not None and len(links) < MAX_LINKS_PER_TRACE:
                    links.append((ctx.span_id, parent_id))
                if is_root:
                    self.pipeline.submit_deferred(partial(self._buffer.close, trace_id))
        except Exception as exc:
            self.pipeline.report_error(CAPTURE_ERROR, exc)

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
                end_time: int) -> list[AnswerRecord]:
        buffer = self._buffer
        out = buffer.expire()
        facts = extract(attrs, kind)
        if facts is not None and facts.kind == LLM:
            # None: our own LangChain handler already counted this answer
            facts = None if facts.captured else capped(facts, self.pipeline.config.max_answer_chars)
        is_root = parent_id is None
        if is_root and trace_id not in buffer:
            if facts is not None and facts.kind == LLM:
                out.append(self._record(facts, resource, ()))
            return out
        trace = buffer.get(trace_id)
        if trace is None:
            trace = buffer.new_trace()
            out.extend(buffer.hold(trace_id, trace))
        overflow = buffer.add_span(trace, span_id, parent_id, end_time, facts, resource)
        if overflow is not None:
            out.append(overflow)
        if is_root:
            out.extend(buffer.close(trace_id))
        return out

    def _forget(self, trace_id: int) -> list[tuple[int, int | None]] | None:
        """The host-thread links of a trace the buffer releases, for its join."""
        self._open.discard(trace_id)
        return self._links.pop(trace_id, None)

    def _record(self, facts: SpanFacts, resource: Mapping[str, Any] | None,
                ids: Any) -> AnswerRecord:
        return facts_to_record(self.pipeline.config, facts, resource, ids,
                               release=self._release, cohort=self._cohort,
                               service=self._service)


def facts_to_record(config: CollapseConfig, facts: SpanFacts,
                    resource: Mapping[str, Any] | None, context_ids: Any = (), *,
                    release: str | None = None, cohort: str | None = None,
                    service: str | None = None, timestamp: float | None = None) -> AnswerRecord:
    """One AnswerRecord from an LLM span's facts (shared with the OTLP receiver).

    Labels: explicit argument > span (collapse.*, run metadata) > COLLAPSE_OTEL_* env >
    resource (service.version / service.name) > defaults. Missing token usage is estimated
    from the text on the span and flagged, never reported as 0.
    """
    env_release = config.release if config.release != "unknown" else None
    env_service = config.service if config.service != "unknown_service" else None
    ids = context_ids if context_ids else facts.context_ids
    return make_record(
        config, facts.answer, prompt_tokens=facts.prompt_tokens,
        completion_tokens=facts.completion_tokens, prompt_chars=facts.prompt_chars,
        context_ids=ids, model=facts.model, tokens_estimated=facts.completion_estimated,
        service=first_label(service, env_service, resource_service(resource)),
        release=first_label(release, facts.release, env_release, resource_release(resource)),
        cohort=first_label(cohort, facts.cohort),
        timestamp=timestamp)
