"""collapse-otel: model-collapse signals for LLM agent services.

The public API: capture (``instrument``, ``observe``, the LangChain handler, the span
processor, feedback), the metrics endpoints, ``CollapseConfig`` and ``AnswerRecord``. Nothing is
registered, started or patched at import; modules that pull in optional or heavier dependencies
(LangChain, the OTel SDK, prometheus_client) load on first use.

The rest lives in the subpackage that owns it, bottom to top: ``text`` and ``signals`` (the
algorithms, ``signals.registry`` declares every signal), ``records``, ``config``, ``state``
(on-disk formats), ``turns``, ``engine`` (``Aggregator`` and its snapshots), ``worker`` (the
capture queue and thread), then ``spans``, ``capture``, ``export``, ``serve``, ``multiprocess``,
``offload``, ``compare``, ``audit``, ``mixin`` and ``demo``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .config import CollapseConfig
from .records import AnswerRecord, StreamKey
from .version import __version__ as __version__

_LAZY = {
    # capture
    "instrument": "collapse_otel.capture",
    "uninstrument": "collapse_otel.capture",
    "observe": "collapse_otel.capture",
    "record_feedback": "collapse_otel.capture",
    "record_evaluation": "collapse_otel.capture",
    "CollapseCallbackHandler": "collapse_otel.capture",
    "CollapseSpanProcessor": "collapse_otel.capture",
    "CollapseInstrumentor": "collapse_otel.capture",
    "flush": "collapse_otel.capture",
    "shutdown": "collapse_otel.capture",
    "get_pipeline": "collapse_otel.capture",
    # export
    "start_prometheus_server": "collapse_otel.export",
    "mount_metrics": "collapse_otel.export",
    "start_otlp_metrics": "collapse_otel.export",
}

if TYPE_CHECKING:
    # what __getattr__ loads, as checkers must see it: the real signatures, not Any (never
    # executed; a test checks these lines and _LAZY name the same objects)
    from .capture.feedback import record_evaluation as record_evaluation
    from .capture.feedback import record_feedback as record_feedback
    from .capture.instrumentor import CollapseInstrumentor as CollapseInstrumentor
    from .capture.instrumentor import instrument as instrument
    from .capture.instrumentor import uninstrument as uninstrument
    from .capture.langchain_handler import CollapseCallbackHandler as CollapseCallbackHandler
    from .capture.observe import observe as observe
    from .capture.span_processor import CollapseSpanProcessor as CollapseSpanProcessor
    from .export.otlp import start_otlp_metrics as start_otlp_metrics
    from .export.server import mount_metrics as mount_metrics
    from .export.server import start_prometheus_server as start_prometheus_server
    from .worker.pipeline import flush as flush
    from .worker.pipeline import get_pipeline as get_pipeline
    from .worker.pipeline import shutdown as shutdown

__all__ = ["AnswerRecord", "CollapseConfig", "StreamKey", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'collapse_otel' has no attribute {name!r}")
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
