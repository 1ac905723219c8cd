"""Multiprocess mode: one set of collapse metrics for a server with several worker processes.

Set ``COLLAPSE_OTEL_MULTIPROC_DIR`` (config ``multiproc_dir``) for every worker. Each
process's capture pipeline then writes its aggregator state to ``<dir>/collapse-<pid>.state``
every ``COLLAPSE_OTEL_MULTIPROC_WRITE_SECONDS`` (by its worker thread, and at flush, shutdown
and exit), and ``/metrics``, served by whichever worker binds the port or by
``python -m collapse_otel.multiprocess --dir DIR --port PORT``, merges every file of the
directory (:class:`MultiprocessSource`). In the spirit of prometheus_client's multiprocess
mode: clear the directory when a deployment starts (:func:`clear_directory`) and call
:func:`mark_process_dead` from gunicorn's ``child_exit`` hook.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MultiprocessSource", "clear_directory", "mark_process_dead"]


def __getattr__(name: str) -> Any:
    if name == "MultiprocessSource":
        from .source import MultiprocessSource
        return MultiprocessSource
    if name in ("mark_process_dead", "clear_directory"):
        from . import archive
        return getattr(archive, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
