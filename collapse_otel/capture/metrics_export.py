"""Where ``instrument()`` publishes the collapse metrics, so a process never ends up exporting
nothing: its own /metrics server (``COLLAPSE_OTEL_METRICS_HOST/PORT``), instruments on the
app's OpenTelemetry SDK MeterProvider (then the app's exporters carry them, OTel's own
Prometheus exporter included), and a prometheus_client registry the app already serves.

``auto`` (the default) picks the MeterProvider when one is configured (passed to
``instrument(meter_provider=...)`` or set globally, as ``opentelemetry-instrument`` does) and
the own server otherwise: collapse-otel never competes with OTel's Prometheus exporter for its
port. A busy port falls back to a free one, logged with its URL, except in multiprocess mode
where another worker serving the port is expected.
"""

from __future__ import annotations

import errno
import logging
import threading
from typing import Any

from ..config import CollapseConfig

_log = logging.getLogger(__name__)


def sdk_meter_provider(given: Any = None) -> Any:
    """``given``, else the global MeterProvider when it is an SDK one (not the API's no-op or
    proxy default), else None."""
    if given is not None:
        return given
    try:
        from opentelemetry import metrics
        from opentelemetry.sdk.metrics import MeterProvider
    except ImportError:   # pragma: no cover - the SDK is a dependency
        return None
    provider = metrics.get_meter_provider()
    return provider if isinstance(provider, MeterProvider) else None


def targets(config: CollapseConfig, meter_provider: Any = None,
            server: bool = True) -> tuple[set[str], Any]:
    """({"server", "otel"} subset, the MeterProvider for "otel"). ``otel`` asked for with no
    SDK MeterProvider anywhere falls back to the server, loudly."""
    wanted = set(config.metrics_export.split(","))
    provider = sdk_meter_provider(meter_provider)
    if wanted == {"auto"}:
        wanted = {"otel"} if provider is not None else {"server"}
    wanted.discard("none")
    if "otel" in wanted and provider is None:
        _log.warning("collapse-otel: COLLAPSE_OTEL_METRICS_EXPORT asks for otel but no SDK "
                     "MeterProvider is configured; serving /metrics instead")
        wanted = (wanted - {"otel"}) | {"server"}
    if not server:   # instrument(prometheus=False)
        wanted.discard("server")
    return wanted, provider


def start_server(config: CollapseConfig, quiet: bool = False) -> Any:
    """The own /metrics server, or None. A busy port: another worker's in multiprocess mode
    (None, logged at INFO), else a free port instead (logged at WARNING with its URL)."""
    try:
        from ..export.server import start_prometheus_server
    except ImportError:   # pragma: no cover - prometheus_client is a dependency
        return None
    try:
        return start_prometheus_server(config=config)
    except OSError as exc:
        if quiet:
            return None
        if config.multiproc_dir:   # expected: one worker serves every worker's merged state
            _log.info("collapse-otel: /metrics on %s:%s is served by another process",
                      config.prometheus_host, config.prometheus_port)
            return None
        if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
            _log.error("collapse-otel: /metrics not started on %s:%s (%s)",
                       config.prometheus_host, config.prometheus_port, exc.strerror or exc)
            return None
    try:
        server = start_prometheus_server(0, config=config)
    except OSError as exc:
        _log.error("collapse-otel: /metrics not started on %s (%s)", config.prometheus_host,
                   exc.strerror or exc)
        return None
    _log.warning("collapse-otel: port %s on %s is taken; the collapse metrics are served on "
                 "%s instead (set COLLAPSE_OTEL_METRICS_PORT, or COLLAPSE_OTEL_METRICS_EXPORT="
                 "otel to publish through the app's MeterProvider)", config.prometheus_port,
                 config.prometheus_host, server.url)
    return server


class ServerRetry:
    """Multiprocess mode, in a worker that found the /metrics port taken: try again every
    ``INTERVAL`` seconds, so when the serving worker exits (recycled, crashed) another one
    takes the port over. Any worker serves the same merged view."""

    INTERVAL = 5.0

    def __init__(self, config: CollapseConfig, state: dict[str, Any]) -> None:
        self._config, self._state = config, state
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="collapse-otel-metrics-retry",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.INTERVAL):
            server = start_server(self._config, quiet=True)
            if server is not None:
                if self._stop.is_set():
                    server.close()
                else:
                    self._state["server"] = server
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.INTERVAL + 1)


def start(config: CollapseConfig, pipeline: Any, state: dict[str, Any], *,
          meter_provider: Any = None, registry: Any = None, server: bool = True) -> None:
    """Publish the metrics where ``config`` and the arguments say; handles go into ``state``
    (``server``, ``retry``, ``otel``) for :func:`stop`."""
    wanted, provider = targets(config, meter_provider, server)
    if registry is not None:   # the app's own prometheus_client registry
        from ..export.server import collapse_registry

        collapse_registry(registry)
    if "otel" in wanted:
        from ..export.otlp import register_otel_metrics

        state["otel"] = register_otel_metrics(None, meter_provider=provider)
    if "server" in wanted:
        state["server"] = start_server(config)
        if state["server"] is None and config.multiproc_dir:
            state["retry"] = ServerRetry(config, state)
    if not wanted and registry is None:
        _log.info("collapse-otel: metrics not published by instrument() "
                  "(mount make_asgi_app() / make_wsgi_app() on your server)")


def stop(state: dict[str, Any]) -> None:
    retry = state.get("retry")
    if retry is not None:
        retry.stop()
    for key in ("server", "otel"):
        handle = state.get(key)
        if handle is not None:
            try:
                handle.close()
            except Exception as exc:  # pragma: no cover - defensive
                _log.warning("collapse-otel: closing the %s export failed (%s)", key,
                             type(exc).__name__)
