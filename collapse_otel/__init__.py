"""collapse-otel: model-collapse signals for LLM agent services.

The public API. Nothing is registered, started or patched at import; modules that pull in
optional or heavier dependencies (LangChain, the OTel SDK, prometheus_client) load on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .config import CollapseConfig
from .records import AnswerRecord, StreamKey
from .version import __version__ as __version__

_LAZY = {
    # engine
    "Aggregator": "collapse_otel.aggregator",
    "AnswerResult": "collapse_otel.aggregator",
    "AggregatorSnapshot": "collapse_otel.snapshot",
    "StreamSnapshot": "collapse_otel.snapshot",
    "WindowSignals": "collapse_otel.snapshot",
    "EntityExtractor": "collapse_otel.text.entities",
    "RuleBasedEntityExtractor": "collapse_otel.text.entities",
    "SpacyEntityExtractor": "collapse_otel.text.entities",
    "Embedder": "collapse_otel.signals.embedding",
    "HashedFeatureEmbedder": "collapse_otel.signals.embedding",
    # capture
    "CollapseCallbackHandler": "collapse_otel.capture",
    "CollapseSpanProcessor": "collapse_otel.capture",
    "CollapseInstrumentor": "collapse_otel.capture",
    "CollapseCompletionHook": "collapse_otel.capture",
    "Pipeline": "collapse_otel.capture",
    "observe": "collapse_otel.capture",
    "record_feedback": "collapse_otel.capture",
    "record_evaluation": "collapse_otel.capture",
    "instrument": "collapse_otel.capture",
    "uninstrument": "collapse_otel.capture",
    "flush": "collapse_otel.capture",
    "shutdown": "collapse_otel.capture",
    "get_pipeline": "collapse_otel.capture",
    "set_pipeline": "collapse_otel.capture",
    # export
    "CollapseCollector": "collapse_otel.export",
    "start_prometheus_server": "collapse_otel.export",
    "make_wsgi_app": "collapse_otel.export",
    "make_asgi_app": "collapse_otel.export",
    "mount_metrics": "collapse_otel.export",
    "start_otlp_metrics": "collapse_otel.export",
    "register_otel_metrics": "collapse_otel.export",
}

if TYPE_CHECKING:
    # what __getattr__ loads, as checkers must see it: the real signatures, not Any (never
    # executed; a test checks these lines and _LAZY name the same objects)
    from .aggregator import Aggregator as Aggregator
    from .aggregator import AnswerResult as AnswerResult
    from .capture.completion_hook import CollapseCompletionHook as CollapseCompletionHook
    from .capture.feedback import record_evaluation as record_evaluation
    from .capture.feedback import record_feedback as record_feedback
    from .capture.instrumentor import CollapseInstrumentor as CollapseInstrumentor
    from .capture.instrumentor import instrument as instrument
    from .capture.instrumentor import uninstrument as uninstrument
    from .capture.langchain_handler import CollapseCallbackHandler as CollapseCallbackHandler
    from .capture.observe import observe as observe
    from .capture.span_processor import CollapseSpanProcessor as CollapseSpanProcessor
    from .export.otlp import register_otel_metrics as register_otel_metrics
    from .export.otlp import start_otlp_metrics as start_otlp_metrics
    from .export.prometheus import CollapseCollector as CollapseCollector
    from .export.server import make_asgi_app as make_asgi_app
    from .export.server import make_wsgi_app as make_wsgi_app
    from .export.server import mount_metrics as mount_metrics
    from .export.server import start_prometheus_server as start_prometheus_server
    from .pipeline import Pipeline as Pipeline
    from .pipeline import flush as flush
    from .pipeline import get_pipeline as get_pipeline
    from .pipeline import set_pipeline as set_pipeline
    from .pipeline import shutdown as shutdown
    from .signals.embedding import Embedder as Embedder
    from .signals.embedding import HashedFeatureEmbedder as HashedFeatureEmbedder
    from .snapshot import AggregatorSnapshot as AggregatorSnapshot
    from .snapshot import StreamSnapshot as StreamSnapshot
    from .snapshot import WindowSignals as WindowSignals
    from .text.entities import EntityExtractor as EntityExtractor
    from .text.entities import RuleBasedEntityExtractor as RuleBasedEntityExtractor
    from .text.entities import SpacyEntityExtractor as SpacyEntityExtractor

__all__ = ["AnswerRecord", "CollapseConfig", "StreamKey", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'collapse_otel' has no attribute {name!r}")
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
