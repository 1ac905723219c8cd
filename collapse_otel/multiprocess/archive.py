"""Dead workers: ``mark_process_dead``.

A worker's file holds counters, which must not drop when the worker dies (Prometheus would
see a counter reset), and its recent window, which should slide out with time as it would
have in a live process. So ``mark_process_dead(pid)`` (gunicorn's ``child_exit`` hook, as
for prometheus_client) merges the dead worker's file into one archive file,
``collapse-archive.state``, stream by stream, and removes it: the directory holds the live
workers' files plus one archive however often workers are recycled. The archive records the
token of every worker it absorbed, so a reader that lists the directory while a worker is
being archived never counts it twice. Files of workers nobody marked dead simply stay and
keep counting, as prometheus_client's do.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..config import CollapseConfig
from ..engine.aggregator import Aggregator
from ..engine.pane import PaneParams
from ..engine.stream import StreamState
from ..state import frames as state_frames
from ..state.file import CorruptState
from .files import FileIndex, read_blob, save, scan
from .merge import cap_window, merge_streams
from .paths import LOCK_NAME, archive_path, directory_of, worker_path

_log = logging.getLogger(__name__)
MAX_ABSORBED = 8192
_TEMPLATES: dict[CollapseConfig, Aggregator] = {}


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One archiver at a time (an advisory lock on a file beside the archive)."""
    try:
        import fcntl
    except ImportError:   # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def mark_process_dead(pid: int, path: str | os.PathLike[str] | None = None, *,
                      config: CollapseConfig | None = None) -> bool:
    """Fold the state file of the dead process ``pid`` into the directory's archive and
    remove it; True if a file was archived. ``path``: the multiprocess directory (default
    ``COLLAPSE_OTEL_MULTIPROC_DIR``). Never raises: a failure is logged and the file stays
    (it keeps counting as a worker file)."""
    directory = directory_of(path)
    if directory is None:
        return False
    if not worker_path(directory, pid).exists():   # it never wrote (or is archived already)
        return False
    try:
        cfg = config or CollapseConfig.resolve()
        with _locked(directory):
            return _archive(directory, worker_path(directory, pid), cfg)
    except Exception as exc:
        _log.warning("collapse-otel: archiving the state of dead process %s failed (%s); "
                     "its file stays", pid, type(exc).__name__)
        return False


def _template(config: CollapseConfig) -> Aggregator:
    template = _TEMPLATES.get(config)
    if template is None:
        template = _TEMPLATES[config] = Aggregator(config)
    return template


def _set_aside(path: Path, why: str) -> None:
    target = path.with_name(path.name + ".corrupt")
    with contextlib.suppress(OSError):
        os.replace(path, target)
    _log.warning("collapse-otel: multiprocess state %s %s; set aside as %s", path.name, why,
                 target.name)


def _open_index(path: Path, fingerprint: dict) -> tuple[BinaryIO, FileIndex] | None:
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed by the caller
    except FileNotFoundError:
        return None
    try:
        index = scan(f, path)
    except CorruptState:
        f.close()
        _set_aside(path, "is corrupt")
        return None
    if index.fingerprint != fingerprint:
        f.close()
        _set_aside(path, "was written under another configuration")
        return None
    return f, index


def _archive(directory: Path, dead_path: Path, config: CollapseConfig) -> bool:
    template = _template(config)
    fingerprint = template.fingerprint()
    dead = _open_index(dead_path, fingerprint)
    if dead is None:
        return False
    parts = [dead]
    try:
        old = _open_index(archive_path(directory), fingerprint)
        if old is not None:
            parts.insert(0, old)
        merged = _ArchiveState(parts, config, template, fingerprint)
        save(archive_path(directory), merged, merged.about())
        os.unlink(dead_path)
        return True
    finally:
        for f, _ in parts:
            f.close()


class _ArchiveState:
    """The archive's next state, streamed one stream at a time (``write_state``)."""

    def __init__(self, parts: list[tuple[BinaryIO, FileIndex]], config: CollapseConfig,
                 template: Aggregator,
                 fingerprint: dict) -> None:
        self._parts, self._config, self._template = parts, config, template
        self._fingerprint = fingerprint

    def write_state(self, write) -> None:
        write(state_frames.header(sum(index.folded for _, index in self._parts),
                                  self._fingerprint))
        by_key: dict = {}
        for f, index in self._parts:
            for entry in index.entries:
                by_key.setdefault(entry.key, []).append((f, entry))
        cfg = self._config
        args = PaneParams(threshold=cfg.near_duplicate_threshold,
                          minhasher=self._template._minhasher, sample_size=cfg.sample_size)
        for key in sorted(by_key):
            blobs = [read_blob(f, entry) for f, entry in by_key[key]]
            if len(blobs) == 1:
                write(state_frames.frame(blobs[0]))
                continue
            merged = merge_streams([StreamState.from_bytes(b, **args) for b in blobs],
                                   now=time.time(), max_evaluators=cfg.max_evaluators, **args)
            cap_window(merged)
            write(state_frames.frame(merged.to_bytes()))
        write(state_frames.END)

    def about(self) -> dict:
        """Counters summed over the archive and the dead worker; gauges are not carried
        (a dead process holds no queue and no memory)."""
        absorbed: list[str] = []
        dropped: dict[str, int] = {}
        rebuilt: dict[str, int] = {}
        processed, seconds, trims = 0, 0.0, 0
        unmatched: dict[str, int] = {}
        for _, index in self._parts:
            about = index.about
            absorbed += [str(t) for t in about.get("absorbed", ())]
            if about.get("kind") == "worker":
                absorbed.append(index.token)
            stats = about.get("stats", {})
            for reason, n in stats.get("dropped", {}).items():
                dropped[reason] = dropped.get(reason, 0) + int(n)
            for part, n in about.get("rebuilt", {}).items():
                rebuilt[part] = rebuilt.get(part, 0) + int(n)
            processed += int(stats.get("records_processed", 0))
            seconds += float(stats.get("processing_seconds", 0.0))
            for kind, n in stats.get("outcomes_unmatched", {}).items():
                unmatched[kind] = unmatched.get(kind, 0) + int(n)
            trims += int(about.get("memory", {}).get("trims", 0))
        return {"kind": "archive", "absorbed": absorbed[-MAX_ABSORBED:],
                "stats": {"dropped": dropped, "queue_depth": 0, "processing_seconds": seconds,
                          "records_processed": processed, "outcomes_unmatched": unmatched},
                "memory": {"retained": 0, "budget": 0, "trims": trims},
                "rebuilt": rebuilt, "limited": []}
