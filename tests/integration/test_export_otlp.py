"""The OTLP path carries the same values as the Prometheus path (SDK InMemoryMetricReader),
and the OTLP/HTTP exporter really sends them (a local HTTP receiver decodes the protobuf)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import Gauge, Histogram, InMemoryMetricReader, Sum
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from collapse_otel.config import CollapseConfig
from collapse_otel.demo.agent import sample_answers
from collapse_otel.engine import Aggregator
from collapse_otel.export import names as N
from collapse_otel.export.otlp import register_otel_metrics, start_otlp_metrics
from collapse_otel.export.prometheus import CollapseCollector
from collapse_otel.records import AnswerRecord, StreamKey
from collapse_otel.records.outcomes import EVALUATION, FEEDBACK, LOOP, Outcome
from collapse_otel.worker.health import PipelineStats
from tests.support.requires import require_module

RELEASES = ("v1", "v2", "v3")
STATS = PipelineStats(dropped={"queue_full": 2}, queue_depth=1, processing_seconds=0.5,
                      records_processed=150, outcomes_unmatched={"feedback": 3}, references=7)


class _Source:
    """An aggregator plus pipeline-like stats, the shape exporters read."""

    def __init__(self) -> None:
        self.aggregator = Aggregator(CollapseConfig(refresh_seconds=0))
        self.stats = lambda: STATS

    def snapshot(self):
        return self.aggregator.snapshot(max_age=0)

    def feed(self, answers: dict[str, list[str]], start: int, stop: int) -> None:
        for release, texts in answers.items():
            for i, text in enumerate(texts[start:stop], start):
                self.aggregator.observe(AnswerRecord(
                    text, prompt_tokens=40 + 37 * i % 900, completion_tokens=len(text) // 4,
                    context_ids=(f"doc-{i % 7}", f"doc-{i % 11}"), release=release,
                    service="rag", question=f"question {i % 13}"))
                # feedback and evaluations: scores on 0-1 and 1-5 scales, a few below 0
                key = StreamKey("rag", release, "default")
                self.aggregator.observe_outcomes([
                    (key, Outcome(FEEDBACK, rating=("up", "down")[i % 3 == 0],
                                  score=(i % 5) + 1.0)),
                    (key, Outcome(EVALUATION, evaluator=("faithfulness", "relevance")[i % 2],
                                  result=("pass", "fail", "unknown")[i % 3],
                                  score=(i % 11) / 10 - 0.15)),
                    # an agent turn, looping one time in five
                    (key, Outcome(LOOP, loop_length=1 + 3 * (i % 5 == 0),
                                  loop_kinds=("repeated_tool_call",) if i % 5 == 0 else ()))])


def _prometheus_values(source) -> dict[tuple[str, frozenset], float]:
    registry = CollectorRegistry()
    registry.register(CollapseCollector(source.snapshot, source.stats, RELEASES))
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(generate_latest(registry).decode())
            for s in fam.samples}


def _otel_values(reader: InMemoryMetricReader) -> dict[tuple[str, frozenset], float]:
    """OTel points under the Prometheus names a Collector would give them (names.py mapping)."""
    by_otel = {m.otel_name: m for m in N.ALL_METRICS}
    out: dict[tuple[str, frozenset], float] = {}
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                contract = by_otel[metric.name]
                for point in metric.data.data_points:
                    labels = dict(point.attributes)
                    if isinstance(metric.data, Histogram):
                        running = 0
                        bounds = [*map(floatToGoString, point.explicit_bounds), "+Inf"]
                        for le, count in zip(bounds, point.bucket_counts, strict=True):
                            running += count
                            out[(f"{contract.name}_bucket",
                                 frozenset({**labels, "le": le}.items()))] = running
                        out[(f"{contract.name}_count", frozenset(labels.items()))] = point.count
                        out[(f"{contract.name}_sum", frozenset(labels.items()))] = point.sum
                    else:
                        assert isinstance(metric.data, Sum | Gauge)
                        if isinstance(metric.data, Sum):
                            assert metric.data.is_monotonic
                        out[(contract.sample_name, frozenset(labels.items()))] = point.value
    return out


def test_otlp_carries_the_same_values_as_prometheus_across_collections():
    answers = sample_answers(60)
    source = _Source()
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    otel = register_otel_metrics(source, meter_provider=provider, release_order=RELEASES)
    for start, stop in ((0, 25), (25, 60)):          # cumulative histograms across collections
        source.feed(answers, start, stop)
        prom, got = _prometheus_values(source), _otel_values(reader)
        assert got.keys() == prom.keys()
        mismatched = {k: (prom[k], got[k]) for k in prom if abs(prom[k] - got[k]) > 1e-9}
        assert mismatched == {}
    assert {dict(lab)["release"] for name, lab in got if name == "collapse_answers_total"} == \
        set(RELEASES)
    otel.close()
    provider.shutdown()


def test_every_contract_metric_has_an_otel_instrument():
    source = _Source()
    source.feed(sample_answers(100), 0, 100)   # v1 names 500 entities (entity richness)
    # a process restored from state written with another sample size (state_rebuilt)
    source.aggregator = Aggregator.from_bytes(source.aggregator.to_bytes(),
                                              CollapseConfig(refresh_seconds=0, sample_size=500))
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    register_otel_metrics(source, meter_provider=provider)
    names = {m.name for rm in reader.get_metrics_data().resource_metrics
             for sm in rm.scope_metrics for m in sm.metrics}
    assert names == {m.otel_name for m in N.ALL_METRICS}
    provider.shutdown()


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).bodies.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_otlp_http_exporter_sends_the_collapse_metrics():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    source = _Source()
    source.feed(sample_answers(20), 0, 20)
    exporter = start_otlp_metrics(
        source, endpoint=f"http://127.0.0.1:{server.server_port}/v1/metrics",
        interval_seconds=3600, release_order=RELEASES)
    try:
        assert exporter.force_flush(10_000)
    finally:
        exporter.shutdown()
        server.shutdown()
    request = ExportMetricsServiceRequest()
    request.ParseFromString(_Receiver.bodies[0])
    sent = {m.name: m for rm in request.resource_metrics for sm in rm.scope_metrics
            for m in sm.metrics}
    assert {"collapse.answers", "collapse.duplicate_answers", "collapse.prompt_tokens",
            "collapse.embedding_vendi_score", "collapse.release_info"} <= sent.keys()
    answers = {next(a.value.string_value for a in p.attributes if a.key == "release"): p.as_double
               for p in sent["collapse.answers"].sum.data_points}
    assert answers == {"v1": 20.0, "v2": 20.0, "v3": 20.0}


def test_a_failing_source_reports_nothing_and_recovers():
    state = {"fail": True}
    source = _Source()
    source.feed(sample_answers(10), 0, 10)

    def snapshot():
        if state["fail"]:
            raise RuntimeError("aggregator down")
        return source.snapshot()

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    register_otel_metrics(snapshot, meter_provider=provider)
    data = reader.get_metrics_data()
    assert data is None or not any(
        m.data.data_points for rm in data.resource_metrics for sm in rm.scope_metrics
        for m in sm.metrics)
    state["fail"] = False
    assert _otel_values(reader)[("collapse_answers_total", frozenset(
        {"service": "rag", "release": "v1", "cohort": "default"}.items()))] == 10
    provider.shutdown()


def test_otel_names_translate_back_to_the_contract_names():
    """The documented mapping, checked with OpenTelemetry's own Prometheus exporter: the same
    series (names, labels, values) as the collapse collector, scope labels aside."""
    prom_exporter = require_module("opentelemetry.exporter.prometheus")
    source = _Source()
    source.feed(sample_answers(30), 0, 30)
    registry = CollectorRegistry()
    reader = prom_exporter.PrometheusMetricReader(disable_target_info=True,
                                                  scope_info_enabled=False, registry=registry)
    provider = MeterProvider(metric_readers=[reader])
    register_otel_metrics(source, meter_provider=provider, release_order=RELEASES)
    translated = {(s.name, frozenset(s.labels.items())): s.value
                  for fam in text_string_to_metric_families(generate_latest(registry).decode())
                  for s in fam.samples if s.name.startswith("collapse_")}
    expected = _prometheus_values(source)
    assert translated.keys() == expected.keys()
    assert {k: v for k, v in translated.items() if abs(v - expected[k]) > 1e-9} == {}
    provider.shutdown()
