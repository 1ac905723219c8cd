"""Every environment variable collapse-otel reads, with its default and meaning.

Kept in one module (as opentelemetry-python does) so users and docs have a single list.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EnvVar:
    name: str
    field: str
    default: object
    meaning: str


ENV_VARS: tuple[EnvVar, ...] = (
    EnvVar("COLLAPSE_OTEL_SERVICE", "service", None,
           "service label; falls back to OTEL_SERVICE_NAME, then 'unknown_service'"),
    EnvVar("COLLAPSE_OTEL_RELEASE", "release", None,
           "release label when capture finds none; falls back to 'unknown'"),
    EnvVar("COLLAPSE_OTEL_COHORT", "cohort", None, "cohort label when capture finds none ('default')"),
    EnvVar("COLLAPSE_OTEL_WINDOW_ANSWERS", "window_answers", 10_000,
           "answers per stream window (the window is two panes of half this size)"),
    EnvVar("COLLAPSE_OTEL_WINDOW_SECONDS", "window_seconds", 3600.0,
           "time span of a stream window (each pane rotates after half of it)"),
    EnvVar("COLLAPSE_OTEL_MAX_STREAMS", "max_streams", 200,
           "streams (service, release, cohort) kept before new ones fold into release='__other__'"),
    EnvVar("COLLAPSE_OTEL_SAMPLE_SIZE", "sample_size", 1_000,
           "uniform reservoir sample per stream for corpus-level signals"),
    EnvVar("COLLAPSE_OTEL_MAX_ANSWER_CHARS", "max_answer_chars", 100_000,
           "answers longer than this are truncated before analysis and counted"),
    EnvVar("COLLAPSE_OTEL_NEAR_DUPLICATE_THRESHOLD", "near_duplicate_threshold", 0.8,
           "Jaccard of word 5-gram shingle sets at or above which an answer is a near duplicate"),
    EnvVar("COLLAPSE_OTEL_EMBEDDING_DIM", "embedding_dim", 128,
           "dimension of the default hashed-feature embedding"),
    EnvVar("COLLAPSE_OTEL_QUEUE_SIZE", "queue_size", 10_000,
           "records the capture queue holds before it drops (reason='queue_full')"),
    EnvVar("COLLAPSE_OTEL_BATCH_SIZE", "batch_size", 256, "records the worker analyses per batch"),
    EnvVar("COLLAPSE_OTEL_REFRESH_SECONDS", "refresh_seconds", 5.0,
           "window gauges of a changed stream are recomputed at most this often"),
    EnvVar("OTEL_EXPORTER_PROMETHEUS_HOST", "prometheus_host", "127.0.0.1",
           "address of the /metrics server"),
    EnvVar("OTEL_EXPORTER_PROMETHEUS_PORT", "prometheus_port", 9464, "port of the /metrics server"),
    EnvVar("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "capture_message_content", False,
           "put message content on collapse-otel's own spans (text is analysed in-process either way)"),
)

ENV_BY_FIELD = {v.field: v for v in ENV_VARS}
