"""One snapshot -> flat series, shared by the Prometheus and the OTLP path.

Both exporters read the same (metric, labels, value) rows, so they carry the same values by
construction; each only differs in how it encodes them. Label values are made safe here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

from ..config.lineage import Lineage
from ..engine.snapshot import AggregatorSnapshot, HistogramSnapshot, StreamSnapshot, WindowSignals
from ..records import OTHER_RELEASE
from ..signals.registry import SIGNALS
from ..text.labels import safe_label_value
from . import names as N

_log = logging.getLogger(__name__)

Labels = tuple[tuple[str, str], ...]   # ((label, value), ...) in a fixed order


class Row(NamedTuple):
    metric: N.MetricDef
    labels: Labels
    value: float


class HistRow(NamedTuple):
    metric: N.MetricDef
    labels: Labels
    hist: HistogramSnapshot


KINDS = ("exact", "near")
TOKEN_TYPES = ("prompt", "completion")


def stream_labels(stream: StreamSnapshot) -> Labels:
    s, r, c = stream.key
    return (("service", safe_label_value(s)), ("release", safe_label_value(r)),
            ("cohort", safe_label_value(c)))


def unique_streams(snapshot: AggregatorSnapshot) -> Iterator[tuple[Labels, StreamSnapshot]]:
    """Streams with their safe labels; a stream whose safe labels repeat an earlier one is
    skipped, because two series with one label set make the whole scrape invalid."""
    seen: set[Labels] = set()
    for stream in snapshot.streams:
        labels = stream_labels(stream)
        if labels in seen:
            _log.debug("collapse-otel: skipping a stream whose safe labels repeat another")
            continue
        seen.add(labels)
        yield labels, stream


def _window_rows(w: WindowSignals, base: Labels) -> Iterator[Row]:
    yield Row(N.WINDOW_ANSWERS, base, float(w.window_answers))
    for rating, n in w.feedback.items():
        yield Row(N.WINDOW_FEEDBACK, (*base, ("rating", rating)), float(n))
    for result, n in w.evaluations.items():
        yield Row(N.WINDOW_EVALUATIONS, (*base, ("result", result)), float(n))
    for looping, n in w.agent_turns.items():
        yield Row(N.WINDOW_AGENT_TURNS, (*base, ("looping", looping)), float(n))
    values, stderr = w.values, w.stderr
    for signal in SIGNALS:
        value = values.get(signal.key)
        if value is not None:
            yield Row(N.BY_NAME[signal.metric], (*base, *signal.labels), value)
    for signal in SIGNALS:
        se = stderr.get(signal.key)
        if se is not None:
            yield Row(N.WINDOW_SIGNAL_STDERR, (*base, ("signal", signal.key)), se)


def stream_rows(stream: StreamSnapshot, base: Labels) -> Iterator[Row]:
    """Counter and gauge rows of one stream (counters: cumulative totals)."""
    yield Row(N.ANSWERS, base, float(stream.answers_total))
    yield Row(N.ANSWERS_WITHOUT_TEXT, base, float(stream.answers_without_text_total))
    yield Row(N.ANSWERS_TRUNCATED, base, float(stream.answers_truncated_total))
    for kind in KINDS:
        yield Row(N.DUPLICATE_ANSWERS, (*base, ("kind", kind)),
                  float(stream.duplicate_answers_total.get(kind, 0)))
    yield Row(N.ANSWERS_WITH_QUESTION, base, float(stream.answers_with_question_total))
    for kind in KINDS:
        yield Row(N.CROSS_QUESTION_DUPLICATES, (*base, ("kind", kind)),
                  float(stream.cross_question_duplicates_total.get(kind, 0)))
    for typ in TOKEN_TYPES:
        yield Row(N.LLM_TOKENS, (*base, ("type", typ)), float(stream.tokens_total.get(typ, 0)))
        yield Row(N.LLM_TOKENS_ESTIMATED, (*base, ("type", typ)),
                  float(stream.tokens_estimated_total.get(typ, 0)))
    yield Row(N.WINDOW_MEMORY_LIMITED, base, 1.0 if stream.window_memory_limited else 0.0)
    for rating, n in stream.feedback_total.items():
        yield Row(N.FEEDBACK, (*base, ("rating", rating)), float(n))
    for (evaluator, result), n in sorted(stream.evaluations_total.items()):
        yield Row(N.EVALUATIONS, (*base, ("evaluator", safe_label_value(evaluator)),
                                  ("result", result)), float(n))
    for looping, n in stream.agent_turns_total.items():
        yield Row(N.AGENT_TURNS, (*base, ("looping", looping)), float(n))
    for kind, n in stream.agent_loops_total.items():
        yield Row(N.AGENT_LOOPS, (*base, ("kind", kind)), float(n))
    yield from _window_rows(stream.window, base)


def stream_histograms(stream: StreamSnapshot, base: Labels) -> Iterator[HistRow]:
    yield HistRow(N.PROMPT_TOKENS, base, stream.prompt_tokens)
    yield HistRow(N.COMPLETION_TOKENS, base, stream.completion_tokens)
    if stream.feedback_scores is not None:
        yield HistRow(N.FEEDBACK_SCORE, base, stream.feedback_scores)
    if stream.agent_loop_length is not None:
        yield HistRow(N.AGENT_LOOP_LENGTH, base, stream.agent_loop_length)
    for evaluator in sorted(stream.evaluation_scores):
        yield HistRow(N.EVALUATION_SCORE, (*base, ("evaluator", safe_label_value(evaluator))),
                      stream.evaluation_scores[evaluator])


def health_rows(snapshot: AggregatorSnapshot, stats: object | None) -> Iterator[Row]:
    """Plugin health. ``stats`` is duck-typed PipelineStats (dropped, queue_depth,
    processing_seconds, records_processed); without it only the aggregator's part is known."""
    yield Row(N.STREAMS, (), float(len(snapshot.streams)))
    yield Row(N.STREAMS_FOLDED, (), float(snapshot.streams_folded_total))
    yield Row(N.MEMORY_RETAINED, (), float(snapshot.memory_retained_bytes))
    yield Row(N.MEMORY_BUDGET, (), float(snapshot.memory_budget_bytes))
    yield Row(N.MEMORY_TRIMS, (), float(snapshot.memory_trims_total))
    for part in sorted(snapshot.state_rebuilt):
        yield Row(N.STATE_REBUILT, (("part", safe_label_value(part)),),
                  float(snapshot.state_rebuilt[part]))
    if stats is None:
        return
    dropped = dict(getattr(stats, "dropped", None) or {})
    dropped.setdefault("queue_full", 0)
    for reason in sorted(dropped):
        yield Row(N.RECORDS_DROPPED, (("reason", safe_label_value(reason)),), float(dropped[reason]))
    for metric, attr in ((N.QUEUE_DEPTH, "queue_depth"),
                         (N.PROCESSING_SECONDS, "processing_seconds"),
                         (N.RECORDS_PROCESSED, "records_processed")):
        value = getattr(stats, attr, None)
        if value is not None:
            yield Row(metric, (), float(value))
    yield from _intermediate_rows(snapshot, getattr(stats, "intermediate", None))
    unmatched = getattr(stats, "outcomes_unmatched", None)
    if isinstance(unmatched, dict):
        for kind in ("evaluation", "feedback"):
            yield Row(N.OUTCOMES_UNMATCHED, (("kind", kind),), float(unmatched.get(kind, 0)))
    references = getattr(stats, "references", None)
    if references is not None:
        yield Row(N.OUTCOME_REFERENCES, (), float(references))


