"""Self-observability of the receiver: collapse_serve_* families beside the collapse contract.

These describe one replica (requests, spans, queue, snapshots); they are not part of the
collapse metrics contract in export/names.py, which stays the same for every capture path.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .receiver import Receiver

REQUESTS = "collapse_serve_requests"
SPANS = "collapse_serve_spans"
ANSWER_SPANS = "collapse_serve_answer_spans_accepted"
QUEUED_ANSWERS = "collapse_serve_queued_answers"
QUEUED_BYTES = "collapse_serve_queued_bytes"
HELD_TRACES = "collapse_serve_held_traces"
HELD_BYTES = "collapse_serve_held_bytes"
HELD_EVICTED = "collapse_serve_held_traces_released_early"
SNAPSHOTS = "collapse_serve_snapshots"
LAST_SNAPSHOT = "collapse_serve_last_snapshot_timestamp_seconds"
STATE_CORRUPT = "collapse_serve_state_corrupt"
READY = "collapse_serve_ready"
WAL_ERRORS = "collapse_serve_wal_errors"
WAL_REPLAYED = "collapse_serve_wal_replayed_requests"
WAL_BYTES = "collapse_serve_wal_bytes"


class ServeCollector(Collector):
    def __init__(self, receiver: Receiver) -> None:
        self._receiver = receiver

    def describe(self) -> Iterator[Metric]:
        return iter(self._families(empty=True))

    def collect(self) -> Iterator[Metric]:
        return iter(self._families(empty=False))

    def _families(self, empty: bool) -> list[Metric]:
        r = self._receiver
        st = r.stats
        requests = CounterMetricFamily(REQUESTS, "OTLP export requests answered, by transport "
                                       "and response code.", labels=["transport", "code"])
        spans = CounterMetricFamily(SPANS, "Spans received, by outcome: accepted, rejected "
                                    "(partial success, not retryable), refused (client told "
                                    "to retry).", labels=["outcome"])
        answers = CounterMetricFamily(ANSWER_SPANS, "LLM answer spans accepted for analysis.")
        q_answers = GaugeMetricFamily(QUEUED_ANSWERS, "Answer spans accepted, not yet analysed.")
        q_bytes = GaugeMetricFamily(QUEUED_BYTES, "Bytes accepted, not yet analysed: requests "
                                    "and the estimated cost of holding their spans.")
        held = GaugeMetricFamily(HELD_TRACES, "Traces whose answers wait for the root span.")
        held_bytes = GaugeMetricFamily(HELD_BYTES, "Estimated bytes held by traces waiting "
                                       "for their root span (in the max_queued_bytes bound).")
        evicted = CounterMetricFamily(HELD_EVICTED, "Traces released before their root span "
                                      "came because too many traces or bytes were held; "
                                      "their answers are counted with the retrievals seen.")
        snaps = CounterMetricFamily(SNAPSHOTS, "State snapshots written, by outcome.",
                                    labels=["outcome"])
        last = GaugeMetricFamily(LAST_SNAPSHOT, "Unix time of the last successful snapshot.")
        corrupt = CounterMetricFamily(STATE_CORRUPT, "State files found corrupt at start and "
                                      "set aside.")
        ready = GaugeMetricFamily(READY, "1 when /readyz answers 200: accepting spans and, "
                                  "with a state file, the last snapshot succeeded.")
        wal_errors = CounterMetricFamily(WAL_ERRORS, "Requests answered 503 (retried by the "
                                         "client) because the write-ahead log could not "
                                         "write or fsync them.")
        replayed = CounterMetricFamily(WAL_REPLAYED, "Logged requests replayed at start: "
                                       "accepted after the last snapshot before a crash.")
        wal_bytes = GaugeMetricFamily(WAL_BYTES, "Bytes of write-ahead log on disk (deleted "
                                      "as snapshots cover them).")
        families: list[Metric] = [requests, spans, answers, q_answers, q_bytes, held,
                                  held_bytes, evicted, snaps, last, corrupt, ready,
                                  wal_errors, replayed, wal_bytes]
        if empty:
            return families
        with st._lock:
            req = dict(st.requests)
            span_counts = dict(st.spans)
            snap_counts = dict(st.snapshots)
            accepted, corrupt_n, last_t = st.answers_accepted, st.state_corrupt, \
                st.last_snapshot_time
            wal_errors_n, replayed_n = st.wal_errors, st.wal_replayed
        for (transport, code), n in sorted(req.items()):
            requests.add_metric([transport, code], n)
        for outcome in ("accepted", "rejected", "refused"):
            spans.add_metric([outcome], span_counts.get(outcome, 0))
        answers.add_metric([], accepted)
        q_answers.add_metric([], r.queued_answers)
        q_bytes.add_metric([], r.queued_bytes)
        held.add_metric([], r.assembler.held_traces)
        held_bytes.add_metric([], r.held_bytes)
        evicted.add_metric([], st.held_evicted)
        for outcome in ("success", "failure"):
            snaps.add_metric([outcome], snap_counts.get(outcome, 0))
        last.add_metric([], last_t)
        corrupt.add_metric([], corrupt_n)
        ready.add_metric([], 1.0 if r.not_ready() is None else 0.0)
        wal_errors.add_metric([], wal_errors_n)
        replayed.add_metric([], replayed_n)
        wal_bytes.add_metric([], r.wal_log.bytes if r.wal_log is not None else 0)
        return families
