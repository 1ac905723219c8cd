"""CollapseCallbackHandler: one AnswerRecord per LangChain LLM generation.

The handler keeps a bounded map of run -> parent run so that a generation can find the
documents retrieved earlier in the same run tree (a RAG chain, a LangGraph graph). It does no
text analysis: it reads what LangChain hands it, builds a record and queues it. Every callback
body is guarded, so nothing raises into the user's chain. It also emits OTel spans for LLM and
retriever runs (GenAI semantic conventions plus ``collapse.*``), marked ``collapse.captured`` so
that a CollapseSpanProcessor on the same provider does not count the answer twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from ..pipeline import CAPTURE_ERROR, Pipeline, get_pipeline
from ..spans.build import (
    as_count,
    as_label,
    as_text,
    document_id,
    first_label,
    make_record,
)

_TRACER_NAME = "collapse_otel.capture.langchain"
MAX_CONTEXT_IDS_PER_ROOT = 256
MAX_DEPTH = 64


class _LLMRun:
    __slots__ = ("model", "prompt_chars", "release", "cohort", "service", "span")

    def __init__(self, model: str | None, prompt_chars: list[int], metadata: Mapping[str, Any],
                 span: Any) -> None:
        self.model = model
        self.prompt_chars = prompt_chars
        self.release = metadata.get("release")
        self.cohort = metadata.get("cohort")
        self.service = metadata.get("service")
        self.span = span


class CollapseCallbackHandler(BaseCallbackHandler):
    """Add to ``callbacks=[...]`` (or let :func:`collapse_otel.instrument` inject it).

    ``release`` / ``cohort`` / ``service`` win over run metadata keys of the same name, which
    win over COLLAPSE_OTEL_* env vars and the defaults.
    """

    run_inline = True   # cheap and non-blocking: no thread-pool hop in async chains
    raise_error = False

    def __init__(self, release: str | None = None, cohort: str | None = None,
                 service: str | None = None, pipeline: Pipeline | None = None,
                 tracer_provider: Any = None, *, emit_spans: bool = True,
                 max_runs: int = 10_000) -> None:
        super().__init__()
        self.release, self.cohort, self.service = release, cohort, service
        self._pipeline = pipeline
        self._emit_spans = emit_spans
        self._tracer_provider = tracer_provider
        self._tracer_cache: tuple[Any, Any] = (None, None)
        self._max_runs = max_runs
        self._lock = threading.Lock()
        self._parents: OrderedDict[UUID, UUID | None] = OrderedDict()
        self._llm: dict[UUID, _LLMRun] = {}
        self._retrievers: dict[UUID, Any] = {}
        self._context: OrderedDict[UUID, list[str]] = OrderedDict()
        _HANDLERS.add(self)
        _ensure_fork_hook()

    def _get_tracer(self) -> Any:
        """The tracer, or None when spans are off or no SDK provider is installed (the
        global provider is looked up each time: an app may install one after us)."""
        if not self._emit_spans:
            return None
        provider = self._tracer_provider or trace.get_tracer_provider()
        if isinstance(provider, trace.ProxyTracerProvider):
            return None
        cached_provider, tracer = self._tracer_cache
        if cached_provider is not provider:
            tracer = trace.get_tracer(_TRACER_NAME, tracer_provider=provider)
            self._tracer_cache = (provider, tracer)
        return tracer

    @property
    def pipeline(self) -> Pipeline:
        return self._pipeline if self._pipeline is not None else get_pipeline()

    def _fail(self, exc: BaseException) -> None:
        with contextlib.suppress(Exception):
            self.pipeline.report_error(CAPTURE_ERROR, exc)

    # -- run tree ---------------------------------------------------------------------------

    def _start(self, run_id: UUID, parent_run_id: UUID | None) -> None:
        with self._lock:
            parents = self._parents
            parents[run_id] = parent_run_id
            if len(parents) > self._max_runs:
                old, _ = parents.popitem(last=False)
                self._llm.pop(old, None)
                span = self._retrievers.pop(old, None)
                if span is not None:
                    span.end()

    def _root(self, run_id: UUID) -> UUID:
        parents, rid = self._parents, run_id
        for _ in range(MAX_DEPTH):
            parent = parents.get(rid)
            if parent is None:
                return rid
            rid = parent
        return rid

    def _end(self, run_id: UUID, parent_run_id: UUID | None) -> None:
        with self._lock:
            self._parents.pop(run_id, None)
            if parent_run_id is None:
                self._context.pop(run_id, None)

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID,
                       parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        try:
            self._start(run_id, parent_run_id)
        except Exception as exc:
            self._fail(exc)

    def on_tool_start(self, serialized: Any, input_str: Any, *, run_id: UUID,
                      parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        self.on_chain_start(serialized, input_str, run_id=run_id, parent_run_id=parent_run_id)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
                     **kwargs: Any) -> None:
        try:
            self._end(run_id, parent_run_id)
        except Exception as exc:
            self._fail(exc)

    def on_chain_error(self, error: BaseException, *, run_id: UUID,
                       parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        self.on_chain_end(None, run_id=run_id, parent_run_id=parent_run_id)

    on_tool_end = on_chain_end
    on_tool_error = on_chain_error

    # -- LLM runs -------------------------------------------------------------------------

    def on_chat_model_start(self, serialized: Any, messages: list[list[Any]], *, run_id: UUID,
                            parent_run_id: UUID | None = None,
                            metadata: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        try:
            chars = [sum(_content_chars(getattr(m, "content", None)) for m in msgs)
                     for msgs in messages]
            self._llm_start(serialized, chars, run_id, parent_run_id, metadata, kwargs, "chat")
        except Exception as exc:
            self._fail(exc)

    def on_llm_start(self, serialized: Any, prompts: list[str], *, run_id: UUID,
                     parent_run_id: UUID | None = None,
                     metadata: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        try:
            chars = [len(p) if isinstance(p, str) else 0 for p in prompts]
            self._llm_start(serialized, chars, run_id, parent_run_id, metadata, kwargs,
                            "text_completion")
        except Exception as exc:
            self._fail(exc)

    def _llm_start(self, serialized: Any, chars: list[int], run_id: UUID,
                   parent_run_id: UUID | None, metadata: Mapping[str, Any] | None,
                   kwargs: Mapping[str, Any], operation: str) -> None:
        metadata = metadata or {}
        params = kwargs.get("invocation_params") or {}
        model = first_label(metadata.get("ls_model_name"), params.get("model"),
                            params.get("model_name"))
        span = None
        tracer = self._get_tracer()
        if tracer is not None:
            attrs: dict[str, Any] = {"gen_ai.operation.name": operation, "collapse.captured": True}
            provider = as_label(metadata.get("ls_provider"))
            if provider:
                attrs["gen_ai.provider.name"] = provider
            if model:
                attrs["gen_ai.request.model"] = model
            span = tracer.start_span(f"{operation} {model or ''}".strip(),
                                           kind=SpanKind.CLIENT, attributes=attrs)
        self._start(run_id, parent_run_id)
        self._llm[run_id] = _LLMRun(model, chars, metadata, span)

    def on_llm_end(self, response: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
                   **kwargs: Any) -> None:
        try:
            run = self._llm.pop(run_id, None)
            with self._lock:
                ids = tuple(self._context.get(self._root(run_id), ()))
            self._end(run_id, parent_run_id)
            self._llm_end(response, run, ids)
        except Exception as exc:
            self._fail(exc)

    def _llm_end(self, response: Any, run: _LLMRun | None, ids: tuple[str, ...]) -> None:
        generations = getattr(response, "generations", None) or []
        llm_output = getattr(response, "llm_output", None) or {}
        usage = _llm_output_usage(llm_output) if len(generations) == 1 else (None, None)
        config = self.pipeline.config
        for i, gens in enumerate(generations):
            if not gens:
                continue
            gen = gens[0]
            message = getattr(gen, "message", None)
            text = as_text(getattr(gen, "text", None))
            if message is not None and getattr(message, "tool_calls", None) and not text:
                text = None  # a tool-call step, not an answer: tokens count, text does not
            prompt, completion = _message_usage(message)
            if prompt is None and completion is None:
                prompt, completion = usage
            chars = run.prompt_chars[i] if run is not None and i < len(run.prompt_chars) else 0
            model = first_label(_response_model(message, llm_output), run and run.model)
            record = make_record(
                config, text, prompt_tokens=prompt, completion_tokens=completion,
                context_ids=ids, model=model,
                service=first_label(self.service, run and run.service),
                release=first_label(self.release, run and run.release),
                cohort=first_label(self.cohort, run and run.cohort),
                timestamp=time.time(), prompt_chars=chars)
            self.pipeline.submit(record)
            if i == 0 and run is not None and run.span is not None:
                self._finish_llm_span(run.span, record, text, config.capture_message_content)
        if run is not None and run.span is not None and not generations:
            run.span.end()

    def _finish_llm_span(self, span: Any, record: Any, text: str | None, content: bool) -> None:
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

    def on_llm_error(self, error: BaseException, *, run_id: UUID,
                     parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        try:
            run = self._llm.pop(run_id, None)
            self._end(run_id, parent_run_id)
            if run is not None and run.span is not None:
                run.span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                run.span.set_attribute("error.type", type(error).__name__)
                run.span.end()
        except Exception as exc:
            self._fail(exc)

    # -- retriever runs -------------------------------------------------------------------

    def on_retriever_start(self, serialized: Any, query: str, *, run_id: UUID,
                           parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        try:
            self._start(run_id, parent_run_id)
            tracer = self._get_tracer()
            if tracer is not None:
                name = kwargs.get("name") or (serialized or {}).get("name") or "retriever"
                self._retrievers[run_id] = tracer.start_span(
                    f"retrieval {name}", kind=SpanKind.CLIENT,
                    attributes={"gen_ai.operation.name": "retrieval", "collapse.captured": True})
        except Exception as exc:
            self._fail(exc)

    def on_retriever_end(self, documents: Sequence[Any], *, run_id: UUID,
                         parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        try:
            ids = [i for d in list(documents)[:MAX_CONTEXT_IDS_PER_ROOT]
                   if (i := document_id(getattr(d, "id", None), getattr(d, "metadata", None),
                                        getattr(d, "page_content", None)))]
            with self._lock:
                root = self._root(run_id)
                if root != run_id:
                    bucket = self._context.get(root)
                    if bucket is None:
                        bucket = self._context[root] = []
                        if len(self._context) > self._max_runs:
                            self._context.popitem(last=False)
                    bucket.extend(ids[: MAX_CONTEXT_IDS_PER_ROOT - len(bucket)])
            self._end(run_id, parent_run_id)
            span = self._retrievers.pop(run_id, None)
            if span is not None:
                span.set_attributes({
                    "gen_ai.retrieval.documents": json.dumps([{"id": i} for i in ids]),
                    "collapse.context_ids": tuple(ids)})
                span.end()
        except Exception as exc:
            self._fail(exc)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID,
                           parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        try:
            self._end(run_id, parent_run_id)
            span = self._retrievers.pop(run_id, None)
            if span is not None:
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                span.end()
        except Exception as exc:
            self._fail(exc)


_HANDLERS: weakref.WeakSet[CollapseCallbackHandler] = weakref.WeakSet()
_fork_hook = False


def _after_fork_in_child() -> None:
    """A lock held by another thread at fork() time would stay locked in the child."""
    for h in list(_HANDLERS):
        h._lock = threading.Lock()


def _ensure_fork_hook() -> None:
    global _fork_hook
    if not _fork_hook and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _fork_hook = True


def _content_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):  # multimodal content blocks
        return sum(len(b) if isinstance(b, str) else
                   len(b.get("text", "")) if isinstance(b, dict) and
                   isinstance(b.get("text"), str) else 0 for b in content)
    return 0


def _message_usage(message: Any) -> tuple[int | None, int | None]:
    usage = getattr(message, "usage_metadata", None)
    if isinstance(usage, Mapping):
        return as_count(usage.get("input_tokens")), as_count(usage.get("output_tokens"))
    return None, None


def _llm_output_usage(llm_output: Any) -> tuple[int | None, int | None]:
    if not isinstance(llm_output, Mapping):
        return None, None
    usage = llm_output.get("token_usage") or llm_output.get("usage")
    if not isinstance(usage, Mapping):
        return None, None
    prompt = as_count(usage.get("prompt_tokens", usage.get("input_tokens")))
    completion = as_count(usage.get("completion_tokens", usage.get("output_tokens")))
    return prompt, completion


def _response_model(message: Any, llm_output: Any) -> str | None:
    meta = getattr(message, "response_metadata", None)
    if isinstance(meta, Mapping):
        model = first_label(meta.get("model_name"), meta.get("model"))
        if model:
            return model
    if isinstance(llm_output, Mapping):
        return first_label(llm_output.get("model_name"), llm_output.get("model"))
    return None