def _intermediate_rows(snapshot: AggregatorSnapshot, counts: object) -> Iterator[Row]:
    """Intermediate LLM calls per stream: the pipeline's counts, 0 for the aggregator's other
    streams (so a ratio to collapse_answers_total has a series wherever answers do)."""
    if not isinstance(counts, dict):
        return
    rows: dict[Labels, float] = {}
    for (s, r, c), n in counts.items():
        labels: Labels = (("service", safe_label_value(s)), ("release", safe_label_value(r)),
                          ("cohort", safe_label_value(c)))
        rows[labels] = rows.get(labels, 0.0) + float(n)
    for labels, _ in unique_streams(snapshot):
        rows.setdefault(labels, 0.0)
    for labels in sorted(rows):
        yield Row(N.INTERMEDIATE_LLM_CALLS, labels, rows[labels])


def release_rows(snapshot: AggregatorSnapshot, lineage: Lineage | Sequence[str] | None,
                 ) -> Iterator[Row]:
    """``collapse_release_info{service, release, previous_release, baseline_release} 1``.

    Per service and release seen (``__other__`` is not a release): its predecessor and the
    pinned baseline, from configuration (``collapse_otel.config.lineage``); releases nothing orders
    follow each other in first-seen order. A sequence is taken as a release order.
    """
    if not isinstance(lineage, Lineage):
        lineage = Lineage.from_config(None, lineage)
    first: dict[tuple[str, str], float] = {}
    for stream in snapshot.streams:
        service, release, _ = stream.key
        if release == OTHER_RELEASE:
            continue
        key = (service, release)
        first[key] = min(first.get(key, stream.first_seen), stream.first_seen)
    by_service: dict[str, list[str]] = {}
    for (service, release), _ in sorted(first.items(), key=lambda kv: (kv[1], kv[0][1])):
        by_service.setdefault(service, []).append(release)
    seen: set[Labels] = set()
    for service, releases in sorted(by_service.items()):
        for release, previous in lineage.ordered(service, releases):
            labels = (("service", safe_label_value(service)),
                      ("release", safe_label_value(release)),
                      ("previous_release", safe_label_value(previous)),
                      ("baseline_release", safe_label_value(lineage.baseline_of(service,
                                                                                 release))))
            if labels not in seen:
                seen.add(labels)
                yield Row(N.RELEASE_INFO, labels, 1.0)


def as_snapshot_source(source: object) -> Callable[[], AggregatorSnapshot]:
    """Accept an Aggregator (``.snapshot()``), a capture pipeline (``.aggregator``, read on
    every call: a pipeline rebuilds its aggregator after fork) or a snapshot callable."""
    if hasattr(source, "snapshot"):
        return source.snapshot
    if hasattr(source, "aggregator"):
        return lambda: source.aggregator.snapshot()
    if callable(source):
        return source
    raise TypeError(f"not a snapshot source: {type(source).__name__}")


def as_stats_source(source: object) -> Callable[[], object] | None:
    """The pipeline stats callable of ``source`` when it has one (``.stats()``)."""
    stats = getattr(source, "stats", None)
    return stats if callable(stats) else None
