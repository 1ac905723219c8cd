"""Serving /metrics: the standalone server (env-configured), the WSGI and the ASGI app."""

from __future__ import annotations

import asyncio
import gzip
import socket
import urllib.request
from wsgiref.util import setup_testing_defaults

import pytest
from prometheus_client import CollectorRegistry, Counter

from collapse_otel.config import CollapseConfig
from collapse_otel.engine import Aggregator
from collapse_otel.export.encode import CONTENT_TYPE
from collapse_otel.export.server import make_asgi_app, make_wsgi_app, start_prometheus_server
from collapse_otel.records import AnswerRecord


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def aggregator() -> Aggregator:
    agg = Aggregator(CollapseConfig(refresh_seconds=0))
    for i in range(6):
        agg.observe(AnswerRecord(f"Porto has {i} bridges over the Douro.", 20, 8, ("d1",),
                                 release=f"v{i % 2}"))
    return agg


def test_server_honours_otel_exporter_prometheus_env_and_closes(aggregator):
    port = _free_port()
    config = CollapseConfig.resolve(environ={"COLLAPSE_OTEL_METRICS_HOST": "127.0.0.1",
                                             "COLLAPSE_OTEL_METRICS_PORT": str(port)})
    server = start_prometheus_server(source=aggregator, config=config)
    try:
        assert (server.addr, server.port) == ("127.0.0.1", port)
        with urllib.request.urlopen(server.url, timeout=10) as response:
            body = response.read()
            assert response.headers["Content-Type"] == CONTENT_TYPE
        assert b'collapse_answers_total{cohort="default",release="v0",service="unknown_service"} 3.0' \
            in body
    finally:
        server.close()
    with start_prometheus_server(port, source=aggregator, config=config) as again:
        assert again.port == port   # the listening socket was released


def test_explicit_arguments_win_and_port_zero_picks_a_free_port(aggregator):
    config = CollapseConfig.resolve(environ={"COLLAPSE_OTEL_METRICS_PORT": "1"})
    with start_prometheus_server(0, "127.0.0.1", source=aggregator, config=config) as server:
        assert server.port not in (0, 1)
        with urllib.request.urlopen(server.url, timeout=10) as response:
            assert b"collapse_window_answers" in response.read()


def test_wsgi_app_serves_the_user_registry_too_and_gzips(aggregator):
    registry = CollectorRegistry()
    Counter("user_requests", "The user's own metric.", registry=registry).inc()
    app = make_wsgi_app(registry, source=aggregator)
    assert make_wsgi_app(registry, source=aggregator).registry is registry   # registered once

    def call(**environ):
        env: dict = {}
        setup_testing_defaults(env)
        env.update(environ)
        seen = {}
        body = b"".join(app(env, lambda status, headers: seen.update(status=status,
                                                                     headers=dict(headers))))
        return seen, body

    seen, body = call()
    assert seen["status"] == "200 OK" and b"user_requests_total 1.0" in body
    assert b"collapse_answers_total" in body
    seen, body = call(HTTP_ACCEPT_ENCODING="gzip")
    assert seen["headers"]["Content-Encoding"] == "gzip"
    assert b"collapse_answers_total" in gzip.decompress(body)
    seen, body = call(QUERY_STRING="name[]=collapse_streams")
    assert body.startswith(b"# HELP collapse_streams ") and b"collapse_answers" not in body
    seen, _ = call(REQUEST_METHOD="POST")
    assert seen["status"].startswith("405")


def test_asgi_app(aggregator):
    app = make_asgi_app(source=aggregator)
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/metrics", "query_string": b"",
             "headers": [(b"accept-encoding", b"identity")]}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 200
    assert (b"content-type", CONTENT_TYPE.encode()) in sent[0]["headers"]
    assert b"collapse_answers_total" in sent[1]["body"]


def test_default_source_is_the_process_wide_pipeline():
    from collapse_otel.worker.pipeline import Pipeline, set_pipeline

    pipeline = Pipeline(CollapseConfig(refresh_seconds=0))
    old = set_pipeline(pipeline)
    try:
        pipeline.submit(AnswerRecord("Default pipeline answer about Oslo.", 5, 5,
                                     release="from-default"))
        assert pipeline.flush(10)
        app = make_wsgi_app()
        env: dict = {}
        setup_testing_defaults(env)
        body = b"".join(app(env, lambda *a: None))
        assert b'release="from-default"' in body
        assert b"collapse_records_processed_total 1.0" in body
    finally:
        set_pipeline(old)
        pipeline.shutdown()


def test_importing_export_registers_and_starts_nothing():
    import subprocess
    import sys

    code = ("import threading, collapse_otel.export, collapse_otel.demo\n"
            "from prometheus_client import REGISTRY\n"
            "names = [m.name for m in REGISTRY.collect()]\n"
            "assert not [n for n in names if n.startswith('collapse')], names\n"
            "assert threading.active_count() == 1, threading.enumerate()\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_a_registry_with_the_users_own_collapse_collector_is_served_as_is(aggregator):
    from collapse_otel.export import CollapseCollector

    registry = CollectorRegistry(auto_describe=True)
    registry.register(CollapseCollector(aggregator.snapshot, release_order=["v1", "v0"]))
    app = make_wsgi_app(registry)          # must not register a second collector
    env: dict = {}
    setup_testing_defaults(env)
    body = b"".join(app(env, lambda *a: None))
    assert body.count(b"# TYPE collapse_answers_total counter") == 1
    assert b'collapse_release_info{baseline_release="",previous_release="v1",release="v0"' \
        in body


def test_a_non_loopback_bind_warns_as_serve_refuses(tmp_path):
    """instrument() with COLLAPSE_OTEL_METRICS_HOST=0.0.0.0 binds every interface: it has no
    token to check, so it says so (serve refuses the same bind without one); 127.0.0.1 does
    not warn."""
    import subprocess
    import sys

    script = (
        "import logging, sys, urllib.request\n"
        "logging.basicConfig(stream=sys.stderr, format='%(levelname)s %(message)s')\n"
        "import collapse_otel\n"
        "server = collapse_otel.instrument(metrics_export='server', langchain=False).metrics_server\n"
        "print(server.addr, server.port)\n")
    outputs = {}
    for host in ("0.0.0.0", "127.0.0.1"):
        env = {"PATH": "/usr/bin:/bin", "COLLAPSE_OTEL_METRICS_HOST": host,
               "COLLAPSE_OTEL_METRICS_PORT": "0", "OPENBLAS_NUM_THREADS": "1"}
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              env=env, timeout=300, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split()[0] == host
        outputs[host] = proc.stderr
    assert outputs["0.0.0.0"].count("WARNING collapse-otel: /metrics listens on 0.0.0.0 with "
                                    "no token") == 1, outputs["0.0.0.0"]
    assert "no token" not in outputs["127.0.0.1"]
