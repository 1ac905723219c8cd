"""``collapse-otel serve``: an OTLP receiver turning any language's GenAI spans into collapse
metrics (OTLP/HTTP and optional OTLP/gRPC in, Prometheus /metrics out, state across restarts).

Nothing runs at import; ``main(argv)`` is the command, :class:`Service` the embeddable form.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .service import Service
    from .settings import ServeSettings

__all__ = ["SERVE_ENV_VARS", "ServeSettings", "Service", "main"]


def main(argv: Any = None) -> int:
    from .service import main as _main

    return _main(argv)


def __getattr__(name: str) -> Any:
    if name == "Service":
        from .service import Service
        return Service
    if name in ("ServeSettings", "SERVE_ENV_VARS"):
        from . import settings
        return getattr(settings, name)
    raise AttributeError(name)
