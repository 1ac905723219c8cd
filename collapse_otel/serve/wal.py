"""The write-ahead log of serve: an accepted request is on disk before it is acknowledged.

A directory ``<state file>.wal/`` (0700) of segments named by their first sequence number
(``<20 digits>.wal``, 0600: they hold answer text). A segment is the magic ``COLWAL01`` then
records ``u32 length | u32 CRC-32 | payload`` with payload ``u64 seq | u8 kind | body``: the
request body as received (kind: protobuf or OTLP/JSON, gzip flag), so a replay decodes it
through the same code as the request did. A record is one ``writev`` under the log's lock, so
once ``append`` returns it is in the kernel and survives kill -9 of the process; what survives
an operating-system crash or power loss depends on the fsync policy:

- ``always``: fsync before the 200 (group commit: one fsync covers every record written
  before it, so concurrent requests share it). Acknowledged = on disk.
- ``interval``: a thread fsyncs every ``interval_ms``; a machine crash loses at most the
  acknowledged requests of the last interval.
- ``off``: never fsynced by serve; a machine crash loses what the kernel had not written back.

A snapshot records the sequence number it covers (see receiver.py); segments at or below it
are deleted. A torn or corrupt record ends its segment's replay (the rest is truncated,
logged and counted), like Prometheus's WAL repair.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .. import forksafe
from ..state.file import FILE_MODE, private_dir

_log = logging.getLogger(__name__)

MAGIC = b"COLWAL01"
KIND_PROTOBUF, KIND_JSON, GZIP = 1, 2, 0x10
FSYNC_POLICIES = ("always", "interval", "off")
MAX_RECORD = 1 << 31
SUFFIX = ".wal"
_RECORD = struct.Struct(">II")
_PAYLOAD = struct.Struct(">QB")


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    kind: int
    body: bytes


@dataclass(slots=True)
class _Segment:
    path: Path
    first: int
    last: int


class WriteAheadLog:
    """Append, sync, rotate, drop. ``lock`` is held by the caller around ``append`` and the
    queueing of the request, so records are in the log in the order the worker sees them."""

    def __init__(self, directory: str | os.PathLike[str], fsync: str = "always",
                 interval_ms: int = 100) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync policy must be one of {', '.join(FSYNC_POLICIES)}")
        self.directory = Path(directory)
        self.fsync = fsync
        self.interval = interval_ms / 1000.0
        self.lock = forksafe.Lock()
        self._sync_lock = forksafe.Lock()      # taken before ``lock``, never inside it
        self._closed: list[_Segment] = []
        self._current: _Segment | None = None
        self._fd: int | None = None
        self._size = 0
        self._undo: tuple[int, int] | None = None   # (seq, size before it) of the last append
        self._next = 1
        self._synced = 0                        # every record up to this seq is fsynced
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.replay_corrupt = 0                 # segments cut short at a bad record
        self.bytes = 0                          # on disk, every segment

    # -- start: replay ------------------------------------------------------------------------
    def replay(self) -> Iterator[Entry]:
        """Every record on disk, oldest first (one in memory at a time). Torn tails and corrupt
        records end their segment, which is truncated there. Call once, before appending."""
        private_dir(self.directory)
        if not self.directory.is_dir():
            raise NotADirectoryError(20, "not a directory", str(self.directory))
        for path in sorted(self.directory.glob("*" + SUFFIX)):
            try:
                first = int(path.name[:-len(SUFFIX)])
            except ValueError:
                continue
            segment = _Segment(path, first, first - 1)
            yield from self._read(segment)
            if segment.last >= segment.first:
                self._closed.append(segment)
                self._next = max(self._next, segment.last + 1)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()
        self.bytes = sum(_size(s.path) for s in self._closed)

    def _read(self, segment: _Segment) -> Iterator[Entry]:
        good, problem = 0, None
        try:
            with open(segment.path, "rb") as f:
                if f.read(len(MAGIC)) != MAGIC:
                    problem = "not a write-ahead log segment"
                else:
                    good = len(MAGIC)
                    while True:
                        head = f.read(_RECORD.size)
                        if not head:
                            break
                        if len(head) < _RECORD.size:
                            problem = "torn record"
                            break
                        length, crc = _RECORD.unpack(head)
                        if not _PAYLOAD.size <= length <= MAX_RECORD:
                            problem = "corrupt record length"
                            break
                        payload = f.read(length)
                        if len(payload) < length:
                            problem = "torn record"
                            break
                        if zlib.crc32(payload) != crc:
                            problem = "checksum mismatch"
                            break
                        seq, kind = _PAYLOAD.unpack_from(payload)
                        good += _RECORD.size + length
                        segment.last = max(segment.last, seq)
                        yield Entry(seq, kind, payload[_PAYLOAD.size:])
        except OSError as exc:
            problem = f"unreadable ({exc.strerror or exc})"
        if problem is not None:
            self.replay_corrupt += 1
            _log.warning("collapse-otel serve: write-ahead log %s: %s after %d bytes; the rest "
                         "is dropped", segment.path, problem, good)
            with contextlib.suppress(OSError):
                os.truncate(segment.path, good)

    def start(self, next_seq: int) -> None:
        """Appends start at ``next_seq`` at least (the snapshot's mark may be ahead of what is
        left on disk); the interval fsync thread starts."""
        self._next = max(self._next, next_seq)
        self._synced = self._next - 1
        if self.fsync == "interval" and self._thread is None:
            self._thread = threading.Thread(target=self._sync_loop, daemon=True,
                                            name="collapse-serve-wal-sync")
            self._thread.start()

    # -- appending ----------------------------------------------------------------------------
    def append(self, kind: int, body: bytes | bytearray) -> int:
        """Write one record (caller holds ``lock``); its sequence number. OSError when it could
        not be written whole: the segment is cut back to where it was."""
        if self._fd is None:
            self._open_segment()
        fd = self._fd
        assert fd is not None   # _open_segment opened one or raised
        seq = self._next
        payload_head = _PAYLOAD.pack(seq, kind)
        crc = zlib.crc32(body, zlib.crc32(payload_head))
        parts = [_RECORD.pack(len(payload_head) + len(body), crc), payload_head, body]
        total = sum(map(len, parts))
        before = self._size
        try:
            written = os.writev(fd, parts)
            while written < total:     # a short write (rare): write the rest
                rest = b"".join(parts)[written:]
                written += os.write(fd, rest)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, before)
            raise
        self._size += total
        self.bytes += total
        self._undo = (seq, before)
        assert self._current is not None
        self._current.last = seq
        self._next = seq + 1
        return seq

    def undo(self, seq: int) -> None:
        """Take back the record just appended (caller holds ``lock``): its request was not
        queued, so its client is told to retry and it must not be replayed too."""
        if self._undo is None or self._undo[0] != seq or self._fd is None:
            return
        before = self._undo[1]
        os.ftruncate(self._fd, before)
        self.bytes -= self._size - before
        self._size = before
        self._next = seq
        assert self._current is not None
        self._current.last = seq - 1
        self._undo = None

    def _open_segment(self) -> None:
        path = self.directory / f"{self._next:020d}{SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, FILE_MODE)
        try:
            os.write(fd, MAGIC)
        except OSError:
            os.close(fd)
            raise
        if self.fsync != "off":
            _fsync_dir(self.directory)   # the new name itself must survive a machine crash
        self._fd, self._size = fd, len(MAGIC)
        self.bytes += len(MAGIC)
        self._current = _Segment(path, self._next, self._next - 1)

    def sync(self, seq: int) -> None:
        """With ``always``: return once record ``seq`` is fsynced (OSError if it cannot be)."""
        if self.fsync == "always":
            self._sync_upto(seq)

    def _sync_upto(self, seq: int) -> None:
        with self._sync_lock:
            if self._synced >= seq:
                return                 # another request's fsync covered it
            with self.lock:
                fd, upto = self._fd, self._next - 1
            if fd is not None:
                os.fdatasync(fd)
            self._synced = upto

    def _sync_loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._sync_upto(self._next - 1)
            except OSError:
                _log.warning("collapse-otel serve: fsync of the write-ahead log failed",
                             exc_info=True)

    # -- snapshots ----------------------------------------------------------------------------
    def rotate(self) -> None:
        """Close the current segment (fsynced unless ``off``); the next append opens another,
        so segments a snapshot covers can be deleted whole."""
        with self._sync_lock, self.lock:
            if self._fd is None:
                return
            fd, segment = self._fd, self._current
            self._fd, self._current, self._undo = None, None, None
            try:
                if self.fsync != "off":
                    os.fdatasync(fd)
                    self._synced = self._next - 1
            finally:
                os.close(fd)
            assert segment is not None
            if segment.last >= segment.first:
                self._closed.append(segment)
            else:
                with contextlib.suppress(OSError):
                    segment.path.unlink()
                self.bytes -= len(MAGIC)

    def drop_through(self, seq: int) -> int:
        """Delete closed segments whose records are all at or below ``seq`` (a snapshot covers
        them); how many were deleted."""
        with self.lock:
            done = [s for s in self._closed if s.last <= seq]
            self._closed = [s for s in self._closed if s.last > seq]
        for segment in done:
            size = _size(segment.path)
            with contextlib.suppress(FileNotFoundError):
                segment.path.unlink()
            self.bytes -= size
        return len(done)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with self._sync_lock, self.lock:
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    if self.fsync != "off":
                        os.fdatasync(self._fd)
                os.close(self._fd)
                self._fd = None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
