"""Immutable views of the aggregator state that exporters read (never the live state).

Mappings inside are read-only proxies of private copies, so a snapshot can be shared freely.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from ..records import StreamKey

# Upper bounds of the prompt/completion token histograms (Prometheus adds +Inf).
TOKEN_BUCKETS: tuple[float, ...] = (
    16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768,
)
# Upper bounds of the feedback and evaluation score histograms: tenths for 0-1 scores, whole
# numbers for 1-5 and 1-10 scales (a score below 0 counts in the first bucket).
SCORE_BUCKETS: tuple[float, ...] = (
    0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0,
    9.0, 10.0,
)

# Upper bounds of the agent loop length histogram (runs of the most repeated step).
LOOP_LENGTH_BUCKETS: tuple[float, ...] = (1, 2, 3, 4, 5, 6, 8, 10, 15, 25, 50, 100)


@dataclass(frozen=True)
class HistogramSnapshot:
    """Cumulative since start. ``bucket_counts[i]`` counts values <= ``bounds[i]``
    (non-cumulative per bucket); the last element counts values above the last bound.
    ``bounds``: TOKEN_BUCKETS for token counts, SCORE_BUCKETS for scores."""

    bucket_counts: tuple[int, ...]
    sum: float
    count: int
    bounds: tuple[float, ...] = TOKEN_BUCKETS

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, cumulative count) pairs ending with (+inf, count), as Prometheus wants."""
        out, running = [], 0
        for bound, c in zip((*self.bounds, float("inf")), self.bucket_counts, strict=True):
            running += c
            out.append((float(bound), running))
        return out


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _empty() -> Mapping[K, V]:
    """One read-only empty mapping for every default, typed as whatever the field holds."""
    return _EMPTY


_EMPTY: MappingProxyType[Any, Any] = MappingProxyType({})


@dataclass(frozen=True)
class WindowSignals:
    """Window gauges of one stream, keyed by the signal registry (``collapse_otel.signals.registry``).

    A signal missing from ``values`` is undefined: the window holds too little to say (no
    text, no 4-grams, too few entity mentions); ``stderr`` has its standard error where one
    can be estimated.
    """

    window_answers: int = 0
    window_answers_with_text: int = 0
    sample_answers: int = 0
    values: Mapping[str, float] = field(default_factory=_empty)
    stderr: Mapping[str, float] = field(default_factory=_empty)
    # thumbs up / down and evaluation pass / fail / unknown in the window (empty: none seen)
    feedback: Mapping[str, int] = field(default_factory=_empty)
    evaluations: Mapping[str, int] = field(default_factory=_empty)
    # agent turns in the window by looping "true" / "false" (empty: the stream has none)
    agent_turns: Mapping[str, int] = field(default_factory=_empty)

    def get(self, key: str) -> float | None:
        return self.values.get(key)


@dataclass(frozen=True)
class StreamSnapshot:
    """Everything exported for one (service, release, cohort). Counters are cumulative."""

    key: StreamKey
    answers_total: int
    answers_without_text_total: int
    answers_truncated_total: int
    duplicate_answers_total: Mapping[str, int]       # kind: exact | near
    tokens_total: Mapping[str, int]                  # type: prompt | completion
    tokens_estimated_total: Mapping[str, int]        # type: prompt | completion (approximate)
    prompt_tokens: HistogramSnapshot
    completion_tokens: HistogramSnapshot
    first_seen: float
    window: WindowSignals
    window_memory_limited: bool = False              # the memory budget cut this window short
    answers_with_question_total: int = 0             # answers whose question capture knew
    cross_question_duplicates_total: Mapping[str, int] = field(  # kind: exact | near
        default_factory=_empty)
    # feedback and evaluation results (empty until the stream gets one): rating -> count,
    # (evaluator, result) -> count, evaluator -> score histogram, the feedback score histogram
    feedback_total: Mapping[str, int] = field(default_factory=_empty)
    evaluations_total: Mapping[tuple[str, str], int] = field(default_factory=_empty)
    evaluation_scores: Mapping[str, HistogramSnapshot] = field(default_factory=_empty)
    feedback_scores: HistogramSnapshot | None = None
    # agent turns (collapse_otel.turns.loops; empty until the stream has one): looping "true" /
    # "false" -> count, kind of loop -> looping turns, the loop length of every agent turn
    agent_turns_total: Mapping[str, int] = field(default_factory=_empty)
    agent_loops_total: Mapping[str, int] = field(default_factory=_empty)
    agent_loop_length: HistogramSnapshot | None = None


@dataclass(frozen=True)
class AggregatorSnapshot:
    streams: tuple[StreamSnapshot, ...]
    streams_folded_total: int        # records routed to an __other__ stream by the stream cap
    created: float
    memory_retained_bytes: int = 0   # what the streams hold (estimated) ...
    memory_budget_bytes: int = 0     # ... against this budget
    memory_trims_total: int = 0      # older panes dropped to get back under the budget
    state_rebuilt: Mapping[str, int] = field(default_factory=_empty)  # at restore
