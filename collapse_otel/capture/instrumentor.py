"""Zero-code wiring: CollapseInstrumentor (``opentelemetry-instrument``) and instrument().

``instrument()`` builds the config, installs a fresh default pipeline, injects a
CollapseCallbackHandler into every LangChain callback manager (through langchain-core's
configure hook, so chains, agents and LangGraph graphs are covered with no code change) and,
unless told otherwise, serves /metrics. ``uninstrument()`` undoes each step.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from dataclasses import fields
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from ..config import CollapseConfig
from .package import _instruments
from .pipeline import Pipeline, set_pipeline

_log = logging.getLogger(__name__)
_CONFIG_FIELDS = frozenset(f.name for f in fields(CollapseConfig))


class _HandlerSlot:
    """Stands in for the ContextVar langchain-core's configure hook reads.

    A real ContextVar set in one thread is invisible in threads started elsewhere (a web
    server's pool), so the hook reads this process-wide slot instead; ``get()`` is all the
    hook calls. It is registered once and stays inert (None) after uninstrument().
    """

    def __init__(self) -> None:
        self.handler: Any = None
        self.registered = False

    def get(self, default: Any = None) -> Any:
        return self.handler


_SLOT = _HandlerSlot()


def _install_langchain_hook(handler: Any) -> bool:
    try:
        from langchain_core.tracers.context import register_configure_hook
    except ImportError:
        return False
    if not _SLOT.registered:
        register_configure_hook(_SLOT, True)  # type: ignore[arg-type]
        _SLOT.registered = True
    _SLOT.handler = handler
    return True


class CollapseInstrumentor(BaseInstrumentor):
    """``opentelemetry-instrument python app.py`` loads this through its entry point.

    Keyword arguments of ``instrument()``: any CollapseConfig field (``release=``,
    ``service=``, ``queue_size=`` ...), ``langchain`` (inject the handler, default True),
    ``prometheus`` (serve /metrics on ``prometheus_host:prometheus_port``, default True),
    ``tracer_provider`` (for the handler's spans), ``emit_spans`` (default True).
    """

    def __init__(self) -> None:
        if not hasattr(self, "_state"):
            self._state: dict[str, Any] = {}

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments   # none: LangChain is optional, see capture/package.py

    def _instrument(self, **kwargs: Any) -> None:
        from .langchain_handler import CollapseCallbackHandler

        overrides = {k: kwargs.pop(k) for k in list(kwargs) if k in _CONFIG_FIELDS}
        config = CollapseConfig.resolve(**overrides)
        pipeline = Pipeline(config)
        state: dict[str, Any] = {"pipeline": pipeline, "previous": set_pipeline(pipeline)}
        if kwargs.get("langchain", True):
            try:
                # release/cohort/service given here are the process defaults (config), so
                # run metadata can still override them per request
                handler = CollapseCallbackHandler(
                    pipeline=pipeline, tracer_provider=kwargs.get("tracer_provider"),
                    emit_spans=kwargs.get("emit_spans", True))
                state["langchain"] = _install_langchain_hook(handler)
            except ImportError:
                state["langchain"] = False
        if kwargs.get("prometheus", True):
            state["server"] = _start_metrics(config)
            if state["server"] is None and config.multiproc_dir:
                state["retry"] = _MetricsRetry(config, state)   # another worker serves
        self._state = state

    def _uninstrument(self, **kwargs: Any) -> None:
        state, self._state = self._state, {}
        _SLOT.handler = None
        retry = state.get("retry")
        if retry is not None:
            retry.stop()
        server = state.get("server")
        if server is not None:
            try:
                server.close()
            except Exception as exc:  # pragma: no cover - defensive
                _log.warning("collapse-otel: closing /metrics failed (%s)", type(exc).__name__)
        pipeline = state.get("pipeline")
        if pipeline is not None:
            set_pipeline(state.get("previous"))
            pipeline.shutdown(kwargs.get("timeout", 5.0))

    @property
    def metrics_server(self) -> Any:
        """The running /metrics server handle (``.url``), or None."""
        return self._state.get("server")

    @property
    def pipeline(self) -> Pipeline | None:
        return self._state.get("pipeline")


def _start_metrics(config: CollapseConfig, quiet: bool = False) -> Any:
    try:
        from ..export import server as export_server
    except ImportError:
        return None
    start = getattr(export_server, "start_prometheus_server", None)
    if start is None:
        return None
    try:
        return start(config=config)
    except OSError as exc:  # port taken (another worker of the same app): keep the app running
        if quiet:
            return None
        if config.multiproc_dir:   # expected: one worker serves every worker's merged state
            _log.info("collapse-otel: /metrics on %s:%s is served by another process",
                      config.prometheus_host, config.prometheus_port)
        else:
            _log.warning("collapse-otel: /metrics not started on %s:%s (%s)",
                         config.prometheus_host, config.prometheus_port, exc.strerror or exc)
        return None


class _MetricsRetry:
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
            server = _start_metrics(self._config, quiet=True)
            if server is not None:
                if self._stop.is_set():
                    server.close()
                else:
                    self._state["server"] = server
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.INTERVAL + 1)


def instrument(**kwargs: Any) -> CollapseInstrumentor:
    """Turn collapse-otel on for this process (see :class:`CollapseInstrumentor`)."""
    inst = CollapseInstrumentor()
    inst.instrument(**kwargs)
    return inst


def uninstrument() -> None:
    """Undo :func:`instrument`: handler removed, /metrics stopped, pipeline flushed and closed."""
    CollapseInstrumentor().uninstrument()
