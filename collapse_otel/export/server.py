"""Serving /metrics: a standalone server, or WSGI / ASGI apps to mount on the user's own server.

All three serve the text format 0.0.4 through :mod:`.encode` (OpenMetrics adds nothing the
collapse metrics use, and Prometheus accepts text whatever it asked for). Each takes a
``registry=``; without one, a private registry holding one :class:`CollapseCollector` is used,
so nothing global is touched unless the caller passes ``prometheus_client.REGISTRY``.
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import logging
import socket
import sys
import threading
import weakref
from collections.abc import Iterable
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client.registry import Collector, CollectorRegistry

from .. import forksafe
from ..config import CollapseConfig
from ..config.lineage import Lineage
from .encode import CONTENT_TYPE, generate_text
from .prometheus import CollapseCollector
from .series import as_snapshot_source, as_stats_source

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse

_log = logging.getLogger(__name__)
_COLLECTORS: weakref.WeakKeyDictionary[CollectorRegistry, CollapseCollector] = (
    weakref.WeakKeyDictionary())
_LOCK = forksafe.Lock()


def _process_config() -> CollapseConfig:
    """The configuration of the process-wide pipeline when one is installed (``instrument()``
    installs its own, holding its arguments), else the environment's: where the default
    source's lineage (previous_release, baseline_release, release_order) comes from."""
    from ..worker.pipeline import current_pipeline  # lazy import, as in DefaultPipeline

    current = current_pipeline()
    return current.config if current is not None else CollapseConfig.resolve()


class DefaultPipeline:
    """The process-wide capture pipeline, looked up on every scrape (it may be replaced, and
    it is rebuilt in forked workers)."""

    @property
    def config(self) -> CollapseConfig:
        return _process_config()

    @staticmethod
    def snapshot():
        from ..worker.pipeline import get_pipeline  # built on first use: lazy import
        p = get_pipeline()   # analysis in a child process: its merged state files
        return (getattr(p, "metrics_source", None) or p.aggregator).snapshot()

    @staticmethod
    def stats():
        from ..worker.pipeline import get_pipeline
        p = get_pipeline()
        return (getattr(p, "metrics_source", None) or p).stats()


def _has_collapse_collector(registry: CollectorRegistry) -> bool:
    if registry in _COLLECTORS:
        return True
    # A CollapseCollector the caller registered themselves (client_python keeps this map).
    return any(isinstance(c, CollapseCollector)
               for c in list(getattr(registry, "_collector_to_names", {})))


def collapse_registry(registry: CollectorRegistry | None = None, *, source: object = None,
                      release_order: Iterable[str] | None = None) -> CollectorRegistry:
    """``registry`` (a new private one when None) holding a CollapseCollector over ``source``,
    registered once: a registry that already has one is used as it is. ``source``: an
    Aggregator, a capture pipeline, or a snapshot callable; None means the process-wide
    pipeline."""
    registry = CollectorRegistry(auto_describe=True) if registry is None else registry
    with _LOCK:
        if not _has_collapse_collector(registry):
            if source is not None:
                config, src = getattr(source, "config", None), source
            else:
                config = CollapseConfig.resolve()
                src = _default_source(config)
            # the lineage of what is exported: the process-wide pipeline's (instrument()'s)
            lineage = Lineage.from_config(getattr(src, "config", config), release_order)
            collector = CollapseCollector(as_snapshot_source(src), as_stats_source(src),
                                          lineage=lineage)
            registry.register(collector)
            _COLLECTORS[registry] = collector
            _register_multiprocess_health(registry, src)
    return registry


def _default_source(config: CollapseConfig) -> object:
    """The process-wide pipeline; in multiprocess mode (``multiproc_dir`` set) the merge of
    every worker's state file instead, so any worker's /metrics shows all of them."""
    if config.multiproc_dir:
        from ..multiprocess.source import MultiprocessSource

        return MultiprocessSource(config.multiproc_dir, config)
    return DefaultPipeline()


def _register_multiprocess_health(registry: CollectorRegistry, source: object) -> None:
    module = sys.modules.get("collapse_otel.multiprocess.source")  # not loaded: not one
    if module is not None and isinstance(source, module.MultiprocessSource):
        from ..multiprocess.collector import MultiprocessCollector

        registry.register(MultiprocessCollector(source))


def render_metrics(registry: CollectorRegistry, params: dict[str, list[str]],
                   accept_encoding: str, disable_compression: bool = False
                   ) -> tuple[list[tuple[str, str]], bytes]:
    """(headers, body) of one /metrics response: ``name[]`` filtering and gzip as in
    client_python. Shared by every server that exposes the collapse metrics."""
    exposed: Collector = registry
    if "name[]" in params:
        exposed = registry.restricted_registry(params["name[]"])
    output = generate_text(exposed)
    headers = [("Content-Type", CONTENT_TYPE)]
    if not disable_compression and "gzip" in (accept_encoding or "").lower():
        output = gzip.compress(output, compresslevel=6)
        headers.append(("Content-Encoding", "gzip"))
    return headers, output


def make_wsgi_app(registry: CollectorRegistry | None = None, *, source: object = None,
                  release_order: Iterable[str] | None = None,
                  disable_compression: bool = False) -> MetricsWSGIApp:
    """A WSGI app serving the collapse metrics (and whatever else ``registry`` holds)."""
    registry = collapse_registry(registry, source=source, release_order=release_order)
    return MetricsWSGIApp(registry, disable_compression)


