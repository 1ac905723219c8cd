"""OTLP export: the same signals as the Prometheus path, as instruments of an OTel MeterProvider.

Counters are observable counters reporting the snapshot's cumulative totals; window gauges,
health gauges and the release-info series are observable gauges. Histograms have no
observable form in OTel, so the token histograms are synchronous histograms fed, on each
collection, with the bucket-count and sum deltas since the previous snapshot: bucket counts,
count and sum equal the Prometheus path exactly (min/max are only bucket-accurate).

Names are ``names.MetricDef.otel_name`` (``collapse.answers``, ...); an OTel-to-Prometheus
translation (the Collector's prometheus exporters) maps them back to the contract names:
dots become underscores and monotonic counters gain ``_total``. Units are left empty so that
no unit suffix is appended on the way.

All instruments of one collection read one snapshot: the SDK calls observable callbacks in
creation order, and the first instrument created (``collapse.streams``) takes the snapshot.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from .. import forksafe
from ..config.lineage import Lineage
from ..engine.snapshot import (
    LOOP_LENGTH_BUCKETS,
    SCORE_BUCKETS,
    TOKEN_BUCKETS,
    AggregatorSnapshot,
    HistogramSnapshot,
)
from . import names as N
from .series import (
    Labels,
    as_snapshot_source,
    as_stats_source,
    health_rows,
    release_rows,
    stream_histograms,
    stream_rows,
    unique_streams,
)

if TYPE_CHECKING:   # the SDK is loaded only when an exporter is built
    from opentelemetry.sdk.resources import Resource

_log = logging.getLogger(__name__)
METER_NAME = "collapse_otel"
_FIRST = N.STREAMS   # created first, so its callback runs first in every collection


def _limits(bounds: tuple[float, ...]) -> tuple[tuple[float, ...], list[tuple[float, ...]]]:
    """Upper bounds, and the lowest values to try per bucket: integers first for token
    counts, else just above the bound below (the first bucket starts at 0)."""
    upper = (*(float(b) for b in bounds), math.inf)
    real = (min(0.0, float(bounds[0])), *(math.nextafter(float(b), math.inf) for b in bounds))
    if bounds == TOKEN_BUCKETS:
        return upper, [(0.0, *(float(b) + 1.0 for b in bounds)), real]
    return upper, [real]


_LIMITS = {TOKEN_BUCKETS: _limits(TOKEN_BUCKETS), SCORE_BUCKETS: _limits(SCORE_BUCKETS)}


def _synthetic_values(prev: HistogramSnapshot | None, cur: HistogramSnapshot) -> list[float]:
    """Values whose histogram equals ``cur - prev``: the same count per bucket, the same sum.

    Each value starts at its bucket's lowest value, then the remaining sum is spread by
    raising values towards their bucket's upper bound (the +Inf bucket takes any excess); a
    sum below the lowest values (scores under 0) is taken from a first-bucket value.
    """
    upper, lows_tried = _LIMITS.get(cur.bounds) or _limits(cur.bounds)
    prev_counts = prev.bucket_counts if prev else (0,) * len(cur.bucket_counts)
    deltas = [c - p for c, p in zip(cur.bucket_counts, prev_counts, strict=False)]
    target = cur.sum - (prev.sum if prev else 0.0)
    for lows in lows_tried:
        values = [lows[i] for i, d in enumerate(deltas) for _ in range(d)]
        if sum(values) <= target:
            break
    caps = [upper[i] for i, d in enumerate(deltas) for _ in range(d)]
    rest = target - sum(values)
    for j in range(len(values) - 1, -1, -1):
        if rest <= 0:
            break
        add = min(rest, caps[j] - values[j])
        values[j] += add
        rest -= add
    if rest < 0 and deltas and deltas[0] > 0:
        values[0] += rest   # the first bucket is open below
    return values


class OtelMetrics:
    """The collapse instruments on ``meter_provider`` (default: the global one), reading
    ``source`` (an Aggregator, a capture pipeline, or a snapshot callable) on collection."""

    def __init__(self, source: object, *, meter_provider: metrics.MeterProvider | None = None,
                 release_order: Iterable[str] | None = None) -> None:
        self._snapshot_source: Callable[[], AggregatorSnapshot] = as_snapshot_source(source)
        self._stats_source = as_stats_source(source)
        self.lineage = Lineage.from_config(getattr(source, "config", None), release_order)
        self._lock = forksafe.Lock()
        self._closed = False
        self._errors_logged: set[str] = set()
        self._observations: dict[str, list[Observation]] = {}   # by metric name
        self._fed: dict[tuple[str, Labels], HistogramSnapshot] = {}
        provider = meter_provider or metrics.get_meter_provider()
        from .. import __version__
        meter = provider.get_meter(METER_NAME, __version__)
        self._histograms: dict[N.MetricDef, metrics.Histogram] = {}
        for metric in (_FIRST, *(m for m in N.ALL_METRICS if m is not _FIRST)):
            self._create(meter, metric)

    def _create(self, meter: metrics.Meter, metric: N.MetricDef) -> None:
        def callback(options: CallbackOptions, _metric: N.MetricDef = metric) -> list[Observation]:
            if _metric is _FIRST:
                self._refresh()
            return self._observations.get(_metric.name, [])

        if metric.kind == "histogram":
            bounds = SCORE_BUCKETS if metric in (N.FEEDBACK_SCORE, N.EVALUATION_SCORE) \
                else LOOP_LENGTH_BUCKETS if metric is N.AGENT_LOOP_LENGTH else TOKEN_BUCKETS
            self._histograms[metric] = meter.create_histogram(
                metric.otel_name, unit="", description=metric.help,
                explicit_bucket_boundaries_advisory=[float(b) for b in bounds])
        elif metric.kind == "counter":
            meter.create_observable_counter(metric.otel_name, callbacks=[callback], unit="",
                                            description=metric.help)
        else:
            meter.create_observable_gauge(metric.otel_name, callbacks=[callback], unit="",
                                          description=metric.help)

    def _refresh(self) -> None:
        """Take one snapshot: observations for every observable, deltas for the histograms.
        A failing source reports nothing this round (logged once), never an exception."""
        with self._lock:
            self._observations = {}
            if self._closed:
                return
            try:
                self._observe(self._snapshot_source(), self._stats_source)
            except Exception as exc:
                if type(exc).__name__ not in self._errors_logged:
                    self._errors_logged.add(type(exc).__name__)
                    _log.warning("collapse-otel: OTLP collection failed (%s)", type(exc).__name__)

    def _observe(self, snapshot: AggregatorSnapshot,
                 stats_source: Callable[[], object] | None) -> None:
        try:
            stats = stats_source() if stats_source else None
        except Exception:
            stats = None
        obs: dict[str, list[Observation]] = {}
        for base, stream in unique_streams(snapshot):
            for metric, labels, value in stream_rows(stream, base):
                obs.setdefault(metric.name, []).append(Observation(value, dict(labels)))
            for metric, labels, hist in stream_histograms(stream, base):
                self._feed(metric, labels, hist)
        for metric, labels, value in (*health_rows(snapshot, stats),
                                      *release_rows(snapshot, self.lineage)):
            obs.setdefault(metric.name, []).append(Observation(value, dict(labels)))
        self._observations = obs

    def _feed(self, metric: N.MetricDef, labels: Labels, hist: HistogramSnapshot) -> None:
        key = (metric.name, labels)
        prev = self._fed.get(key)
        if prev is not None and (hist.count < prev.count or any(
                c < p for c, p in zip(hist.bucket_counts, prev.bucket_counts, strict=False))):
            prev = None   # the source restarted: its totals start again
        if prev is not None and hist.count == prev.count:
            return
        instrument, attributes = self._histograms[metric], dict(labels)
        for value in _synthetic_values(prev, hist):
            instrument.record(value, attributes)
        self._fed[key] = hist

    def close(self) -> None:
        """Stop reporting (OTel has no way to remove instruments; they go silent)."""
        with self._lock:
            self._closed = True


def register_otel_metrics(source: object = None, *,
                          meter_provider: metrics.MeterProvider | None = None,
                          release_order: Sequence[str] | None = None) -> OtelMetrics:
    """Report the collapse signals through ``meter_provider`` (default: the global one) from
    ``source`` (default: the process-wide capture pipeline)."""
    if source is None:
        from .server import DefaultPipeline
        source = DefaultPipeline()
    return OtelMetrics(source, meter_provider=meter_provider, release_order=release_order)


class OtlpMetricsExporter:
    """A MeterProvider exporting the collapse signals over OTLP/HTTP every ``interval`` seconds
    (needs the ``otlp`` extra: opentelemetry-exporter-otlp-proto-http)."""

    def __init__(self, source: object = None, *, endpoint: str | None = None,
                 interval_seconds: float = 60.0, release_order: Sequence[str] | None = None,
                 resource: Resource | None = None) -> None:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource

        reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint),
                                               export_interval_millis=interval_seconds * 1000)
        self.meter_provider = MeterProvider(metric_readers=[reader],
                                            resource=resource or Resource.create())
        self.metrics = register_otel_metrics(source, meter_provider=self.meter_provider,
                                             release_order=release_order)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.meter_provider.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self.metrics.close()
        self.meter_provider.shutdown()


def start_otlp_metrics(source: object = None, *, endpoint: str | None = None,
                       interval_seconds: float = 60.0,
                       release_order: Sequence[str] | None = None) -> OtlpMetricsExporter:
    """Export the collapse signals over OTLP/HTTP (endpoint default: the standard
    ``OTEL_EXPORTER_OTLP_(METRICS_)ENDPOINT`` env vars, else http://localhost:4318)."""
    return OtlpMetricsExporter(source, endpoint=endpoint, interval_seconds=interval_seconds,
                               release_order=release_order)
