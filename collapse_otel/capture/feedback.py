"""record_feedback() and record_evaluation(): how answers fared, counted per release and cohort.

Both only check their arguments and queue one event on the capture pipeline: they never block
and never raise. Input that cannot be read is dropped and counted
(``collapse_records_dropped_total{reason="invalid_feedback" | "invalid_evaluation"}``) with a
debug log that names the argument, never its value. The worker puts the event in the stream of
the answer it names (a LangChain run id, an OTel trace id or a ``gen_ai.response.id``), else in
the explicit labels, else the process defaults (one release per process: rolling deploys).
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from ..records.outcomes import (
    EVALUATION,
    FEEDBACK,
    Outcome,
    as_rating,
    as_score,
    evaluator_name,
    judge_of,
    response_ref,
    run_ref,
    trace_ref,
)
from ..spans.build import as_label
from ..worker.health import CAPTURE_ERROR, INVALID_EVALUATION, INVALID_FEEDBACK
from ..worker.pipeline import Pipeline, get_pipeline

_log = logging.getLogger(__name__)


class _Invalid(ValueError):
    """An argument that cannot be read; the message names it, never its value."""


def record_feedback(rating: Any = None, *extra: Any, score: Any = None, run_id: Any = None,
                    trace_id: Any = None, response_id: Any = None, service: Any = None,
                    release: Any = None, cohort: Any = None, pipeline: Pipeline | None = None,
                    **unknown: Any) -> bool:
    """A user's verdict on an answer: ``rating`` thumbs ``"up"`` / ``"down"`` (or True /
    False) and/or a numeric ``score`` (e.g. 1-5 stars). Name the answer with ``run_id`` (the
    LangChain run id of its turn), ``trace_id`` (its OTel trace id, int or 32 hex digits) or
    ``response_id`` (``gen_ai.response.id``); ``service`` / ``release`` / ``cohort`` win over
    the answer's. True if queued; never raises."""
    target = pipeline
    try:
        target = pipeline if pipeline is not None else get_pipeline()
        if extra or unknown:
            raise _Invalid(f"unexpected argument(s): {_names(extra, unknown)}")
        rate = as_rating(rating) if rating is not None else None
        if rating is not None and rate is None:
            raise _Invalid(f"rating must be 'up', 'down' or a bool, not {_kind(rating)}")
        value = _score(score)
        if rate is None and value is None:
            raise _Invalid("needs a rating or a score")
        event = Outcome(FEEDBACK, _refs(run_id, trace_id, response_id), *_labels(
            service, release, cohort), rating=rate, score=value, timestamp=time.time())
        return target.submit_outcome(event)
    except _Invalid as exc:
        return _drop(target, INVALID_FEEDBACK, "record_feedback", exc)
    except Exception as exc:  # pragma: no cover - defensive
        return _fail(target, exc)


def record_evaluation(name: Any = None, score: Any = None, label: Any = None,
                      passed: Any = None, *extra: Any, explanation: Any = None,
                      run_id: Any = None, trace_id: Any = None, response_id: Any = None,
                      service: Any = None, release: Any = None, cohort: Any = None,
                      pipeline: Pipeline | None = None, **unknown: Any) -> bool:
    """An evaluator's result for an answer: ``name`` (the evaluator, a label value), a
    numeric ``score``, a ``label`` (``"relevant"``, ``"fail"``, ...) and/or ``passed``. Pass
    or fail: ``passed`` if given, else the label (``evaluation_pass_labels`` /
    ``evaluation_fail_labels``), else the score against the evaluator's threshold
    (``evaluation_thresholds``), else unknown. ``explanation`` is accepted and never stored.
    References and labels as for :func:`record_feedback`. True if queued; never raises."""
    target = pipeline
    try:
        target = pipeline if pipeline is not None else get_pipeline()
        if extra or unknown:
            raise _Invalid(f"unexpected argument(s): {_names(extra, unknown)}")
        evaluator = evaluator_name(name)
        if evaluator is None:
            raise _Invalid(f"name must be a non-empty str, not {_kind(name)}")
        value = _score(score)
        if label is not None and not isinstance(label, str):
            raise _Invalid(f"label must be a str, not {_kind(label)}")
        if passed is not None and not isinstance(passed, bool):
            raise _Invalid(f"passed must be a bool, not {_kind(passed)}")
        cfg = target.config
        judge = judge_of(cfg.evaluation_pass_labels, cfg.evaluation_fail_labels,
                         cfg.evaluation_thresholds)
        event = Outcome(EVALUATION, _refs(run_id, trace_id, response_id), *_labels(
            service, release, cohort), score=value, evaluator=evaluator,
            result=judge.result(evaluator, passed, label, value), timestamp=time.time())
        return target.submit_outcome(event)
    except _Invalid as exc:
        return _drop(target, INVALID_EVALUATION, "record_evaluation", exc)
    except Exception as exc:  # pragma: no cover - defensive
        return _fail(target, exc)


def _score(score: Any) -> float | None:
    if score is None:
        return None
    value = as_score(score)
    if value is None:
        raise _Invalid(f"score must be a finite number, not {_kind(score)}")
    return value


def _refs(run_id: Any, trace_id: Any, response_id: Any) -> tuple[str, ...]:
    refs = []
    for arg, value, read in (("run_id", run_id, run_ref), ("trace_id", trace_id, trace_ref),
                             ("response_id", response_id, response_ref)):
        if value is not None:
            ref = read(value)
            if ref is None:
                raise _Invalid(f"{arg} cannot be read ({_kind(value)})")
            refs.append(ref)
    return tuple(refs)


def _labels(service: Any, release: Any, cohort: Any) -> tuple[str | None, str | None,
                                                               str | None]:
    out = []
    for arg, value in (("service", service), ("release", release), ("cohort", cohort)):
        label = as_label(value) if value is not None else None
        if value is not None and label is None:
            raise _Invalid(f"{arg} must be a non-empty str, not {_kind(value)}")
        out.append(label)
    return out[0], out[1], out[2]


def _kind(value: Any) -> str:
    return type(value).__name__


def _names(extra: tuple, unknown: dict) -> str:
    named = sorted(k for k in unknown if isinstance(k, str))
    return ", ".join(([f"{len(extra)} positional"] if extra else []) + named)


def _drop(pipeline: Pipeline | None, reason: str, where: str, exc: _Invalid) -> bool:
    with contextlib.suppress(Exception):   # a bad pipeline= must not raise either
        _log.debug("collapse-otel: %s dropped: %s", where, exc)
        if pipeline is not None:
            pipeline.count_drop(reason)
    return False


def _fail(pipeline: Pipeline | None, exc: Exception) -> bool:
    with contextlib.suppress(Exception):
        if pipeline is not None:
            pipeline.report_error(CAPTURE_ERROR, exc)
    return False
