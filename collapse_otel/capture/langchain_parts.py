"""The LangChain handler's helpers: its own OTel spans, and reading LangChain's result objects.

Spans: with an SDK TracerProvider installed (the global one is looked up on every call: an app
may install one after the handler), LLM and retriever runs get ``chat`` / ``retrieval`` spans
with GenAI semantic-convention attributes plus ``collapse.*``, marked ``collapse.captured`` so
a CollapseSpanProcessor on the same provider does not count the answer twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from ..records import AnswerRecord
from ..spans.build import as_count, as_label, first_label

_TRACER_NAME = "collapse_otel.capture.langchain"


class HandlerSpans:
    """Starts and finishes the handler's spans; every method is a no-op when spans are off."""

    def __init__(self, tracer_provider: Any = None, enabled: bool = True) -> None:
        self._provider = tracer_provider
        self._enabled = enabled
        self._cache: tuple[Any, Any] = (None, None)

    def tracer(self) -> Any:
        """The tracer, or None when spans are off or no SDK provider is installed."""
        if not self._enabled:
            return None
        provider = self._provider or trace.get_tracer_provider()
        if isinstance(provider, trace.ProxyTracerProvider):
            return None
        cached_provider, tracer = self._cache
        if cached_provider is not provider:
            tracer = trace.get_tracer(_TRACER_NAME, tracer_provider=provider)
            self._cache = (provider, tracer)
        return tracer

    def start_llm(self, operation: str, model: str | None,
                  metadata: Mapping[str, Any]) -> Any:
        tracer = self.tracer()
        if tracer is None:
            return None
        attrs: dict[str, Any] = {"gen_ai.operation.name": operation, "collapse.captured": True}
        provider = as_label(metadata.get("ls_provider"))
        if provider:
            attrs["gen_ai.provider.name"] = provider
        if model:
            attrs["gen_ai.request.model"] = model
        return tracer.start_span(f"{operation} {model or ''}".strip(), kind=SpanKind.CLIENT,
                                 attributes=attrs)

    @staticmethod
    def finish_llm(span: Any, record: AnswerRecord, text: str | None, content: bool) -> None:
        attrs: dict[str, Any] = {
            "collapse.release": record.release, "collapse.cohort": record.cohort,
            "collapse.service": record.service,
            "collapse.tokens_estimated": record.tokens_estimated,
        }
        if record.prompt_tokens is not None:
            attrs["gen_ai.usage.input_tokens"] = record.prompt_tokens
        if record.completion_tokens is not None:
            attrs["gen_ai.usage.output_tokens"] = record.completion_tokens
        if record.model:
            attrs["gen_ai.response.model"] = record.model
        if record.context_ids:
            attrs["collapse.context_ids"] = record.context_ids
        if content and text is not None:
            attrs["gen_ai.output.messages"] = json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": text}]}])
        span.set_attributes(attrs)
        span.end()

    @staticmethod
    def fail(span: Any, error: BaseException, error_type: bool = True) -> None:
        if span is None:
            return
        span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        if error_type:
            span.set_attribute("error.type", type(error).__name__)
        span.end()

    def start_retriever(self, name: str) -> Any:
        tracer = self.tracer()
        if tracer is None:
            return None
        return tracer.start_span(f"retrieval {name}", kind=SpanKind.CLIENT, attributes={
            "gen_ai.operation.name": "retrieval", "collapse.captured": True})

    @staticmethod
    def finish_retriever(span: Any, ids: Sequence[str]) -> None:
        span.set_attributes({"gen_ai.retrieval.documents": json.dumps([{"id": i} for i in ids]),
                             "collapse.context_ids": tuple(ids)})
        span.end()


def names_of(serialized: Any, kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    """A run's name and tags, for the answer filters."""
    name = run_name(serialized, kwargs)
    tags = kwargs.get("tags")
    tags = tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else ()
    return (name, *tags) if name else tags


def run_name(serialized: Any, kwargs: Mapping[str, Any]) -> str | None:
    """The run's name as LangChain's tracers name it: ``name=`` (run_name), else the
    serialized name, else the last part of the serialized id."""
    name = kwargs.get("name")
    if isinstance(name, str) and name:
        return name
    if isinstance(serialized, Mapping):
        name = serialized.get("name")
        if isinstance(name, str) and name:
            return name
        ident = serialized.get("id")
        if isinstance(ident, list) and ident and isinstance(ident[-1], str):
            return ident[-1]
    return None


def content_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):  # multimodal content blocks
        return sum(len(b) if isinstance(b, str) else
                   len(b.get("text", "")) if isinstance(b, dict) and
                   isinstance(b.get("text"), str) else 0 for b in content)
    return 0


def message_usage(message: Any) -> tuple[int | None, int | None]:
    usage = getattr(message, "usage_metadata", None)
    if isinstance(usage, Mapping):
        return as_count(usage.get("input_tokens")), as_count(usage.get("output_tokens"))
    return None, None


def llm_output_usage(llm_output: Any) -> tuple[int | None, int | None]:
    if not isinstance(llm_output, Mapping):
        return None, None
    usage = llm_output.get("token_usage") or llm_output.get("usage")
    if not isinstance(usage, Mapping):
        return None, None
    prompt = as_count(usage.get("prompt_tokens", usage.get("input_tokens")))
    completion = as_count(usage.get("completion_tokens", usage.get("output_tokens")))
    return prompt, completion


def response_model(message: Any, llm_output: Any) -> str | None:
    meta = getattr(message, "response_metadata", None)
    if isinstance(meta, Mapping):
        model = first_label(meta.get("model_name"), meta.get("model"))
        if model:
            return model
    if isinstance(llm_output, Mapping):
        return first_label(llm_output.get("model_name"), llm_output.get("model"))
    return None


def _hex(run_id: Any) -> str:
    return f"{run_id:032x}" if type(run_id) is int else run_id.hex


def answer_refs(root: Any, run_id: Any, span: Any) -> tuple[str, ...]:
    """What feedback can name an answer by (collapse_otel.records.outcomes): the root run id of its
    turn, the LLM run's own id (UUIDs, or their ints), and the trace id of the handler's
    span when it emits one."""
    refs = [f"run:{_hex(root)}"] if root == run_id else \
        [f"run:{_hex(root)}", f"run:{_hex(run_id)}"]
    if span is not None:
        trace_id = span.get_span_context().trace_id
        if trace_id:
            refs.append(f"trace:{trace_id:032x}")
    return tuple(refs)
