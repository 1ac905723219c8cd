"""One AnswerRecord from the facts of an LLM span: shared by every reader of spans (the span
processor, the completion hook, the OTLP receiver), so a span gives the same record anywhere."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config import CollapseConfig
from ..records import AnswerRecord
from .build import first_label, make_record
from .conventions import SpanFacts, resource_release, resource_service


def facts_to_record(config: CollapseConfig, facts: SpanFacts,
                    resource: Mapping[str, Any] | None, context_ids: Any = (), *,
                    release: str | None = None, cohort: str | None = None,
                    service: str | None = None, timestamp: float | None = None,
                    source: str = "spans") -> AnswerRecord:
    """One AnswerRecord from an LLM span's facts (shared with the OTLP receiver).

    Labels: explicit argument > span (collapse.*, run metadata) > COLLAPSE_OTEL_* env >
    resource (service.version / service.name) > defaults, as the LangChain handler reads them
    (so the same answer seen by both gets the same stream). Missing token usage is estimated
    from the text on the span and flagged, never reported as 0.
    """
    env_release = config.release if config.release != "unknown" else None
    env_service = config.service if config.service != "unknown_service" else None
    ids = context_ids if context_ids else facts.context_ids
    return make_record(
        config, facts.answer, prompt_tokens=facts.prompt_tokens,
        completion_tokens=facts.completion_tokens, prompt_chars=facts.prompt_chars,
        context_ids=ids, model=facts.model, tokens_estimated=facts.completion_estimated,
        service=first_label(service, facts.service, env_service, resource_service(resource)),
        release=first_label(release, facts.release, env_release, resource_release(resource)),
        cohort=first_label(cohort, facts.cohort),
        timestamp=timestamp, source=source, question=facts.question, refs=facts.refs)
