"""The state files of multiprocess mode: one per worker process, plus an archive of dead ones.

Each file is a ``serve.state`` file (magic, format version, checksummed payload, written to a
0600 temporary file, fsynced and ``os.replace``d) whose payload is the aggregator's state
(``Aggregator.write_state``: a header with the configuration fingerprint, one frame per
stream, an end mark) followed by one JSON record, the *about*: who wrote the file (pid, host,
a random token per process), its capture pipeline's health counters and memory figures, and
for the archive the tokens of the workers it holds. Files are read stream by stream: a scan
checks the checksum and keeps, per stream, where its bytes are, a digest of them and its
counters; a stream's sketches are parsed only when its window is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import xxhash

from .. import forksafe
from ..engine.outcome_stats import OutcomeTotals
from ..engine.stream import read_stream_head
from ..records import StreamKey
from ..state.file import (
    HEADER,
    MAGIC,
    TRAILER,
    VERSION,
    CorruptState,
    StateStore,
    StreamsState,
)
from ..state.frames import read_frames
from .paths import worker_path

_log = logging.getLogger(__name__)

MAX_ABOUT = 1 << 24
_U64 = struct.Struct("<Q")


class _WithAbout:
    """What ``StateStore.save`` streams: the aggregator's state, then the about record."""

    def __init__(self, state: StreamsState, about: dict) -> None:
        self._state, self._about = state, about

    def write_state(self, write: Callable[[bytes], object]) -> None:
        self._state.write_state(write)
        data = json.dumps(self._about, sort_keys=True).encode()
        write(_U64.pack(len(data)) + data)


def save(path: Path, state: StreamsState, about: dict) -> int:
    """Write ``state`` (anything with ``write_state``) and ``about`` to ``path`` atomically."""
    return StateStore(path).save(_WithAbout(state, about))


class StateWriter:
    """Writes one process's aggregator to ``<dir>/collapse-<pid>.state`` (the pid when the
    write happens, so a forked child never writes its parent's file). A failing write is
    counted and logged once per kind, never raised."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.writes = 0
        self.failures = 0
        self.seconds = 0.0
        self._pid = 0
        self._token = ""
        self._lock = forksafe.Lock()
        self._logged: set[str] = set()

    def write(self, aggregator: Any, stats: Any = None) -> bool:
        if not hasattr(aggregator, "write_state"):
            return False
        with self._lock:
            start = time.perf_counter()
            try:
                pid = os.getpid()
                if pid != self._pid:
                    self._pid, self._token = pid, os.urandom(8).hex()
                about = {"kind": "worker", "pid": pid, "host": socket.gethostname(),
                         "token": self._token, "written": time.time(),
                         **health_of(aggregator, stats)}
                save(worker_path(self.directory, pid), aggregator, about)
                self.writes += 1
                return True
            except Exception as exc:   # never into the host: counted, logged once per kind
                self.failures += 1
                kind = type(exc).__name__
                if kind not in self._logged:
                    self._logged.add(kind)
                    _log.warning("collapse-otel: writing the multiprocess state to %s failed "
                                 "(%s); retried at the next interval", self.directory, kind)
                return False
            finally:
                self.seconds += time.perf_counter() - start


def health_of(aggregator: Any, stats: Any) -> dict:
    """The about record's health part: pipeline counters, memory figures, limited streams."""
    memory = getattr(aggregator, "memory", None)
    lock = getattr(aggregator, "_lock", None)
    limited: list[list[str]] = []
    if lock is not None:
        with lock:
            limited = [list(k) for k, s in getattr(aggregator, "_streams", {}).items()
                       if getattr(s, "memory_limited", False)]
    return {
        "stats": {"dropped": dict(getattr(stats, "dropped", None) or {}),
                  "queue_depth": getattr(stats, "queue_depth", 0) or 0,
                  "processing_seconds": getattr(stats, "processing_seconds", 0.0) or 0.0,
                  "records_processed": getattr(stats, "records_processed", 0) or 0,
                  "outcomes_unmatched": dict(getattr(stats, "outcomes_unmatched", None) or {}),
                  "references": getattr(stats, "references", 0) or 0},
        "memory": {"retained": getattr(memory, "retained", 0),
                   "budget": getattr(memory, "budget", 0),
                   "trims": getattr(memory, "trims_total", 0)},
        "rebuilt": dict(getattr(aggregator, "state_rebuilt", None) or {}),
        "limited": limited,
    }


