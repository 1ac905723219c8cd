"""The compiled extension (``collapse_otel._ccore``, built from csrc/ccore.c at install), when
it was built and the environment allows it: one place that decides, for the hash arithmetic
(hash_core) and the near-duplicate query (signals.duplicates) alike.

``COLLAPSE_OTEL_PURE_PYTHON=1`` forces the numpy path; the variable is read at every call, so a
test or a benchmark can switch paths in one process.
"""

from __future__ import annotations

import os
from importlib import import_module
from types import ModuleType

PURE_ENV = "COLLAPSE_OTEL_PURE_PYTHON"
_UNLOADED = object()
_core: object = _UNLOADED


def compiled_core() -> ModuleType | None:
    """The compiled extension, or None when it is not built or the environment forbids it."""
    global _core
    if os.environ.get(PURE_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
        return None
    if _core is _UNLOADED:
        try:
            _core = import_module("collapse_otel._ccore")
        except ImportError:
            _core = None
    return _core if isinstance(_core, ModuleType) else None
