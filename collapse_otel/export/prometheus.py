"""Prometheus export: a client_python Collector that turns one snapshot into every family.

Following client_python's custom-collector pattern, state is read on scrape (one immutable
snapshot per ``collect()``), nothing is registered at import and every entry point takes a
``registry=`` so tests never touch the global one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from ..snapshot import TOKEN_BUCKETS, AggregatorSnapshot
from . import names as N
from .series import (
    health_rows,
    release_rows,
    stream_histograms,
    stream_rows,
    unique_streams,
)

_log = logging.getLogger(__name__)

_STREAM = list(N.STREAM_LABELS)


def _labelnames(metric: N.MetricDef) -> list[str]:
    if metric is N.RELEASE_INFO:
        return ["service", "release", *metric.labels]
    if metric in N.HEALTH_METRICS:
        return list(metric.labels)
    return [*_STREAM, *metric.labels]


def _empty_family(metric: N.MetricDef) -> Metric:
    labels = _labelnames(metric)
    if metric.kind == "counter":
        return CounterMetricFamily(metric.name, metric.help, labels=labels)
    if metric.kind == "histogram":
        return HistogramMetricFamily(metric.name, metric.help, labels=labels)
    return GaugeMetricFamily(metric.name, metric.help, labels=labels)


_BOUNDS = (*(floatToGoString(b) for b in TOKEN_BUCKETS), "+Inf")


def snapshot_families(snapshot: AggregatorSnapshot, stats: object | None = None,
                      release_order: Sequence[str] | None = None) -> list[Metric]:
    """Every family of the contract for one snapshot (stream, health and release-info).

    Samples are appended directly (one label dict shared by a stream's plain series) rather
    than through ``add_metric``, which rebuilds the dict per sample: a 200-stream scrape holds
    ~12,000 samples and this is on the scrape path.
    """
    families = {m: _empty_family(m) for m in N.ALL_METRICS}
    for base, stream in unique_streams(snapshot):
        base_dict = dict(base)
        for metric, labels, value in stream_rows(stream, base):
            family = families[metric]
            family.samples.append(Sample(
                family_sample_name(metric), base_dict if len(labels) == 3 else dict(labels), value))
        for metric, _, hist in stream_histograms(stream, base):
            samples = families[metric].samples
            bucket_name = metric.name + "_bucket"
            count = 0
            for le, (_, count) in zip(_BOUNDS, hist.cumulative(), strict=False):
                samples.append(Sample(bucket_name, {**base_dict, "le": le}, count))
            samples.append(Sample(metric.name + "_count", base_dict, count))
            samples.append(Sample(metric.name + "_sum", base_dict, hist.sum))
    for metric, labels, value in health_rows(snapshot, stats):
        families[metric].samples.append(Sample(family_sample_name(metric), dict(labels), value))
    for metric, labels, value in release_rows(snapshot, release_order):
        families[metric].samples.append(Sample(metric.name, dict(labels), value))
    return list(families.values())


def family_sample_name(metric: N.MetricDef) -> str:
    return metric.sample_name


class CollapseCollector(Collector):
    """Yields the collapse metrics contract from ``snapshot_source()`` on every scrape.

    ``snapshot_source``: callable returning an AggregatorSnapshot (e.g. ``aggregator.snapshot``).
    ``stats_source``: optional callable returning the capture pipeline's stats (dropped by
    reason, queue depth, processing seconds, records processed).
    ``release_order``: releases oldest first, for ``collapse_release_info``'s previous_release;
    releases it does not list follow in first-seen order.
    """

    def __init__(self, snapshot_source: Callable[[], AggregatorSnapshot],
                 stats_source: Callable[[], object] | None = None,
                 release_order: Iterable[str] | None = None) -> None:
        self._snapshot_source = snapshot_source
        self._stats_source = stats_source
        self.release_order: tuple[str, ...] = tuple(release_order or ())

    def describe(self) -> Iterator[Metric]:
        """Names only (no snapshot taken), so registries can detect duplicate registration."""
        for metric in N.ALL_METRICS:
            yield _empty_family(metric)

    def collect(self) -> Iterator[Metric]:
        snapshot = self._snapshot_source()
        stats = None
        if self._stats_source is not None:
            try:
                stats = self._stats_source()
            except Exception:   # health is secondary: never fail the whole scrape over it
                _log.warning("collapse-otel: pipeline stats unavailable", exc_info=True)
        yield from snapshot_families(snapshot, stats, self.release_order)
