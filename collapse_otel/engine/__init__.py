"""The streaming engine: answers in, immutable snapshots out.

``Aggregator`` (aggregator.py) keeps one ``StreamState`` per (service, release, cohort)
(stream.py): counters and a two-pane sliding window (pane.py) whose signals window.py
computes with their standard errors, from per-batch analysis done outside the lock
(analysis.py, hash arithmetic in hash_core.py). outcome_stats.py counts feedback and
evaluations per stream, budget.py shrinks windows to fit the memory budget, state_compat.py
restores state written under another configuration, and feeding.py feeds an aggregator from a
script. Exporters read ``AggregatorSnapshot`` (snapshot.py), never the live aggregator.

Pluggable parts live with their algorithms: entity extractors in ``collapse_otel.text.entities``
and embedders in ``collapse_otel.signals.embedding``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# loaded on first access: importing one engine module (snapshot.py, say) loads only that one
_LAZY = {
    "Aggregator": "collapse_otel.engine.aggregator",
    "AnswerResult": "collapse_otel.engine.aggregator",
    "AggregatorSnapshot": "collapse_otel.engine.snapshot",
    "StreamSnapshot": "collapse_otel.engine.snapshot",
    "WindowSignals": "collapse_otel.engine.snapshot",
}

if TYPE_CHECKING:
    from .aggregator import Aggregator as Aggregator
    from .aggregator import AnswerResult as AnswerResult
    from .snapshot import AggregatorSnapshot as AggregatorSnapshot
    from .snapshot import StreamSnapshot as StreamSnapshot
    from .snapshot import WindowSignals as WindowSignals

__all__ = ["Aggregator", "AggregatorSnapshot", "AnswerResult", "StreamSnapshot", "WindowSignals"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
