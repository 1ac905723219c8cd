"""The OTel util-genai completion hook: answers from any instrumentation built on util-genai.

``opentelemetry-util-genai`` calls the hook named by ``OTEL_INSTRUMENTATION_GENAI_COMPLETION_HOOK``
(entry point group ``opentelemetry_genai_completion_hook``) with the output messages of every
inference, even when content capture on spans is off: the text reaches the in-process aggregator
without ever being put on a span. Tokens, model and labels are read from the invocation's span;
the span is marked ``collapse.captured`` so a CollapseSpanProcessor does not count it twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from ..records import AnswerRecord
from ..spans.build import as_text
from ..spans.conventions import LLM, LLM_OPERATIONS, SpanFacts, extract
from ..spans.records import facts_to_record
from ..worker.health import CAPTURE_ERROR
from ..worker.pipeline import Pipeline, get_pipeline


class CollapseCompletionHook:
    """A util-genai ``CompletionHook``; the entry point builds it with no arguments."""

    def __init__(self, release: str | None = None, cohort: str | None = None,
                 service: str | None = None, pipeline: Pipeline | None = None) -> None:
        self.release, self.cohort, self.service = release, cohort, service
        self._pipeline = pipeline

    @property
    def pipeline(self) -> Pipeline:
        return self._pipeline if self._pipeline is not None else get_pipeline()

    def on_completion(self, *, inputs: Sequence[Any] = (), outputs: Sequence[Any] = (),
                      system_instruction: Sequence[Any] = (), tool_definitions: Any = None,
                      span: Any = None, log_record: Any = None) -> None:
        try:
            self._capture(inputs, outputs, system_instruction, span)
        except Exception as exc:
            with contextlib.suppress(Exception):
                self.pipeline.report_error(CAPTURE_ERROR, exc)

    def _capture(self, inputs: Sequence[Any], outputs: Sequence[Any],
                 system_instruction: Sequence[Any], span: Any) -> None:
        """Host thread: only the cheap reads (the message texts, a copy of the attributes);
        parsing the span's attributes runs on the worker (``_record``)."""
        attrs = getattr(span, "attributes", None)
        attrs = dict(attrs) if isinstance(attrs, Mapping) else {}
        if attrs.get("gen_ai.operation.name") not in (None, *LLM_OPERATIONS):
            return  # embeddings, tools, agents, retrievals: not answers
        text = _first_output_text(outputs)
        prompt_chars = sum(len(t) for m in (*system_instruction, *inputs)
                           for t in _texts(getattr(m, "parts", None) or [m]))
        resource = getattr(getattr(span, "resource", None), "attributes", None)
        queued = self.pipeline.submit_deferred(
            partial(self._record, attrs, text, prompt_chars, resource))
        if queued and span is not None and span.is_recording():
            span.set_attribute("collapse.captured", True)

    def _record(self, attrs: Mapping[str, Any], text: str | None, prompt_chars: int,
                resource: Mapping[str, Any] | None) -> list[AnswerRecord]:
        facts = extract(attrs, LLM) or SpanFacts(LLM)
        facts = replace(facts, answer=text if text is not None else facts.answer,
                        prompt_chars=prompt_chars or facts.prompt_chars)
        return [facts_to_record(self.pipeline.config, facts, resource, release=self.release,
                                cohort=self.cohort, service=self.service,
                                source="completion_hook")]


def _texts(parts: Sequence[Any]) -> list[str]:
    out = []
    for p in parts:
        if getattr(p, "type", None) == "text":
            text = as_text(getattr(p, "content", None))
            if text is not None:
                out.append(text)
    return out


def _first_output_text(outputs: Sequence[Any]) -> str | None:
    for message in outputs:
        texts = _texts(getattr(message, "parts", None) or [])
        if texts:
            return "\n".join(texts)
    return None
