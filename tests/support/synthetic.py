"""Deterministic synthetic snapshots, so export can be tested and benchmarked at any scale
(for example 200 full streams) without running the signal pipeline."""

from __future__ import annotations

import random
from collections.abc import Sequence

from collapse_otel.engine.snapshot import (
    LOOP_LENGTH_BUCKETS,
    SCORE_BUCKETS,
    TOKEN_BUCKETS,
    AggregatorSnapshot,
    HistogramSnapshot,
    StreamSnapshot,
    WindowSignals,
)
from collapse_otel.records import StreamKey
from collapse_otel.signals.registry import SIGNALS


def _histogram(rng: random.Random, count: int, scale: int) -> HistogramSnapshot:
    counts = [0] * (len(TOKEN_BUCKETS) + 1)
    total = 0
    for _ in range(count):
        value = int(rng.expovariate(1 / scale)) + 1
        total += value
        i = next((i for i, b in enumerate(TOKEN_BUCKETS) if value <= b), len(TOKEN_BUCKETS))
        counts[i] += 1
    return HistogramSnapshot(tuple(counts), float(total), count)


def _scores(rng: random.Random, count: int, top: float) -> HistogramSnapshot:
    values = [round(rng.uniform(0, top), 1) for _ in range(count)]
    counts = [0] * (len(SCORE_BUCKETS) + 1)
    for v in values:
        counts[next((i for i, b in enumerate(SCORE_BUCKETS) if v <= b), len(SCORE_BUCKETS))] += 1
    return HistogramSnapshot(tuple(counts), float(sum(values)), count, SCORE_BUCKETS)


def _lengths(turns: dict[str, int]) -> HistogramSnapshot:
    """Loop lengths: 1 for the turns that did not loop, 4 for those that did."""
    counts = [0] * (len(LOOP_LENGTH_BUCKETS) + 1)
    counts[0], counts[3] = turns["false"], turns["true"]
    return HistogramSnapshot(tuple(counts), float(turns["false"] + 4 * turns["true"]),
                             sum(counts), LOOP_LENGTH_BUCKETS)


def synthetic_stream(key: StreamKey, seed: int = 0, answers: int = 500,
                     first_seen: float = 1_700_000_000.0, full: bool = True,
                     outcomes: bool = False) -> StreamSnapshot:
    """One stream with every counter, both histograms and (if ``full``) every window gauge set;
    ``outcomes``: with feedback and two evaluators' results too."""
    rng = random.Random(f"{key}:{seed}")
    r = rng.random
    values = {s.key: (r() / 4 if s.family == "duplication" else r() if s.unit == "percentunit"
                      else 1 + 20 * r()) for s in SIGNALS}
    if not outcomes:
        values.pop("thumbs_down_ratio")
        values.pop("evaluation_fail_ratio")
        values.pop("agent_loop_ratio")
    rated = answers // 5
    feedback = {"up": rated - rated // 4, "down": rated // 4} if outcomes else {}
    evaluations = {"pass": rated // 2, "fail": rated // 3, "unknown": 1} if outcomes else {}
    turns = {"true": rated // 10, "false": rated - rated // 10} if outcomes else {}
    window = WindowSignals(
        window_answers=answers, window_answers_with_text=answers, sample_answers=min(answers, 1000),
        values=values, stderr={k: v / 50 for k, v in values.items()},
        feedback=feedback, evaluations=evaluations, agent_turns=turns,
    ) if full else WindowSignals(window_answers=answers)
    exact = int(answers * values["exact_duplicate_ratio"]) if full else 0
    extra = dict(
        feedback_total=feedback, feedback_scores=_scores(rng, rated, 5),
        evaluations_total={(e, r): n for e in ("faithfulness", "relevance")
                           for r, n in evaluations.items()},
        evaluation_scores={e: _scores(rng, rated, 1) for e in ("faithfulness", "relevance")},
        agent_turns_total=turns,
        agent_loops_total={"repeated_answer": 1, "repeated_tool_call": max(0, rated // 10 - 1),
                           "step_limit": 2},
        agent_loop_length=_lengths(turns),
    ) if outcomes else {}
    return StreamSnapshot(
        key=key, answers_total=answers, answers_without_text_total=answers // 50,
        answers_truncated_total=answers // 200,
        duplicate_answers_total={"exact": exact, "near": exact // 2},
        tokens_total={"prompt": 300 * answers, "completion": 120 * answers},
        tokens_estimated_total={"prompt": 0, "completion": answers // 10},
        prompt_tokens=_histogram(rng, answers, 300), completion_tokens=_histogram(rng, answers, 120),
        first_seen=first_seen, window=window, **extra,
    )


def synthetic_snapshot(keys: Sequence[StreamKey] | int = 200, seed: int = 0, answers: int = 500,
                       streams_folded_total: int = 0, outcomes: bool = False,
                       ) -> AggregatorSnapshot:
    """``keys`` streams (or that many ``svc-i/v-j/default`` streams), first seen in list order;
    ``outcomes``: every stream with feedback and evaluation results."""
    if isinstance(keys, int):
        keys = [StreamKey(f"svc-{i % 10}", f"v{i // 10}", "default") for i in range(keys)]
    streams = tuple(synthetic_stream(k, seed, answers, 1_700_000_000.0 + i, outcomes=outcomes)
                    for i, k in enumerate(keys))
    return AggregatorSnapshot(streams, streams_folded_total, 1_700_000_100.0,
                              memory_retained_bytes=64 << 20, memory_budget_bytes=512 << 20,
                              state_rebuilt={"window": 1})
