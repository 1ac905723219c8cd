"""Zero-code wiring: CollapseInstrumentor (``opentelemetry-instrument``) and instrument().

``instrument()`` builds the config, installs a fresh default pipeline, injects a
CollapseCallbackHandler into every LangChain callback manager (through langchain-core's
configure hook, so chains, agents and LangGraph graphs are covered with no code change) and
publishes the metrics (``collapse_otel.capture.metrics_export``). ``uninstrument()`` undoes
each step.
"""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
from collections.abc import Collection
from dataclasses import fields, replace
from typing import Any

# mypy (2.x) reports the class this py.typed module defines and lists in __all__ as missing
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from ..config import CollapseConfig
from ..worker.pipeline import Pipeline, set_pipeline
from . import metrics_export
from .package import INSTRUMENTS

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
    ``meter_provider`` (publish the metrics as OTel instruments on it; see
    ``metrics_export``), ``registry`` (also register them on this prometheus_client registry,
    e.g. the one the app already serves), ``prometheus`` (False: never start collapse-otel's
    own /metrics server), ``tracer_provider`` (for the handler's spans), ``emit_spans``
    (default True).
    """

    def __init__(self) -> None:
        if not hasattr(self, "_state"):
            self._state: dict[str, Any] = {}

    def instrumentation_dependencies(self) -> Collection[str]:
        return INSTRUMENTS   # none: LangChain is optional, see capture/package.py

    def _instrument(self, **kwargs: Any) -> None:
        from .langchain_handler import CollapseCallbackHandler

        overrides = {k: kwargs.pop(k) for k in list(kwargs) if k in _CONFIG_FIELDS}
        config = CollapseConfig.resolve(**overrides)
        state: dict[str, Any] = {}
        pipeline = _pipeline(config, state)
        state.update(pipeline=pipeline, previous=set_pipeline(pipeline))
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
        metrics_export.start(config, pipeline, state,
                             meter_provider=kwargs.get("meter_provider"),
                             registry=kwargs.get("registry"),
                             server=kwargs.get("prometheus", True))
        self._state = state

    def _uninstrument(self, **kwargs: Any) -> None:
        state, self._state = self._state, {}
        _SLOT.handler = None
        metrics_export.stop(state)
        pipeline = state.get("pipeline")
        if pipeline is not None:
            set_pipeline(state.get("previous"))
            pipeline.shutdown(kwargs.get("timeout", 5.0))
        if state.get("private_dir"):
            shutil.rmtree(state["private_dir"], ignore_errors=True)

    @property
    def metrics_server(self) -> Any:
        """The running /metrics server handle (``.url``), or None."""
        return self._state.get("server")

    @property
    def pipeline(self) -> Pipeline | None:
        return self._state.get("pipeline")


PRIVATE_WRITE_SECONDS = 1.0   # analysis process, private directory: /metrics lags this much


def _pipeline(config: CollapseConfig, state: dict[str, Any]) -> Pipeline:
    """The in-process pipeline, or (``analysis="process"``) one feeding a child process,
    which writes its state to the multiprocess directory, or to a private one (0700,
    removed at uninstrument and exit) when none is configured."""
    if config.analysis != "process":
        return Pipeline(config)
    from ..offload.host import ProcessPipeline

    if not config.multiproc_dir:
        private = tempfile.mkdtemp(prefix="collapse-otel-")
        atexit.register(shutil.rmtree, private, True)
        state["private_dir"] = private
        config = replace(config, multiproc_dir=private, multiproc_write_seconds=min(
            config.multiproc_write_seconds, PRIVATE_WRITE_SECONDS))
    return ProcessPipeline(config)


def instrument(**kwargs: Any) -> CollapseInstrumentor:
    """Turn collapse-otel on for this process (see :class:`CollapseInstrumentor`)."""
    inst = CollapseInstrumentor()
    inst.instrument(**kwargs)
    return inst


def uninstrument() -> None:
    """Undo :func:`instrument`: handler removed, /metrics stopped, pipeline flushed and closed."""
    CollapseInstrumentor().uninstrument()
