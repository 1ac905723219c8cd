"""Memory stays bounded whatever the answers: per answer, per batch, per process.

Measured with tracemalloc (what Python allocates), not RSS, so the neighbours of this shared
machine cannot move the figures; budgets are small so the tests stay small.
"""

from __future__ import annotations

import gc
import math
import random
import tracemalloc

import pytest

from collapse_otel.config import CollapseConfig
from collapse_otel.engine.aggregator import Aggregator
from collapse_otel.engine.budget import water_level
from collapse_otel.engine.feeding import observe_all
from collapse_otel.export.names import MEMORY_BUDGET, MEMORY_RETAINED, WINDOW_MEMORY_LIMITED
from collapse_otel.export.series import health_rows, stream_rows, unique_streams
from collapse_otel.records import AnswerRecord
from tests.support.vocabulary import VOCAB

MIB = 1 << 20


def text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(words)).capitalize() + "."


def measured(make_agg, feed) -> tuple[Aggregator, int, int]:
    """(aggregator, bytes it retains, peak bytes while fed), by tracemalloc."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        agg = make_agg()
        feed(agg)
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return agg, current - before, peak - before


def unlimited(**kw) -> Aggregator:
    return Aggregator(CollapseConfig(window_answers=1_000_000, refresh_seconds=3600,
                                     memory_budget_mb=1 << 20, **kw))


SHAPES = {
    "100 words": lambda rng: AnswerRecord(text(rng, 100)),
    "3,000 words": lambda rng: AnswerRecord(text(rng, 3000)),
    "short repeats": lambda rng: AnswerRecord(rng.choice(["ok", "sure thing", "done"])),
    "20 contexts": lambda rng: AnswerRecord(
        text(rng, 60), context_ids=tuple(f"doc-{rng.randrange(10**9)}" for _ in range(20))),
    "Chinese": lambda rng: AnswerRecord("".join(chr(0x4E00 + rng.randrange(3000))
                                                for _ in range(300))),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_the_estimate_follows_what_python_allocates(shape):
    rng = random.Random(1)
    n = 600 if shape == "3,000 words" else 3000
    records = [SHAPES[shape](rng) for _ in range(n)]
    agg, retained, _ = measured(unlimited, lambda a: observe_all(a, records))
    estimate = agg.memory.retained - agg.memory.fixed
    assert 0.85 <= estimate / retained <= 1.2, (estimate, retained)


def test_what_a_long_answer_leaves_is_bounded():
    """100,000-character answers (the default max_answer_chars) once retained ~175 KB each:
    every shingle, and the whole text in the sample."""
    rng = random.Random(2)
    records = [AnswerRecord(text(rng, 16_000)[:100_000]) for _ in range(60)]
    _, empty, _ = measured(unlimited, lambda a: a.observe_batch([AnswerRecord("one short")]))
    agg, retained, peak = measured(unlimited, lambda a: a.observe_batch(records))
    assert (retained - empty) / len(records) < 12_000
    # the batch is analysed in chunks of at most 1 MiB of text: n-gram and MinHash arrays
    # of all 40 answers at once took about 1 GB
    assert peak < 120 * MIB
    snap = agg.snapshot(max_age=0)
    assert snap.streams[0].answers_truncated_total == 0
    assert snap.streams[0].window.sample_answers == 60


def test_two_hundred_streams_stay_under_the_budget_and_count_every_answer():
    budget_mb, streams = 24, 200
    rng = random.Random(3)
    fed = 0

    def make():
        return Aggregator(CollapseConfig(refresh_seconds=3600, memory_budget_mb=budget_mb,
                                         embedding_dim=32))

    def feed(agg: Aggregator) -> None:
        nonlocal fed
        for round_ in range(4):
            for s in range(streams):
                words = 2000 if (s + round_) % 10 == 0 else 100   # some streams answer long
                batch = [AnswerRecord(text(rng, words), release=f"v{s}") for _ in range(60)]
                agg.observe_batch(batch)
                fed += len(batch)
            # churn: a new release per round pushes one stream into __other__
            agg.observe_batch([AnswerRecord(text(rng, 80), release=f"new{round_}")])
            fed += 1

    agg, retained, _ = measured(make, feed)
    assert agg.memory.retained <= budget_mb * MIB
    assert retained <= 1.2 * budget_mb * MIB, retained / MIB
    snap = agg.snapshot(max_age=0)
    assert sum(s.answers_total for s in snap.streams) == fed
    limited = [s for s in snap.streams if s.window_memory_limited]
    assert len(limited) > streams // 2
    assert all(s.window.window_answers < 240 for s in limited)
    # exported: per stream and for the process
    rows = [r for base, s in unique_streams(snap) for r in stream_rows(s, base)
            if r.metric is WINDOW_MEMORY_LIMITED]
    assert sum(r.value for r in rows) == len(limited)
    health = {r.metric: r.value for r in health_rows(snap, None)}
    assert health[MEMORY_BUDGET] == budget_mb * MIB
    assert 0 < health[MEMORY_RETAINED] <= budget_mb * MIB


def test_windows_grow_back_when_the_pressure_is_gone():
    agg = Aggregator(CollapseConfig(refresh_seconds=3600, memory_budget_mb=8, embedding_dim=16,
                                    stream_idle_seconds=1.0))
    rng = random.Random(4)
    for s in range(40):
        agg.observe_batch([AnswerRecord(text(rng, 100), release=f"v{s}", timestamp=1.0)
                           for _ in range(150)])
    assert any(s.memory_limited for s in agg._streams.values())
    assert agg.memory.cap < math.inf
    # every stream goes idle and is evicted; a new one then has the whole budget
    agg._last_tick = float("-inf")
    agg._tick()
    assert not agg._streams and agg.memory.cap == math.inf
    agg.observe_batch([AnswerRecord(text(rng, 100), release="fresh") for _ in range(500)])
    (state,) = agg._streams.values()
    assert not state.memory_limited and state.current.answers == 500


def test_water_level():
    assert water_level([1, 2, 3], 100) == math.inf
    assert water_level([1, 2, 30], 13) == 10          # 1 + 2 + min(30, 10)
    assert water_level([5, 5, 5, 5], 8) == 2
    assert water_level([], 10) == math.inf


def test_long_answers_in_the_queue_are_bounded_and_counted():
    import threading

    from collapse_otel.worker.pipeline import Pipeline

    gate = threading.Event()

    class Blocked:
        def observe_batch(self, records):
            gate.wait(30)
            return [object()] * len(records)

    p = Pipeline(CollapseConfig(queue_mb=4, batch_size=1), Blocked())
    long_text = "word " * 40_000   # 200,000 characters
    accepted = sum(p.submit(AnswerRecord(long_text)) for _ in range(60))
    assert accepted <= 4 * MIB // len(long_text) + 1
    assert p.stats().dropped["queue_full"] == 60 - accepted
    short = sum(p.submit(AnswerRecord("a short answer")) for _ in range(100))
    assert short == 100   # the bound is on long text only
    gate.set()
    assert p.flush(30)
    assert p.stats().records_processed == accepted + 100
    assert p.submit(AnswerRecord(long_text))   # released as the worker took them
    p.shutdown()
