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
    EnvVar("COLLAPSE_OTEL_PREVIOUS_RELEASE", "previous_release", None,
           "the release before this process's release (svc=release entries per service); "
           "published on collapse_release_info so alerts compare across processes"),
    EnvVar("COLLAPSE_OTEL_BASELINE_RELEASE", "baseline_release", None,
           "a pinned reference release every release is also compared with (svc=release "
           "entries per service)"),
    EnvVar("COLLAPSE_OTEL_RELEASE_ORDER", "release_order", None,
           "releases oldest first, comma-separated (svc=r1|r2|r3 entries per service)"),
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
    EnvVar("COLLAPSE_OTEL_ANSWER_MODE", "answer_mode", "turn",
           "turn: one answer per user turn, the LLM output the run tree or trace returns (other "
           "LLM calls are counted as intermediate); every_call: every LLM call is an answer"),
    EnvVar("COLLAPSE_OTEL_ANSWER_INCLUDE", "answer_include", None,
           "comma-separated globs over run names, tags and span names: only LLM calls that "
           "match (or run inside a match) can be answers"),
    EnvVar("COLLAPSE_OTEL_ANSWER_EXCLUDE", "answer_exclude", None,
           "comma-separated globs over run names, tags and span names: LLM calls that match "
           "(or run inside a match) are never answers, only intermediate calls"),
    EnvVar("COLLAPSE_OTEL_NEAR_DUPLICATE_THRESHOLD", "near_duplicate_threshold", 0.8,
           "Jaccard of word 5-gram shingle sets at or above which an answer is a near duplicate"),
    EnvVar("COLLAPSE_OTEL_EMBEDDING_DIM", "embedding_dim", 128,
           "dimension of the default hashed-feature embedding"),
    EnvVar("COLLAPSE_OTEL_EMBEDDER", "embedder", "hashed",
           "answer embeddings for semantic dispersion: hashed (word 1-2-gram feature hashing), "
           "wordllama or e5 (models bundled in the embeddings / embeddings-e5 extras; hashed "
           "when the extra is absent). Semantic dispersion is in the verdict under wordllama "
           "only (docs/embeddings.md)"),
    EnvVar("COLLAPSE_OTEL_QUEUE_SIZE", "queue_size", 10_000,
           "records the capture queue holds before it drops (reason='queue_full')"),
    EnvVar("COLLAPSE_OTEL_QUEUE_MB", "queue_mb", 64,
           "MiB of long answers (over 4,096 characters) the capture queue holds before it drops "
           "(reason='queue_full')"),
    EnvVar("COLLAPSE_OTEL_BATCH_SIZE", "batch_size", 256, "records the worker analyses per batch"),
    EnvVar("COLLAPSE_OTEL_REFRESH_SECONDS", "refresh_seconds", 30.0,
           "window gauges of a changed stream are recomputed at most this often (by the idle "
           "worker, else on scrape)"),
    EnvVar("COLLAPSE_OTEL_STREAM_IDLE_SECONDS", "stream_idle_seconds", 86_400.0,
           "a stream with no answer for this long is removed, freeing its place under the cap"),
    EnvVar("COLLAPSE_OTEL_MEMORY_BUDGET_MB", "memory_budget_mb", 512,
           "MiB the aggregator's windows may hold in all; past it the largest windows shrink "
           "(collapse_window_memory_limited)"),
    EnvVar("COLLAPSE_OTEL_METRICS_HOST", "prometheus_host", "127.0.0.1",
           "address of collapse-otel's own /metrics server"),
    EnvVar("COLLAPSE_OTEL_METRICS_PORT", "prometheus_port", 9464,
           "port of collapse-otel's own /metrics server (busy: instrument() falls back to a free "
           "port and logs its URL)"),
    EnvVar("COLLAPSE_OTEL_METRICS_EXPORT", "metrics_export", "auto",
           "where instrument() publishes the metrics: server (own /metrics), otel (instruments "
           "on the app's SDK MeterProvider), both (server,otel), none; auto: otel when an SDK "
           "MeterProvider is configured (given or global), else server"),
    EnvVar("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "capture_message_content", False,
           "put message content on collapse-otel's own spans (text is analysed in-process either way)"),
    EnvVar("COLLAPSE_OTEL_MULTIPROC_DIR", "multiproc_dir", None,
           "several worker processes (gunicorn, uvicorn --workers): each writes its state to "
           "this directory and /metrics merges them (unset: one process)"),
    EnvVar("COLLAPSE_OTEL_MULTIPROC_WRITE_SECONDS", "multiproc_write_seconds", 10.0,
           "seconds between a worker's state writes to COLLAPSE_OTEL_MULTIPROC_DIR"),
    EnvVar("COLLAPSE_OTEL_ANALYSIS", "analysis", "thread",
           "where instrument() analyses the answers: thread (a worker thread of the host "
           "process) or process (a child process fed through a socket; docs/host-overhead.md)"),
    EnvVar("COLLAPSE_OTEL_ANSWER_HASH_FILE", "answer_hash_file", None,
           "append the xxh3 hash of every answer's normalised text to this file (16 hex "
           "characters a line, mode 0600, never text), for collapse-otel audit --own-answers"),
    EnvVar("COLLAPSE_OTEL_ANSWER_HASH_FILE_MB", "answer_hash_file_mb", 64,
           "MiB the answer hash file may reach before it is renamed to FILE.1 (replacing the "
           "older one) and a new one starts"),
    EnvVar("COLLAPSE_OTEL_EVALUATION_PASS_LABELS", "evaluation_pass_labels",
           "pass,passed,correct,relevant,yes,true,good,grounded,faithful",
           "evaluation labels that mean pass (comma-separated, case-insensitive; spaces and "
           "hyphens read as underscores)"),
    EnvVar("COLLAPSE_OTEL_EVALUATION_FAIL_LABELS", "evaluation_fail_labels",
           "fail,failed,incorrect,not_relevant,irrelevant,no,false,bad,hallucinated,"
           "hallucination,ungrounded,unfaithful", "evaluation labels that mean fail"),
    EnvVar("COLLAPSE_OTEL_EVALUATION_THRESHOLDS", "evaluation_thresholds", None,
           "pass by score when an evaluation has no pass flag and no known label: "
           "name>=0.7 (pass at or above), name<=0.2 (pass at or below), *=3 (any evaluator)"),
    EnvVar("COLLAPSE_OTEL_MAX_EVALUATORS", "max_evaluators", 32,
           "evaluator names (label values) per stream; later ones count as "
           "evaluator='__other__'"),
    EnvVar("COLLAPSE_OTEL_FEEDBACK_REFERENCES", "feedback_references", 65_536,
           "answer references (LangChain run ids, trace ids, response ids) the worker keeps so "
           "feedback and evaluations find the answer's stream; the oldest are forgotten"),
)

