"""A record that fails inside a batch is left out whole; the rest of the batch is applied.

What the Aggregator promises (engine/aggregator.py, docs/signals.md "Streaming API"): a record whose
analysis fails is isolated, ``observe_batch`` returns None for it and counts it in
``errors_total``; a record
whose labels cannot be read is dropped the same way ("this record only"). Nothing of such a
record may reach a stream: not its counters, not its tokens, not the duplicate index (a later
answer with the same text would otherwise count as a duplicate of an answer never counted).
The state must equal that of an aggregator that was only ever given the other records.
"""

from __future__ import annotations

import time

from collapse_otel.config import CollapseConfig
from collapse_otel.engine import Aggregator, analysis
from collapse_otel.engine import aggregator as aggregator_module
from collapse_otel.records import AnswerRecord, StreamKey
from collapse_otel.worker.pipeline import Pipeline

T0 = time.time() - 60
POISONED = "the poisoned answer text that appears only twice in this batch"
OSLO = "a fine answer about the harbour of oslo and its ferries"


def fresh() -> Aggregator:
    return Aggregator(CollapseConfig(refresh_seconds=0))


def rec(text: str, prompt: int, completion: int, release: str = "v1", i: int = 0,
        **kw) -> AnswerRecord:
    return AnswerRecord(text, prompt, completion, service="svc", release=release,
                        timestamp=T0 + i, **kw)


def batch() -> list[AnswerRecord]:
    return [
        rec(OSLO, 10, 20, i=0),
        rec(POISONED, 1000, 2000, i=1, context_ids=("poison",)),   # fails in analysis
        rec(POISONED, 5, 7, i=2),          # not a duplicate: its twin was never applied
        rec(OSLO, 11, 13, i=3),            # an exact duplicate of the first
        rec("another answer, this one about bergen and its rain", 3, 4, release="v2", i=4),
    ]


def poison_context(monkeypatch) -> None:
    real = analysis._context_hashes

    def failing(ids, cache):
        if "poison" in tuple(ids):
            raise RuntimeError("analysis bug for this record")
        return real(ids, cache)

    monkeypatch.setattr(analysis, "_context_hashes", failing)


def streams(agg: Aggregator) -> dict[str, object]:
    return {s.key.release: s for s in agg.snapshot().streams}


def test_a_record_whose_analysis_fails_leaves_nothing_behind(monkeypatch):
    poison_context(monkeypatch)
    agg = fresh()
    results = agg.observe_batch(batch())
    assert results[1] is None
    assert all(r is not None for i, r in enumerate(results) if i != 1)
    assert agg.errors_total == 1
    assert [r.exact_duplicate for r in (results[0], results[2], results[3], results[4])] == \
        [False, False, True, False]

    by_release = streams(agg)
    v1, v2 = by_release["v1"], by_release["v2"]
    assert set(by_release) == {"v1", "v2"}
    assert v1.answers_total == 3 and v2.answers_total == 1
    assert dict(v1.duplicate_answers_total) == {"exact": 1, "near": 0}
    assert dict(v1.tokens_total) == {"prompt": 10 + 5 + 11, "completion": 20 + 7 + 13}
    assert v1.prompt_tokens.count == 3 and v1.completion_tokens.count == 3
    assert dict(v2.tokens_total) == {"prompt": 3, "completion": 4}

    # exactly the state of an aggregator never given the failing record
    clean = fresh()
    good = [r for i, r in enumerate(batch()) if i != 1]
    assert [r for r in clean.observe_batch(good)] == [r for r in results if r is not None]
    assert agg.to_bytes() == clean.to_bytes()

    # a later batch is applied on top as usual (the poisoned text now was seen once)
    later = agg.observe_batch([rec(POISONED, 2, 2, i=5), rec("something new entirely", 1, 1,
                                                               i=6)])
    assert [r.exact_duplicate for r in later] == [True, False]
    v1 = streams(agg)["v1"]
    assert v1.answers_total == 5 and v1.duplicate_answers_total["exact"] == 2
    assert agg.errors_total == 1


def test_the_pipeline_counts_the_failed_record_dropped_and_the_rest_processed(monkeypatch):
    poison_context(monkeypatch)
    agg = fresh()
    pipeline = Pipeline(agg.config, agg)
    try:
        for record in batch():
            assert pipeline.submit(record)
        assert pipeline.flush(10)
        stats = pipeline.stats()
        assert stats.dropped == {"signal_error": 1}
        assert stats.records_processed == 4
        assert sum(s.answers_total for s in agg.snapshot().streams) == 4
    finally:
        pipeline.shutdown(5)


def test_a_record_whose_labels_cannot_be_read_is_dropped_alone(monkeypatch):
    real = aggregator_module.sanitize_label

    def failing(value, default):
        if value == "cursed":
            raise ValueError("unreadable label")
        return real(value, default)

    monkeypatch.setattr(aggregator_module, "sanitize_label", failing)
    records = [rec(OSLO, 10, 20, i=0), rec(POISONED, 1000, 2000, release="cursed", i=1),
               rec(POISONED, 5, 7, i=2), rec(OSLO, 11, 13, i=3)]
    agg = fresh()
    results = agg.observe_batch(records)
    assert results[1] is None and agg.errors_total == 1
    assert [r.exact_duplicate for r in (results[0], results[2], results[3])] == \
        [False, False, True]
    assert agg.stream_keys() == [StreamKey("svc", "v1", "default")]
    v1 = streams(agg)["v1"]
    assert v1.answers_total == 3 and dict(v1.tokens_total) == {"prompt": 26, "completion": 40}

    clean = fresh()
    clean.observe_batch([records[0], records[2], records[3]])
    assert agg.to_bytes() == clean.to_bytes()
    assert agg.observe_batch([rec(POISONED, 1, 1, i=4)])[0].exact_duplicate


def test_a_failure_while_applying_stays_in_its_stream(monkeypatch):
    """Applying prepared answers raises only on a bug (or MemoryError). Then that stream's run
    is reported as failed, every other stream of the batch is applied, the pipeline's counts
    say exactly that, and the next batch applies."""
    from collapse_otel.engine.stream import StreamState

    real = StreamState.apply_many

    def failing(self, answers):
        if self.key.release == "v2":
            raise MemoryError("no room for this run")
        return real(self, answers)

    monkeypatch.setattr(StreamState, "apply_many", failing)
    agg = fresh()
    pipeline = Pipeline(agg.config, aggregator=agg)
    for r in (rec(OSLO, 10, 20, i=0), rec("a v2 answer about bergen", 3, 4, "v2", i=1),
              rec("another v2 answer about rain", 3, 4, "v2", i=2),
              rec("a second v1 answer about trams", 5, 6, i=3)):
        pipeline.submit(r)
    assert pipeline.flush(5)
    stats = pipeline.stats()
    assert stats.dropped == {"signal_error": 2} and stats.records_processed == 2
    assert streams(agg)["v1"].answers_total == 2
    monkeypatch.setattr(StreamState, "apply_many", real)
    pipeline.submit(rec("a third v1 answer", 1, 2, i=4))
    assert pipeline.flush(5)
    assert streams(agg)["v1"].answers_total == 3
    pipeline.shutdown()
