"""Capture: LangChain handler, span processor, completion hook, observe(), feedback and the
worker.

LangChain is optional, so the handler and the instrumentor are imported on first access.
"""

from __future__ import annotations

from typing import Any

from ..worker.health import PipelineStats
from ..worker.pipeline import Pipeline, flush, get_pipeline, set_pipeline, shutdown
from .feedback import record_evaluation, record_feedback
from .observe import observe
from .span_processor import CollapseSpanProcessor

__all__ = [
    "CollapseCallbackHandler",
    "CollapseCompletionHook",
    "CollapseInstrumentor",
    "CollapseSpanProcessor",
    "Pipeline",
    "PipelineStats",
    "flush",
    "get_pipeline",
    "instrument",
    "observe",
    "record_evaluation",
    "record_feedback",
    "set_pipeline",
    "shutdown",
    "uninstrument",
]

_LAZY = {
    "CollapseCallbackHandler": ".langchain_handler",
    "CollapseCompletionHook": ".completion_hook",
    "CollapseInstrumentor": ".instrumentor",
    "instrument": ".instrumentor",
    "uninstrument": ".instrumentor",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module, __name__), name)
