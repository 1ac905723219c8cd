"""The state file format now lives in collapse_otel/state_file.py, below serve (multiprocess mode
and compare read and write the same files); this module keeps the old import path working."""

from __future__ import annotations

from ..state_file import (  # noqa: F401 - re-exported
    FILE_MODE,
    MAGIC,
    VERSION,
    CorruptState,
    RestoreResult,
    StateError,
    StateStore,
    atomic_file,
    decode,
    encode,
    load_into,
    write_atomic,
)
