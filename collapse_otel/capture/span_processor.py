"""CollapseSpanProcessor: answers from the GenAI spans an app already emits, any convention.

``on_end`` only classifies the span (a few dict lookups) and queues a deferred extraction; the
worker thread reads the attributes (conventions.py) and joins LLM spans with the retriever spans
of the same trace. Retriever spans usually end before the LLM span in a RAG chain, but arrival
order is not relied on: LLM answers wait in a small per-trace buffer until the trace's local
root span ends (or the buffer is full, or ``hold_seconds`` pass), then take the ids of the
trace's retrievals that ended before the LLM span did. Never blocks, never raises.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from functools import partial
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from ..config import CollapseConfig
from ..records import AnswerRecord
from .build import estimate_tokens, estimate_tokens_from_chars, first_label, make_record
from .conventions import (
    LLM,
    RETRIEVER,
    SpanFacts,
    classify,
    extract,
    resource_release,
    resource_service,
)
from .pipeline import CAPTURE_ERROR, Pipeline, get_pipeline
from .trace_join import join_context_ids

_log = logging.getLogger(__name__)
MAX_LINKS_PER_TRACE = 10_000


class _Trace:
    __slots__ = ("first_seen", "pending", "retrievals", "parents")

    def __init__(self, now: float) -> None:
        self.first_seen = now
        self.pending: list[tuple[int, int, SpanFacts, Mapping[str, Any] | None]] = []
        self.retrievals: list[tuple[int, int, tuple[str, ...]]] = []
        self.parents: dict[int, int | None] = {}


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
        self._hold = hold_seconds
        self._max_pending = max_pending_per_trace
        # shared by host threads and the worker; single set/dict/list ops are atomic
        self._open: set[int] = set()
        self._links: dict[int, list[tuple[int, int | None]]] = {}
        # worker-thread state only
        self._traces: OrderedDict[int, _Trace] = OrderedDict()

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
                    self.pipeline.submit_deferred(partial(self._close, trace_id))
        except Exception as exc:
            self.pipeline.report_error(CAPTURE_ERROR, exc)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Release every held answer and wait until the worker analysed them."""
        try:
            p = self.pipeline
            p.submit_deferred(self._close_all)
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
        out = self._expire()
        facts = extract(attrs, kind)
        if facts is not None and facts.kind == LLM and facts.captured:
            facts = None  # our own LangChain handler already counted this answer
        is_root = parent_id is None
        if is_root and trace_id not in self._traces:
            if facts is not None and facts.kind == LLM:
                out.append(self._record(facts, resource, ()))
            return out
        trace = self._traces.get(trace_id)
        if trace is None:
            trace = self._traces[trace_id] = _Trace(time.monotonic())
            if len(self._traces) > self._max_traces:
                out.extend(self._close(next(iter(self._traces))))
        trace.parents[span_id] = parent_id
        if facts is not None:
            if facts.kind == RETRIEVER and facts.context_ids:
                if len(trace.retrievals) < self._max_pending:
                    trace.retrievals.append((span_id, end_time, facts.context_ids))
            elif facts.kind == LLM:
                if len(trace.pending) < self._max_pending:
                    trace.pending.append((span_id, end_time, facts, resource))
                else:
                    out.append(self._record(facts, resource, ()))
        if is_root:
            out.extend(self._close(trace_id))
        return out

    def _close(self, trace_id: int) -> list[AnswerRecord]:
        self._open.discard(trace_id)
        links = self._links.pop(trace_id, None) or ()
        trace = self._traces.pop(trace_id, None)
        if trace is None:
            return []
        parents = dict(links)
        parents.update(trace.parents)
        joined = join_context_ids([(sid, end) for sid, end, _, _ in trace.pending],
                                  trace.retrievals, parents)
        return [self._record(facts, resource, ids)
                for (_, _, facts, resource), ids in zip(trace.pending, joined, strict=True)]

    def _close_all(self) -> list[AnswerRecord]:
        out: list[AnswerRecord] = []
        for trace_id in list(self._traces):
            out.extend(self._close(trace_id))
        return out

    def _expire(self) -> list[AnswerRecord]:
        out: list[AnswerRecord] = []
        if not self._traces:
            return out
        limit = time.monotonic() - self._hold
        while self._traces:
            trace_id, trace = next(iter(self._traces.items()))
            if trace.first_seen > limit:
                break
            out.extend(self._close(trace_id))
        return out

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
    prompt, completion = facts.prompt_tokens, facts.completion_tokens
    estimated = False
    if completion is None and facts.answer is not None:
        completion, estimated = estimate_tokens(facts.answer), True
    if prompt is None and facts.prompt_chars:
        prompt, estimated = estimate_tokens_from_chars(facts.prompt_chars), True
    env_release = config.release if config.release != "unknown" else None
    env_service = config.service if config.service != "unknown_service" else None
    ids = context_ids if context_ids else facts.context_ids
    return make_record(
        config, facts.answer, prompt_tokens=prompt, completion_tokens=completion,
        context_ids=ids, model=facts.model,
        service=first_label(service, env_service, resource_service(resource)),
        release=first_label(release, facts.release, env_release, resource_release(resource)),
        cohort=first_label(cohort, facts.cohort),
        timestamp=timestamp, tokens_estimated=estimated)
