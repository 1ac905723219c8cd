"""Aggregator state across restarts: a versioned, checksummed file written atomically.

Layout: magic ``COLSTATE`` | format version (u16) | 6 reserved bytes | payload length (u64) |
SHA-256 of the payload | payload (``Aggregator.to_bytes()``, itself versioned). Writes go to a
temporary file in the same directory, are fsynced and then ``os.replace``d, so a crash leaves
either the old or the new snapshot, never half of one. A file that fails any check is renamed
aside (``<name>.corrupt-<UTC time>``) and reported; the server starts empty instead of crashing.
A location that cannot be read or written is not corrupt: it is a StateError, and serve does
not start.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path

_log = logging.getLogger(__name__)

MAGIC = b"COLSTATE"
VERSION = 1
_HEADER = struct.Struct(">8sH6xQ32s")


class StateError(RuntimeError):
    """The state location cannot be used (not writable, not readable): serve does not start."""


class CorruptState(ValueError):
    """The snapshot file is not a complete, valid snapshot of this format."""


def encode(payload: bytes) -> bytes:
    return _HEADER.pack(MAGIC, VERSION, len(payload), hashlib.sha256(payload).digest()) + payload


def decode(data: bytes) -> bytes:
    """The payload of a snapshot file; CorruptState on any mismatch."""
    if len(data) < _HEADER.size:
        raise CorruptState("shorter than the header")
    magic, version, length, digest = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CorruptState("not a collapse-otel state file")
    if version != VERSION:
        raise CorruptState(f"unsupported state format version {version}")
    payload = data[_HEADER.size:]
    if len(payload) != length:
        raise CorruptState(f"payload is {len(payload)} bytes, header says {length}")
    if hashlib.sha256(payload).digest() != digest:
        raise CorruptState("checksum mismatch")
    return payload


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    with contextlib.suppress(OSError):   # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclass(frozen=True)
class RestoreResult:
    outcome: str                 # "restored" | "missing" | "corrupt"
    detail: str = ""
    moved_to: Path | None = None


class StateStore:
    """Saves and restores one aggregator (anything with to_bytes() / restore(bytes))."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def save(self, aggregator: object) -> int:
        data = encode(aggregator.to_bytes())
        write_atomic(self.path, data)
        return len(data)

    def check_writable(self) -> None:
        """Create and remove a probe file beside the snapshot, so a directory serve cannot
        write to stops it at start instead of failing every snapshot later (StateError)."""
        directory = self.path.parent
        probe = directory / f".{self.path.name}.probe-{os.getpid()}"
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, b"probe")
            finally:
                os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            reason = "a file is in the way" if isinstance(exc, FileExistsError) \
                else exc.strerror or str(exc)
            raise StateError(f"state directory {directory} is not writable: {reason}") \
                from None

    def restore(self, aggregator: object) -> RestoreResult:
        """Load the snapshot. Bad bytes are set aside (``corrupt``); a file that cannot be read
        at all (a path through a file, no permission, I/O error) says nothing about its bytes,
        and starting empty would overwrite it at the next snapshot: StateError instead."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return RestoreResult("missing")
        except OSError as exc:
            raise StateError(f"cannot read state file {self.path}: "
                             f"{exc.strerror or exc}") from None
        try:
            aggregator.restore(decode(data))
        except Exception as exc:   # any failure of foreign bytes: set aside, never crash
            return self._set_aside(f"{type(exc).__name__}: {exc}")
        return RestoreResult("restored")

    def _set_aside(self, detail: str) -> RestoreResult:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
            n += 1
        try:
            os.replace(self.path, target)
        except OSError:
            target = None
        _log.warning("collapse-otel serve: state file %s is corrupt (%s); set aside as %s, "
                     "starting empty", self.path, detail, target)
        return RestoreResult("corrupt", detail, target)
