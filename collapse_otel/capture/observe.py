"""observe(): capture one answer from plain code, no framework needed."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from ..spans.build import make_record
from ..worker.health import CAPTURE_ERROR
from ..worker.pipeline import Pipeline, get_pipeline


def observe(answer: str | bytes | None, *, release: str | None = None,
            cohort: str | None = None, prompt_tokens: int | None = None,
            completion_tokens: int | None = None, context_ids: Iterable[Any] = (),
            model: str | None = None, service: str | None = None,
            question: str | None = None, pipeline: Pipeline | None = None) -> bool:
    """Queue one LLM answer for analysis; True if queued. Never blocks, never raises.

    ``answer=None`` counts an answer whose text you cannot share (tokens still count). When
    ``completion_tokens`` is not given it is estimated from the text and flagged as estimated.
    Labels left out come from COLLAPSE_OTEL_* env vars, else the defaults. ``question`` (the
    user's question) tells same-question from cross-question duplicates; only a hash of it is
    kept.
    """
    p = pipeline
    try:
        p = p if p is not None else get_pipeline()
        record = make_record(p.config, answer, prompt_tokens=prompt_tokens,
                             completion_tokens=completion_tokens, context_ids=context_ids,
                             model=model, service=service, release=release, cohort=cohort,
                             question=question, source="observe")
        return p.submit(record)
    except Exception as exc:
        with contextlib.suppress(Exception):
            (p if isinstance(p, Pipeline) else get_pipeline()).report_error(CAPTURE_ERROR, exc)
        return False