ENV_BY_FIELD = {v.field: v for v in ENV_VARS}

# `collapse-otel serve` (fields of collapse_otel.serve.settings.ServeSettings).
SERVE_ENV_VARS: tuple[EnvVar, ...] = (
    EnvVar("COLLAPSE_OTEL_SERVE_HOST", "host", "127.0.0.1", "address serve binds its listeners to"),
    EnvVar("COLLAPSE_OTEL_SERVE_OTLP_HTTP_PORT", "otlp_http_port", 4318, "OTLP/HTTP port"),
    EnvVar("COLLAPSE_OTEL_SERVE_OTLP_GRPC_PORT", "otlp_grpc_port", 4317,
           "OTLP/gRPC port (-1 disables gRPC; needs grpcio)"),
    EnvVar("COLLAPSE_OTEL_SERVE_METRICS_PORT", "metrics_port", 9464,
           "/metrics port (-1: serve /metrics on the OTLP/HTTP port only)"),
    EnvVar("COLLAPSE_OTEL_SERVE_TOKEN", "token", None,
           "bearer token clients must send (Authorization: Bearer ...)"),
    EnvVar("COLLAPSE_OTEL_SERVE_TOKEN_FILE", "token_file", None, "file holding the bearer token"),
    EnvVar("COLLAPSE_OTEL_SERVE_ALLOW_INSECURE", "allow_insecure", False,
           "allow a non-loopback bind without a token"),
    EnvVar("COLLAPSE_OTEL_SERVE_MAX_BODY_BYTES", "max_body_bytes", 16 * 1024 * 1024,
           "largest request body accepted, after decompression (larger: 413; at least 1024)"),
    EnvVar("COLLAPSE_OTEL_SERVE_BODY_TIMEOUT_SECONDS", "body_timeout_seconds", 30.0,
           "a request body must arrive whole within this many seconds (else 408, closed)"),
    EnvVar("COLLAPSE_OTEL_SERVE_HEADER_TIMEOUT_SECONDS", "header_timeout_seconds", 10.0,
           "request line and headers must arrive within this many seconds of the connection "
           "waiting for a request, keep-alive idle time included (else closed)"),
    EnvVar("COLLAPSE_OTEL_SERVE_MAX_QUEUED_ANSWERS", "max_queued_answers", 10_000,
           "answers accepted but not yet analysed before requests get 429 + Retry-After"),
    EnvVar("COLLAPSE_OTEL_SERVE_MAX_QUEUED_BYTES", "max_queued_bytes", 128 * 1024 * 1024,
           "bytes held for requests being decoded or accepted but not yet analysed (their "
           "parsed and decoded spans, and what holding them costs) plus bytes held by answers "
           "waiting for their root, before requests get 429; bodies being received take at "
           "most half as much again"),
    EnvVar("COLLAPSE_OTEL_SERVE_RETRY_AFTER_SECONDS", "retry_after_seconds", 1,
           "Retry-After sent with 429 / 503"),
    EnvVar("COLLAPSE_OTEL_SERVE_HOLD_SECONDS", "hold_seconds", 10.0,
           "how long an answer waits for its trace's root span before it is counted anyway"),
    EnvVar("COLLAPSE_OTEL_SERVE_STATE_FILE", "state_file", None,
           "aggregator snapshot file, restored at start (unset: no persistence)"),
    EnvVar("COLLAPSE_OTEL_SERVE_SNAPSHOT_SECONDS", "snapshot_seconds", 60.0,
           "seconds between periodic snapshots"),
    EnvVar("COLLAPSE_OTEL_SERVE_WAL", "wal", True,
           "with a state file, log each accepted request before answering 200 (replayed after "
           "a crash)"),
    EnvVar("COLLAPSE_OTEL_SERVE_WAL_FSYNC", "wal_fsync", "always",
           "when the write-ahead log is fsynced: always (before each 200), interval, off"),
    EnvVar("COLLAPSE_OTEL_SERVE_WAL_FSYNC_INTERVAL_MS", "wal_fsync_interval_ms", 100,
           "milliseconds between fsyncs with wal_fsync=interval"),
    EnvVar("COLLAPSE_OTEL_SERVE_CONFIG", "config", None, "YAML settings file"),
)

ALL_ENV_VARS: tuple[EnvVar, ...] = ENV_VARS + SERVE_ENV_VARS
