"""Where instrument() publishes the collapse metrics: never nowhere.

collapse-otel has its own variables (OTel's OTEL_EXPORTER_PROMETHEUS_* belong to OTel's
Prometheus exporter); an app with an SDK MeterProvider gets the collapse instruments on it (with
OTel's real Prometheus exporter, on the port both used to want); a busy port falls back to a
free one, logged with its URL; an app's own prometheus_client registry can carry them; FastAPI
serves them at /metrics without a redirect.
"""

from __future__ import annotations

import logging
import socket
import sys
import textwrap
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from collapse_otel import instrument, observe
from collapse_otel.capture import flush
from collapse_otel.config import CollapseConfig
from tests.support.requires import require_module
from tests.support.serve import REPO
from tests.support.waiting import run_watched


def _taken_port() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def test_otel_exporter_variables_are_not_ours():
    env = {"OTEL_EXPORTER_PROMETHEUS_PORT": "9999", "OTEL_EXPORTER_PROMETHEUS_HOST": "0.0.0.0"}
    config = CollapseConfig.resolve(environ=env)
    assert (config.prometheus_host, config.prometheus_port) == ("127.0.0.1", 9464)
    config = CollapseConfig.resolve(environ={"COLLAPSE_OTEL_METRICS_PORT": "9999",
                                             "COLLAPSE_OTEL_METRICS_EXPORT": "Otel, server"})
    assert config.prometheus_port == 9999 and config.metrics_export == "otel,server"
    for bad in ("prometheus", "auto,server", "none,otel"):
        with pytest.raises(ValueError):
            CollapseConfig(metrics_export=bad)


def test_a_busy_port_falls_back_to_a_free_one_and_says_where(caplog):
    taken = _taken_port()
    port = taken.getsockname()[1]
    with caplog.at_level(logging.WARNING, "collapse_otel"):
        inst = instrument(langchain=False, prometheus_port=port, release="v1")
    try:
        server = inst.metrics_server
        assert server is not None and server.port != port
        assert any(server.url in r.getMessage() for r in caplog.records)
        observe("Lisbon has seven hills.", question="hills?")
        assert flush(10)
        assert 'collapse_answers_total{cohort="default",release="v1"' in _scrape(server.url)
    finally:
        inst.uninstrument()
        taken.close()


def test_the_apps_prometheus_client_registry_carries_them():
    registry = CollectorRegistry()
    inst = instrument(langchain=False, registry=registry, metrics_export="none", release="r9")
    try:
        assert inst.metrics_server is None
        observe("Porto is on the Douro.")
        assert flush(10)
        assert 'release="r9"' in generate_latest(registry).decode()
    finally:
        inst.uninstrument()


def test_meter_provider_given_gets_the_instruments_and_no_server_starts():
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    inst = instrument(langchain=False, meter_provider=provider, release="m1")
    try:
        assert inst.metrics_server is None
        observe("Braga has a cathedral.")
        assert flush(10)
        names = {m.name for rm in reader.get_metrics_data().resource_metrics
                 for sm in rm.scope_metrics for m in sm.metrics}
        assert "collapse.answers" in names
    finally:
        inst.uninstrument()
        provider.shutdown()


def test_otel_asked_for_without_a_provider_serves_metrics_instead(caplog):
    with caplog.at_level(logging.WARNING, "collapse_otel"):
        inst = instrument(langchain=False, metrics_export="otel", prometheus_port=0)
    try:
        assert inst.metrics_server is not None
        assert any("no SDK MeterProvider" in r.getMessage() for r in caplog.records)
    finally:
        inst.uninstrument()


# A process of its own: the global MeterProvider can be set once per process.
OTEL_PROMETHEUS_APP = textwrap.dedent("""
    import socket, sys, urllib.request
    from opentelemetry import metrics
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from prometheus_client import start_http_server

    port = int(sys.argv[1])
    # the app: OTel's own Prometheus exporter on the port collapse-otel also defaults to
    start_http_server(port, addr="127.0.0.1")
    metrics.set_meter_provider(MeterProvider(metric_readers=[PrometheusMetricReader()]))
    from collapse_otel import instrument, observe
    from collapse_otel.capture import flush
    inst = instrument(langchain=False, release="v7", prometheus_port=port)
    assert inst.metrics_server is None, "auto must not start a server next to the provider"
    observe("Faro is in the Algarve.")
    assert flush(10)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        body = r.read().decode()
    print("collapse_answers_total" in body and 'release="v7"' in body)
    inst.uninstrument()
""")


def test_with_otels_prometheus_exporter_the_metrics_go_through_it():
    require_module("opentelemetry.exporter.prometheus")
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    proc = run_watched([sys.executable, "-c", OTEL_PROMETHEUS_APP, str(port)], cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "True"
    assert "WARNING" not in proc.stderr


def test_fastapi_serves_metrics_at_the_path_without_a_redirect():
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from collapse_otel.engine import Aggregator
    from collapse_otel.export import make_asgi_app, mount_metrics
    from collapse_otel.records import AnswerRecord

    agg = Aggregator(CollapseConfig(refresh_seconds=0))
    agg.observe(AnswerRecord("Evora has a Roman temple.", release="f1"))
    app = FastAPI()
    mount_metrics(app, source=agg)
    client = TestClient(app)
    response = client.get("/metrics", follow_redirects=False)
    assert response.status_code == 200 and 'release="f1"' in response.text
    assert client.head("/metrics").status_code == 200
    assert client.post("/metrics").status_code == 405
    # what mount_metrics avoids: a mounted app redirects /metrics to /metrics/
    mounted = FastAPI()
    mounted.mount("/metrics", make_asgi_app(source=agg))
    assert TestClient(mounted).get("/metrics", follow_redirects=False).status_code == 307
