"""The multiprocess merge's own health, beside the collapse metrics on a multiprocess /metrics.

- ``collapse_multiprocess_files{kind}``: files merged by the last scrape (``worker``: one per
  live or unarchived worker; ``archive``: 0 or 1);
- ``collapse_multiprocess_files_skipped_total{reason}``: file versions skipped, each once
  (``corrupt``, ``incompatible``: written under another configuration, ``unreadable``): a
  worker whose files are skipped adds one at each of its writes;
- ``collapse_multiprocess_merge_seconds``: how long the last merge took.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .source import MultiprocessSource

REASONS = ("corrupt", "incompatible", "unreadable")


class MultiprocessCollector(Collector):
    def __init__(self, source: MultiprocessSource) -> None:
        self.source = source

    def describe(self) -> Iterator:
        yield from self._families(describe=True)

    def collect(self) -> Iterator:
        self.source.snapshot()   # cached: the collapse collector's scrape merged already
        yield from self._families()

    def _families(self, describe: bool = False) -> Iterator:
        src = self.source
        files = GaugeMetricFamily("collapse_multiprocess_files",
                                  "State files merged by the last multiprocess merge.",
                                  labels=["kind"])
        skipped = CounterMetricFamily("collapse_multiprocess_files_skipped",
                                      "State file versions the multiprocess merge skipped, by reason.",
                                      labels=["reason"])
        seconds = GaugeMetricFamily("collapse_multiprocess_merge_seconds",
                                    "Duration of the last multiprocess merge.")
        if not describe:
            for kind in ("worker", "archive"):
                files.add_metric([kind], float(src.files.get(kind, 0)))
            for reason in sorted({*REASONS, *src.skipped}):
                skipped.add_metric([reason], float(src.skipped.get(reason, 0)))
            seconds.add_metric([], src.merge_seconds)
        yield from (files, skipped, seconds)