@dataclass(frozen=True)
class StreamEntry:
    """One stream of one file: where its bytes are, their digest, and its counters."""

    key: StreamKey
    offset: int
    length: int
    digest: int
    first_seen: float
    counts: dict[str, int]
    prompt_hist: list[int]
    completion_hist: list[int]
    outcomes: OutcomeTotals = field(default_factory=OutcomeTotals)


@dataclass
class FileIndex:
    path: Path
    ident: tuple[int, int, int, int]     # device, inode, mtime_ns, size
    folded: int
    fingerprint: dict | None
    about: dict
    entries: list[StreamEntry] = field(default_factory=list)

    @property
    def token(self) -> str:
        return str(self.about.get("token", ""))


def ident_of(f: BinaryIO) -> tuple[int, int, int, int]:
    st = os.fstat(f.fileno())
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


def stream_counters(blob: bytes) -> tuple[StreamKey, float, dict[str, int], list[int], list[int],
                                          OutcomeTotals]:
    """A stream's key, first-seen time, counters, histograms and feedback / evaluation
    totals, read from the start of its bytes (``StreamState.to_bytes``) without parsing its
    window panes."""
    head = read_stream_head(blob)
    return (head.key, head.first_seen, head.counts, head.prompt_hist, head.completion_hist,
            head.outcomes)


class _Hashing:
    def __init__(self, f: BinaryIO, length: int) -> None:
        self._f, self.left, self.length, self.sha = f, length, length, hashlib.sha256()

    def read(self, n: int) -> bytes:
        data = self._f.read(min(n, self.left))
        self.left -= len(data)
        self.sha.update(data)
        return data

    @property
    def position(self) -> int:
        return HEADER.size + self.length - self.left


def scan(f: BinaryIO, path: Path) -> FileIndex:
    """Index an open state file, verifying it whole; CorruptState on any mismatch."""
    ident = ident_of(f)
    try:
        head = f.read(HEADER.size)
        if len(head) < HEADER.size or HEADER.unpack(head) != (MAGIC, VERSION):
            raise CorruptState("not a collapse-otel state file of this format")
        length = ident[3] - HEADER.size - TRAILER.size
        if length < 0:
            raise CorruptState("shorter than header and trailer")
        payload = _Hashing(f, length)
        folded, fingerprint, frames = read_frames(payload.read)
        index = FileIndex(path, ident, folded, fingerprint, {})
        for blob in frames:
            key, first_seen, counts, prompt, completion, outcomes = stream_counters(blob)
            index.entries.append(StreamEntry(
                key, payload.position - len(blob), len(blob), xxhash.xxh3_64_intdigest(blob),
                first_seen, counts, prompt, completion, outcomes))
        size_bytes = payload.read(8)
        size = _U64.unpack(size_bytes)[0] if len(size_bytes) == 8 else -1
        if not 0 <= size <= min(MAX_ABOUT, payload.left):
            raise CorruptState("no about record")
        about = json.loads(payload.read(size))
        if payload.left or not isinstance(about, dict):
            raise CorruptState("payload continues after the about record")
        stored_length, digest = TRAILER.unpack(f.read(TRAILER.size))
        if stored_length != length or payload.sha.digest() != digest:
            raise CorruptState("checksum mismatch")
    except CorruptState:
        raise
    except (OSError, ValueError, struct.error) as exc:
        raise CorruptState(f"{type(exc).__name__}: {exc}") from None
    index.about = about
    return index


def read_blob(f: BinaryIO, entry: StreamEntry) -> bytes:
    data = os.pread(f.fileno(), entry.length, entry.offset)
    if len(data) != entry.length or xxhash.xxh3_64_intdigest(data) != entry.digest:
        raise CorruptState("stream bytes changed since the scan")
    return data
