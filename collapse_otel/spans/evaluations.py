"""OTel GenAI evaluation results on spans: ``gen_ai.evaluation.result`` as feedback events.

The GenAI semantic conventions emit an evaluation result as an event parented to the evaluated
operation's span: in Python an event on that span (``span.add_event``); some SDKs (tracing
bridges) emit a zero-duration child span carrying the same attributes instead. Both are read
here: ``gen_ai.evaluation.name`` (required), ``gen_ai.evaluation.score.value``,
``gen_ai.evaluation.score.label`` and ``gen_ai.response.id`` (on the event, else on the span).
``gen_ai.evaluation.explanation`` is never read: it is free text. The result lands in the stream
of the answer its response id or trace names, else in the labels its span carries (the same
order as the span's answer: collapse.* and run metadata, the COLLAPSE_OTEL_* defaults, the
resource). Shared by CollapseSpanProcessor and serve; pure functions over attribute mappings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeGuard

from ..config import CollapseConfig
from ..records.outcomes import (
    EVALUATION,
    Outcome,
    as_score,
    evaluator_name,
    judge_of,
    response_ref,
    trace_ref,
)
from .build import as_text, first_label
from .conventions import resource_release, resource_service, span_labels

EVENT = "gen_ai.evaluation.result"
NAME = "gen_ai.evaluation.name"
SCORE = "gen_ai.evaluation.score.value"
LABEL = "gen_ai.evaluation.score.label"
RESPONSE_ID = "gen_ai.response.id"
MAX_PER_SPAN = 64      # evaluation events read from one span
MAX_LABEL_CHARS = 64   # a score label is a low-cardinality word


def is_evaluation(attributes: Mapping[str, Any] | None) -> TypeGuard[Mapping[str, Any]]:
    """A span (or event) carrying an evaluation result: one lookup (host thread)."""
    if not attributes:
        return False
    return attributes.get(NAME) is not None


def sdk_events(events: Iterable[Any]) -> list[dict[str, Any]]:
    """The attributes of an SDK span's ``gen_ai.evaluation.result`` events (host thread: a
    copy, since the span's own mappings are not ours to keep)."""
    out = []
    for event in events:
        if getattr(event, "name", None) == EVENT:
            attrs = getattr(event, "attributes", None)
            out.append(dict(attrs) if attrs else {})
            if len(out) >= MAX_PER_SPAN:
                break
    return out


def evaluation_outcomes(evaluations: Iterable[Mapping[str, Any]],
                        span: Mapping[str, Any] | None, resource: Mapping[str, Any] | None,
                        trace_id: int | bytes | None, config: CollapseConfig, *,
                        service: str | None = None, release: str | None = None,
                        cohort: str | None = None) -> tuple[list[Outcome], int]:
    """Outcomes of the evaluation results (event attributes) found on one span (``span``: its
    attributes), and how many could not be read (no evaluator name)."""
    span = span or {}
    judge = judge_of(config.evaluation_pass_labels, config.evaluation_fail_labels,
                     config.evaluation_thresholds)
    env_release = config.release if config.release != "unknown" else None
    env_service = config.service if config.service != "unknown_service" else None
    own = span_labels(span)
    trace = trace_ref(trace_id) if trace_id is not None else None
    out: list[Outcome] = []
    invalid = 0
    for attrs in evaluations:
        name = evaluator_name(attrs.get(NAME))
        if name is None:
            invalid += 1
            continue
        score = as_score(attrs.get(SCORE))
        label = as_text(attrs.get(LABEL), MAX_LABEL_CHARS)
        label = label[:MAX_LABEL_CHARS] if label else None
        labels = span_labels(attrs)
        response = response_ref(attrs.get(RESPONSE_ID)) or response_ref(span.get(RESPONSE_ID))
        fallback = (first_label(labels[0], own[0], env_service, resource_service(resource)),
                    first_label(labels[1], own[1], env_release, resource_release(resource)),
                    first_label(labels[2], own[2]))
        out.append(Outcome(
            EVALUATION, tuple(r for r in (response, trace) if r), service, release, cohort,
            fallback, score=score, evaluator=name,
            result=judge.result(name, None, label, score)))
    return out, invalid
