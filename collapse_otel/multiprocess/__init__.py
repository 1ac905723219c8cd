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

import os
from typing import Any

from .paths import clear_directory

__all__ = ["MultiprocessSource", "clear_directory", "mark_process_dead"]


def mark_process_dead(pid: int, path: str | os.PathLike[str] | None = None, *,
                      config: Any = None) -> bool:
    """Fold the state file of the dead process ``pid`` into the directory's archive
    (``path``, default ``COLLAPSE_OTEL_MULTIPROC_DIR``) and remove it; True if a file was
    archived. Never raises. Light to import: the merge code loads on the first call that
    finds a file (see ``collapse_otel.multiprocess.archive``)."""
    from .archive import mark_process_dead as archive

    return archive(pid, path, config=config)


def __getattr__(name: str) -> Any:
    if name == "MultiprocessSource":
        from .source import MultiprocessSource
        return MultiprocessSource
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
