"""flush() then snapshot() sees every answer, even when gauges were cached moments before."""

from __future__ import annotations

from collapse_otel.config import CollapseConfig
from collapse_otel.records import AnswerRecord
from collapse_otel.worker.pipeline import Pipeline


def test_snapshot_after_flush_sees_every_answer():
    pipeline = Pipeline(CollapseConfig(refresh_seconds=3600))
    try:
        for i in range(50):
            assert pipeline.submit(AnswerRecord(f"first answer number {i} about Porto"))
        assert pipeline.flush()
        assert pipeline.aggregator.snapshot().streams[0].window.window_answers == 50  # cached
        for i in range(30):
            assert pipeline.submit(AnswerRecord(f"second answer number {i} about Lisbon"))
        assert pipeline.flush()
        assert pipeline.aggregator.snapshot().streams[0].window.window_answers == 80
    finally:
        pipeline.shutdown()
