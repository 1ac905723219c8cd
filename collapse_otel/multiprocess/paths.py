"""Names in the multiprocess directory, and clearing it: light (no numpy), so a gunicorn
config file can import them in the master before any worker is forked."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

ENV = "COLLAPSE_OTEL_MULTIPROC_DIR"
PREFIX, SUFFIX = "collapse-", ".state"
ARCHIVE_NAME = "collapse-archive.state"
LOCK_NAME = ".collapse-archive.lock"


def directory_of(path: str | os.PathLike[str] | None) -> Path | None:
    """``path``, else ``COLLAPSE_OTEL_MULTIPROC_DIR``; None when neither is set."""
    value = path if path is not None else os.environ.get(ENV, "").strip()
    return Path(value) if value else None


def worker_path(directory: str | os.PathLike[str], pid: int | None = None) -> Path:
    return Path(directory) / f"{PREFIX}{os.getpid() if pid is None else pid}{SUFFIX}"


def archive_path(directory: str | os.PathLike[str]) -> Path:
    return Path(directory) / ARCHIVE_NAME


def pid_of(name: str) -> int | None:
    """The pid in a worker file's name, None for any other name."""
    if not (name.startswith(PREFIX) and name.endswith(SUFFIX)):
        return None
    middle = name[len(PREFIX):-len(SUFFIX)]
    return int(middle) if middle.isdigit() else None


def worker_files(directory: str | os.PathLike[str]) -> list[Path]:
    """Worker state files, by pid (temporary and set-aside files are not listed)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = [(pid, name) for name in names if (pid := pid_of(name)) is not None]
    return [Path(directory) / name for _, name in sorted(found)]


def clear_directory(path: str | os.PathLike[str] | None = None) -> int:
    """Remove every collapse-otel file of the multiprocess directory (``path``, default
    ``COLLAPSE_OTEL_MULTIPROC_DIR``): workers' files, the archive, temporary and set-aside
    files; the directory is created (0700) if needed. How many files were removed. Call it
    once when a deployment starts, before any worker does (gunicorn's ``on_starting``
    hook), as prometheus_client asks for its own directory."""
    directory = directory_of(path)
    if directory is None:
        return 0
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    removed = 0
    for name in os.listdir(directory):
        if name.startswith((PREFIX, "." + PREFIX)):
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                os.unlink(directory / name)
                removed += 1
    return removed
