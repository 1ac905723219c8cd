"""Export cost: one /metrics scrape (collect + encode) of 200 streams, and the OTLP collection.

Target: one scrape of 200 streams <= 50 ms. Medians over repeats, one process.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry, generate_latest

from collapse_otel.config import CollapseConfig
from collapse_otel.engine import Aggregator
from collapse_otel.export.encode import generate_text
from collapse_otel.export.otlp import register_otel_metrics
from collapse_otel.export.prometheus import CollapseCollector, snapshot_families
from collapse_otel.records import AnswerRecord
from collapse_otel.worker.health import PipelineStats
from tests.support.synthetic import synthetic_snapshot

STREAMS = 200
STATS = PipelineStats({"queue_full": 0}, 0, 1.0, 1000)


def _median_ms(fn: Callable[[], object], repeats: int,
               warm: Callable[[], object] | None = None) -> float:
    (warm or fn)()   # warm caches (label strings, imports)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _real_aggregator(streams: int) -> Aggregator:
    agg = Aggregator(CollapseConfig(max_streams=streams))
    for i in range(streams * 10):
        s = i % streams
        agg.observe_batch([AnswerRecord(
            f"Release {s} answer {i}: the Harbour Museum opens at {i % 12} and costs {i % 40} euros.",
            120, 40 + i % 50, (f"doc-{i % 97}",), service=f"svc-{s % 10}", release=f"r{s // 10}")])
    agg.snapshot(max_age=0)
    return agg


def run(repeats: int = 30) -> list[dict]:
    snapshot = synthetic_snapshot(STREAMS)
    registry = CollectorRegistry()
    collector = CollapseCollector(lambda: snapshot, lambda: STATS)
    registry.register(collector)
    size = len(generate_text(registry))
    samples = sum(len(f.samples) for f in snapshot_families(snapshot, STATS))
    rows = [
        {"name": f"export: scrape {STREAMS} streams (collect + encode)",
         "value": _median_ms(lambda: generate_text(registry), repeats), "unit": "ms",
         "target": "<= 50 ms", "note": f"{samples:,} samples, {size / 1e6:.2f} MB, median"},
        {"name": f"export: collect only, {STREAMS} streams",
         "value": _median_ms(lambda: list(collector.collect()), repeats), "unit": "ms",
         "target": "", "note": "snapshot -> metric families (label cache warm)"},
        {"name": "export: same scrape with prometheus_client.generate_latest",
         "value": _median_ms(lambda: generate_latest(registry), repeats), "unit": "ms",
         "target": "", "note": "reference encoder; byte-identical output"},
    ]
    agg = _real_aggregator(STREAMS)
    real = CollectorRegistry()
    real.register(CollapseCollector(agg.snapshot, lambda: STATS))
    rows.append({"name": f"export: scrape of a real Aggregator, {STREAMS} streams",
                 "value": _median_ms(lambda: generate_text(real), repeats), "unit": "ms",
                 "target": "<= 50 ms", "note": "incl. aggregator.snapshot() (cached gauges)"})
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    register_otel_metrics(lambda: snapshot, meter_provider=provider)
    rows.append({"name": f"export: OTLP collection, {STREAMS} streams",
                 # the first collection builds every instrument: on a busy machine it can
                 # outlast the SDK's default 10 s callback deadline, so it gets its own
                 "value": _median_ms(reader.get_metrics_data, max(5, repeats // 3),
                                     warm=lambda: reader.collect(timeout_millis=300_000)),
                 "unit": "ms",
                 "target": "", "note": "InMemoryMetricReader, steady state"})
    provider.shutdown()
    return rows


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<58} {row['value']:8.2f} {row['unit']:<3} {row['target']:<10} "
              f"{row['note']}")
