"""The pipeline's self-observability: drop reasons and the stats the exporter reads."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..records import StreamKey

# Drop reasons (label values of collapse_records_dropped_total{reason}).
QUEUE_FULL = "queue_full"
INVALID_RECORD = "invalid_record"
SIGNAL_ERROR = "signal_error"
EXTRACT_ERROR = "extract_error"
SHUTDOWN = "shutdown"
CAPTURE_ERROR = "capture_error"
INVALID_FEEDBACK = "invalid_feedback"        # record_feedback / record_evaluation input that
INVALID_EVALUATION = "invalid_evaluation"    # cannot be read (logged at debug level)


@dataclass(frozen=True)
class PipelineStats:
    """Self-observability of one pipeline, read by the exporter. ``intermediate``: LLM calls
    that were not the answer of their turn, per stream; ``duplicates``: answers a second capture
    path saw again (counted once); ``outcomes_unmatched``: feedback and evaluation results by
    kind whose references named no answer the worker knew (counted in the explicit or default
    stream); ``references``: answer references held for them."""

    dropped: dict[str, int]
    queue_depth: int
    processing_seconds: float
    records_processed: int
    intermediate: dict[StreamKey, int] = field(default_factory=dict)
    duplicates: int = 0
    outcomes_unmatched: dict[str, int] = field(default_factory=dict)
    references: int = 0
