"""Prometheus export: a client_python Collector that turns one snapshot into every family.

Following client_python's custom-collector pattern, state is read on scrape (one immutable
snapshot per ``collect()``), nothing is registered at import and every entry point takes a
``registry=`` so tests never touch the global one.
"""

from __future__ import annotations

import bisect
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

from ..config.lineage import Lineage
from ..engine.snapshot import SCORE_BUCKETS, TOKEN_BUCKETS, AggregatorSnapshot
from . import names as N
from .encode import LabelSet, escape_label_value
from .series import (
    Labels,
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


_BOUNDS = {TOKEN_BUCKETS: (*(floatToGoString(b) for b in TOKEN_BUCKETS), "+Inf"),
           SCORE_BUCKETS: (*(floatToGoString(b) for b in SCORE_BUCKETS), "+Inf")}


class _StreamLabels:
    """The label sets of one stream, rendered once and reused by every scrape: the base set
    and each (extra label, value) variant spliced into its sorted place, exactly as
    the text encoder would render it."""

    __slots__ = ("_base", "_names", "_parts", "_extra", "plain")

    def __init__(self, base: Labels) -> None:
        rendered = sorted((k, f'{k}="{escape_label_value(v)}"') for k, v in base)
        self._base = base
        self._names = [k for k, _ in rendered]
        self._parts = [p for _, p in rendered]
        self._extra: dict[tuple[str, str], LabelSet] = {}
        self.plain = LabelSet(base, "{" + ",".join(self._parts) + "}")

    def get(self, name: str, value: str) -> LabelSet:
        found = self._extra.get((name, value))
        if found is None:
            pos = bisect.bisect(self._names, name)
            parts = self._parts
            text = ",".join((*parts[:pos], f'{name}="{escape_label_value(value)}"', *parts[pos:]))
            found = self._extra[(name, value)] = LabelSet((*self._base, (name, value)),
                                                          "{" + text + "}")
        return found


class LabelCache(dict):
    """Labels -> _StreamLabels, bounded: cleared when it outgrows ``limit`` streams."""

    def __init__(self, limit: int = 4096) -> None:
        super().__init__()
        self.limit = limit

    def __missing__(self, base: Labels) -> _StreamLabels:
        if len(self) >= self.limit:
            self.clear()
        value = self[base] = _StreamLabels(base)
        return value


def snapshot_families(snapshot: AggregatorSnapshot, stats: object | None = None,
                      lineage: Lineage | Sequence[str] | None = None,
                      label_cache: LabelCache | None = None) -> list[Metric]:
    """Every family of the contract for one snapshot (stream, health and release-info).

    Samples are appended directly, with labels rendered once per stream and kept in
    ``label_cache`` across scrapes, rather than through ``add_metric``: a 200-stream scrape
    holds ~12,000 samples and this is the scrape path.
    """
    cache = LabelCache() if label_cache is None else label_cache
    families = {m.name: _empty_family(m) for m in N.ALL_METRICS}   # str keys hash cheaply
    for base, stream in unique_streams(snapshot):
        labels_of = cache[base]
        plain, get = labels_of.plain, labels_of.get
        for metric, labels, value in stream_rows(stream, base):
            n = len(labels)
            lab = plain if n == 3 else get(*labels[3]) if n == 4 else dict(labels)
            families[metric.name].samples.append(Sample(metric.sample_name, lab, value))
        for metric, labels, hist in stream_histograms(stream, base):
            samples = families[metric.name].samples
            bucket_name = metric.name + "_bucket"
            count = 0
            own = plain if len(labels) == 3 else dict(labels)
            bounds = _BOUNDS.get(hist.bounds) or (*map(floatToGoString, hist.bounds), "+Inf")
            for le, (_, count) in zip(bounds, hist.cumulative(), strict=False):
                samples.append(Sample(bucket_name, get("le", le) if own is plain else
                                      {**own, "le": le}, count))
            samples.append(Sample(metric.name + "_count", own, count))
            samples.append(Sample(metric.name + "_sum", own, hist.sum))
    for metric, labels, value in (*health_rows(snapshot, stats),
                                  *release_rows(snapshot, lineage)):
        families[metric.name].samples.append(Sample(metric.sample_name, dict(labels), value))
    return list(families.values())


class CollapseCollector(Collector):
    """Yields the collapse metrics contract from ``snapshot_source()`` on every scrape.

    ``snapshot_source``: callable returning an AggregatorSnapshot (e.g. ``aggregator.snapshot``).
    ``stats_source``: optional callable returning the capture pipeline's stats (dropped by
    reason, queue depth, processing seconds, records processed).
    ``release_order``: releases oldest first, for ``collapse_release_info``'s previous_release
    (releases it does not list follow in first-seen order); ``lineage`` the whole
    configuration of predecessors and baselines (``collapse_otel.config.lineage``).
    """

    def __init__(self, snapshot_source: Callable[[], AggregatorSnapshot],
                 stats_source: Callable[[], object] | None = None,
                 release_order: Iterable[str] | None = None,
                 lineage: Lineage | None = None) -> None:
        self._snapshot_source = snapshot_source
        self._stats_source = stats_source
        self.lineage = lineage or Lineage.from_config(None, release_order)
        self._labels = LabelCache()
        self._errors_logged: set[str] = set()

    def describe(self) -> Iterator[Metric]:
        """Names only (no snapshot taken), so registries can detect duplicate registration."""
        for metric in N.ALL_METRICS:
            yield _empty_family(metric)

    def collect(self) -> Iterator[Metric]:
        """One snapshot -> every family. A failing source yields nothing (logged once per
        kind) rather than raising: the registry may hold the host's own metrics too."""
        stats = None
        try:
            if self._stats_source is not None:
                stats = self._stats_source()
        except Exception as exc:   # health is secondary: export the signals without it
            self._log_once("pipeline stats", exc)
        try:
            families = snapshot_families(self._snapshot_source(), stats, self.lineage,
                                         self._labels)
        except Exception as exc:
            self._log_once("collapse metrics", exc)
            return
        yield from families

    def _log_once(self, what: str, exc: Exception) -> None:
        kind = f"{what}:{type(exc).__name__}"
        if kind not in self._errors_logged:
            self._errors_logged.add(kind)
            _log.warning("collapse-otel: %s unavailable this scrape (%s)", what,
                         type(exc).__name__)
