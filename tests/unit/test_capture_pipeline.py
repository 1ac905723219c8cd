"""The worker pipeline: bounded, non-blocking, every drop counted by reason, fork-safe."""

from __future__ import annotations

import faulthandler
import logging
import os
import threading

import pytest

from collapse_otel.config import CollapseConfig
from collapse_otel.engine import Aggregator
from collapse_otel.records import AnswerRecord
from collapse_otel.worker import pipeline as pl
from collapse_otel.worker.pipeline import Pipeline
from tests.support.capture import make_pipeline


def rec(i: int, **kw) -> AnswerRecord:
    return AnswerRecord(f"answer number {i} about topic {i % 7}", 10, 5, **kw)


class BlockingAggregator(Aggregator):
    """A real aggregator whose first batch waits until released (a slow signal pipeline)."""

    def __init__(self, config):
        super().__init__(config)
        self.release = threading.Event()
        self.entered = threading.Event()

    def observe_batch(self, records):
        self.entered.set()
        self.release.wait(10)
        return super().observe_batch(records)


class RaisingExtractor:
    def extract(self, text):
        if "poison" in text:
            raise ValueError("entity extractor exploded")
        return []

    def spans(self, text):
        return []


def test_records_reach_the_aggregator():
    p, agg = make_pipeline()
    assert all(p.submit(rec(i)) for i in range(500))
    assert p.flush(5)
    stats = p.stats()
    assert stats.records_processed == 500 and stats.dropped == {} and stats.queue_depth == 0
    assert stats.processing_seconds > 0
    (stream,) = agg.snapshot().streams
    assert stream.answers_total == 500
    assert stream.tokens_total == {"prompt": 5000, "completion": 2500}


def test_no_thread_until_first_submit():
    p, _ = make_pipeline()
    assert p._thread is None
    assert p.flush(1)  # nothing queued: immediate
    p.submit(rec(0))
    assert p._thread is not None and p._thread.daemon


def test_full_queue_drops_and_counts_without_blocking():
    cfg = CollapseConfig.resolve(environ={}, queue_size=20, batch_size=5)
    agg = BlockingAggregator(cfg)
    p = Pipeline(cfg, aggregator=agg)
    assert p.submit(rec(0))
    assert agg.entered.wait(5)  # worker is stuck inside the first batch
    accepted = sum(p.submit(rec(i)) for i in range(1, 1001))
    assert accepted == 20
    assert p.stats().dropped == {"queue_full": 980}
    assert p.stats().queue_depth == 20
    agg.release.set()
    assert p.flush(5)
    assert p.stats().records_processed == 21


def test_invalid_records_are_counted():
    p, agg = make_pipeline()
    assert not p.submit("not a record")  # type: ignore[arg-type]
    assert not p.submit(None)  # type: ignore[arg-type]
    assert p.submit(rec(1))
    p.flush(5)
    assert p.stats().dropped == {"invalid_record": 2}
    assert len(agg.records) == 1


def test_aggregator_that_raises_is_counted_and_logged_once(caplog):
    class Exploding(Aggregator):
        def observe_batch(self, records):
            raise RuntimeError("signal code bug")

    cfg = CollapseConfig.resolve(environ={}, batch_size=10)
    p = Pipeline(cfg, aggregator=Exploding(cfg))
    with caplog.at_level(logging.DEBUG):
        for i in range(100):
            assert p.submit(rec(i))
            if i % 10 == 9:
                p.flush(5)
    assert p.flush(5)
    assert p.stats().dropped == {"signal_error": 100}
    assert p.stats().records_processed == 0
    warnings = [r for r in caplog.records if "signal_error" in r.getMessage()]
    assert len(warnings) == 1


def test_signal_code_failing_for_one_record_drops_only_that_record():
    cfg = CollapseConfig.resolve(environ={})
    p = Pipeline(cfg, aggregator=Aggregator(cfg, entity_extractor=RaisingExtractor()))
    p.submit(rec(1))
    p.submit(AnswerRecord("this answer is poison for the extractor", 3, 4))
    p.submit(rec(2))
    assert p.flush(5)
    assert p.stats().dropped == {"signal_error": 1}
    assert p.stats().records_processed == 2


def test_deferred_extraction_errors_are_counted():
    p, agg = make_pipeline()

    def broken():
        raise KeyError("bad span")

    p.submit_deferred(broken)
    p.submit_deferred(lambda: [rec(1), "junk"])
    assert p.flush(5)
    assert p.stats().dropped == {"extract_error": 1, "invalid_record": 1}
    assert len(agg.records) == 1


def test_shutdown_analyses_queued_records_then_refuses_new_ones():
    p, agg = make_pipeline()
    for i in range(50):
        p.submit(rec(i))
    p.shutdown(5)
    assert len(agg.records) == 50
    assert not p._thread.is_alive()
    assert not p.submit(rec(99))
    assert p.stats().dropped == {"shutdown": 1}
    assert p.flush(1)


def test_default_pipeline_accessors(monkeypatch):
    old = pl.set_pipeline(None)
    try:
        monkeypatch.setenv("COLLAPSE_OTEL_QUEUE_SIZE", "123")
        p = pl.get_pipeline()
        assert p is pl.get_pipeline() and p.config.queue_size == 123
        mine, _ = make_pipeline()
        assert pl.set_pipeline(mine) is p
        assert pl.get_pipeline() is mine
        mine.submit(rec(1))
        assert pl.flush(5)
        pl.shutdown()
        assert not mine.submit(rec(2))
        assert pl.get_pipeline() is not mine
    finally:
        pl.set_pipeline(old)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_gives_the_child_a_fresh_worker_and_aggregator():
    p = Pipeline(CollapseConfig.resolve(environ={}))  # owns its aggregator
    agg = p.aggregator
    for i in range(5):
        p.submit(rec(i))
    assert p.flush(5)
    pid = os.fork()
    if pid == 0:  # child: exit code tells the parent what it saw
        code = 1
        # a lock held across the fork would hang the child (seen once): after two minutes of
        # a task bounded by flush's 5 s, print every thread's stack and exit, not hang CI
        faulthandler.dump_traceback_later(120, exit=True)
        try:
            ok = p.submit(rec(100)) and p.flush(5)
            streams = p.aggregator.snapshot().streams
            fresh = p.aggregator is not agg and streams[0].answers_total == 1
            code = 0 if ok and fresh and p._thread.is_alive() else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert p.submit(rec(6)) and p.flush(5)
    assert agg.snapshot().streams[0].answers_total == 6