class MetricsWSGIApp:
    """The WSGI app of :func:`make_wsgi_app`; ``.registry`` is the registry it serves."""

    def __init__(self, registry: CollectorRegistry, disable_compression: bool = False) -> None:
        self.registry, self.disable_compression = registry, disable_compression

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
            return [b""]
        params = parse_qs(environ.get("QUERY_STRING", ""))
        headers, output = render_metrics(self.registry, params,
                                         environ.get("HTTP_ACCEPT_ENCODING", ""),
                                         self.disable_compression)
        start_response("200 OK", headers)
        return [output]


def make_asgi_app(registry: CollectorRegistry | None = None, *, source: object = None,
                  release_order: Iterable[str] | None = None,
                  disable_compression: bool = False) -> MetricsASGIApp:
    """An ASGI app serving the collapse metrics; encoding runs in a worker thread so a large
    scrape never stalls the event loop. On FastAPI / Starlette add it as a route
    (:func:`mount_metrics`): ``app.mount("/metrics", ...)`` answers /metrics with a redirect."""
    registry = collapse_registry(registry, source=source, release_order=release_order)
    return MetricsASGIApp(registry, disable_compression)


class MetricsASGIApp:
    """The ASGI app of :func:`make_asgi_app`: an object, not a function, so Starlette's
    ``add_route`` runs it as an ASGI app rather than as a request handler."""

    def __init__(self, registry: CollectorRegistry, disable_compression: bool = False) -> None:
        self.registry, self.disable_compression = registry, disable_compression

    async def __call__(self, scope, receive, send) -> None:
        if scope.get("type") != "http":
            return
        if scope.get("method", "GET") not in ("GET", "HEAD"):
            await send({"type": "http.response.start", "status": 405,
                        "headers": [(b"allow", b"GET, HEAD")]})
            await send({"type": "http.response.body", "body": b""})
            return
        params = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        encoding = ",".join(v.decode("latin-1") for k, v in scope.get("headers", ())
                            if k.lower() == b"accept-encoding")
        headers, output = await asyncio.get_running_loop().run_in_executor(
            None, render_metrics, self.registry, params, encoding, self.disable_compression)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(k.lower().encode(), v.encode()) for k, v in headers]})
        await send({"type": "http.response.body", "body": output})


def mount_metrics(app: Any, path: str = "/metrics", **kwargs: Any) -> MetricsASGIApp:
    """Serve the collapse metrics at exactly ``path`` on a FastAPI / Starlette ``app`` (a
    route: ``app.mount`` would answer ``path`` with a 307 redirect to ``path/``). ``kwargs``
    go to :func:`make_asgi_app`."""
    asgi = make_asgi_app(**kwargs)
    app.add_route(path, asgi, methods=["GET", "HEAD"], include_in_schema=False)
    return asgi


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:   # no access log on stderr
        pass


class PrometheusServer:
    """Handle of a running /metrics server: ``.url``, ``.port``, ``.close()``; a context manager."""

    def __init__(self, httpd: WSGIServer, thread: threading.Thread,
                 registry: CollectorRegistry) -> None:
        self._httpd, self._thread, self.registry = httpd, thread, registry
        host, self.port = httpd.server_address[:2]
        self.addr = host if isinstance(host, str) else host.decode()   # str for AF_INET(6)

    @property
    def url(self) -> str:
        host = f"[{self.addr}]" if ":" in self.addr else self.addr
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> PrometheusServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def is_loopback(host: str) -> bool:
    """Only this machine can connect (``localhost``, 127.0.0.0/8, ::1)."""
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def start_prometheus_server(port: int | None = None, addr: str | None = None,
                            registry: CollectorRegistry | None = None, *, source: object = None,
                            release_order: Iterable[str] | None = None,
                            config: CollapseConfig | None = None) -> PrometheusServer:
    """Serve /metrics in a daemon thread. ``port`` / ``addr`` default to
    ``COLLAPSE_OTEL_METRICS_PORT`` / ``_HOST`` (else 9464 on 127.0.0.1); port 0 picks a free
    port (read it from the handle). A busy port raises OSError (see ``instrument()`` for the
    fallback)."""
    config = config or CollapseConfig.resolve()
    port = config.prometheus_port if port is None else port
    addr = config.prometheus_host if addr is None else addr
    if source is None and config.multiproc_dir:
        source = _default_source(config)
    app = make_wsgi_app(registry, source=source, release_order=release_order)
    server_class: type[WSGIServer] = _ThreadingServer
    if ":" in addr:
        server_class = type("_ThreadingServer6", (_ThreadingServer,),
                            {"address_family": socket.AF_INET6})
    httpd = make_server(addr, port, app, server_class, handler_class=_QuietHandler)
    if not is_loopback(addr):
        # collapse-otel serve refuses such a bind without a token; this server has none
        _log.warning("collapse-otel: /metrics listens on %s with no token: anyone who can "
                     "reach port %s reads the release names and signals; bind 127.0.0.1 "
                     "(COLLAPSE_OTEL_METRICS_HOST) or put it behind an authenticating proxy",
                     addr, httpd.server_address[1])
    thread = threading.Thread(target=httpd.serve_forever, name="collapse-otel-metrics",
                              daemon=True)
    thread.start()
    return PrometheusServer(httpd, thread, app.registry)
