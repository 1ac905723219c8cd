"""collapse-otel: model-collapse signals for LLM agent services.

The public API. Nothing is registered, started or patched at import; modules that pull in
optional or heavier dependencies (LangChain, the OTel SDK, prometheus_client) load on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

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

__all__ = ["AnswerRecord", "CollapseConfig", "StreamKey", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'collapse_otel' has no attribute {name!r}")
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
