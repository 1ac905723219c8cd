"""Aggregator state across restarts: a versioned, checksummed file written atomically.

Layout (version 2): magic ``COLSTATE`` | format version (u16) | 6 reserved bytes | payload
(``Aggregator.write_state``: one frame per stream) | payload length (u64) | SHA-256 of the
payload. Version 3 is version 2 whose checksummed part starts with a *mark*: a u64 length and a
JSON object that belongs to this snapshot and no other (serve's write-ahead log position), so
the two are replaced together. The payload is streamed to the file one stream at a time, with the checksum computed
on the way, so a snapshot never holds a second copy of the state in memory; version 1 files
(length and checksum before the payload) are still read. Writes go to a temporary file in the
same directory, created with mode 0600 (the sample holds answer text), fsynced and then
``os.replace``d, so a crash leaves either the old or the new snapshot, never half of one. A
file that fails any check is renamed aside (``<name>.corrupt-<UTC time>``) and reported; the
server starts empty instead of crashing. A location that cannot be read or written is not
corrupt: it is a StateError, and serve does not start.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

_log = logging.getLogger(__name__)

MAGIC = b"COLSTATE"
VERSION = 2            # written without a mark (multiprocess files, compare inputs)
VERSION_MARKED = 3     # a mark before the payload
MAX_MARK = 1 << 26
FILE_MODE = 0o600
_HEADER_V1 = struct.Struct(">8sH6xQ32s")
HEADER = struct.Struct(">8sH6x")
TRAILER = struct.Struct(">Q32s")
_U64 = struct.Struct(">Q")


class StateError(RuntimeError):
    """The state location cannot be used (not writable, not readable): serve does not start."""


class CorruptState(ValueError):
    """The snapshot file is not a complete, valid snapshot of this format."""


def encode(payload: bytes) -> bytes:
    """A whole snapshot file for ``payload`` (what ``StateStore.save`` streams)."""
    return (HEADER.pack(MAGIC, VERSION) + payload +
            TRAILER.pack(len(payload), hashlib.sha256(payload).digest()))


def decode(data: bytes) -> bytes:
    """The payload of a snapshot file (either version); CorruptState on any mismatch."""
    if len(data) < HEADER.size:
        raise CorruptState("shorter than the header")
    magic, version = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CorruptState("not a collapse-otel state file")
    if version == VERSION_MARKED:
        _, payload = _split_mark(decode_checked(data))
        return payload
    if version == 1:
        if len(data) < _HEADER_V1.size:
            raise CorruptState("shorter than the header")
        _, _, length, digest = _HEADER_V1.unpack_from(data)
        payload = data[_HEADER_V1.size:]
    elif version == VERSION:
        if len(data) < HEADER.size + TRAILER.size:
            raise CorruptState("shorter than header and trailer")
        length, digest = TRAILER.unpack_from(data, len(data) - TRAILER.size)
        payload = data[HEADER.size:len(data) - TRAILER.size]
    else:
        raise CorruptState(f"unsupported state format version {version}")
    if len(payload) != length:
        raise CorruptState(f"payload is {len(payload)} bytes, header says {length}")
    if hashlib.sha256(payload).digest() != digest:
        raise CorruptState("checksum mismatch")
    return payload


def decode_checked(data: bytes) -> bytes:
    """The checksummed part of a version 2 or 3 file (header and trailer checked)."""
    if len(data) < HEADER.size + TRAILER.size:
        raise CorruptState("shorter than header and trailer")
    length, digest = TRAILER.unpack_from(data, len(data) - TRAILER.size)
    body = data[HEADER.size:len(data) - TRAILER.size]
    if len(body) != length or hashlib.sha256(body).digest() != digest:
        raise CorruptState("checksum mismatch")
    return body


def _split_mark(body: bytes) -> tuple[dict, bytes]:
    if len(body) < _U64.size:
        raise CorruptState("no mark")
    size = _U64.unpack_from(body)[0]
    if size > MAX_MARK or _U64.size + size > len(body):
        raise CorruptState("corrupt mark length")
    return _parse_mark(body[_U64.size:_U64.size + size]), body[_U64.size + size:]


def _parse_mark(data: bytes) -> dict:
    import json

    try:
        mark = json.loads(data)
    except ValueError:
        raise CorruptState("corrupt mark") from None
    if not isinstance(mark, dict):
        raise CorruptState("corrupt mark")
    return mark


def read_mark(path: str | os.PathLike[str]) -> dict | None:
    """The mark of a version 3 file (None for other versions), without checking the whole
    checksum: for tools that only inspect a file."""
    with open(path, "rb") as f:
        head = f.read(HEADER.size)
        if len(head) < HEADER.size or HEADER.unpack(head) != (MAGIC, VERSION_MARKED):
            return None
        size = _U64.unpack(f.read(_U64.size))[0]
        if size > MAX_MARK:
            raise CorruptState("corrupt mark length")
        return _parse_mark(f.read(size))


def private_dir(directory: Path) -> None:
    """Create ``directory`` and its missing parents 0700: what goes in them holds answer text.
    Directories that exist already are left as they are (their mode is the owner's choice)."""
    missing: list[Path] = []
    d = directory
    while not d.exists() and d != d.parent:
        missing.append(d)
        d = d.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=0o700)


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A private (0600) temporary file that replaces ``path`` once the block succeeds."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()    # a leftover of a crashed writer of this pid
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            yield f
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


def write_atomic(path: Path, data: bytes) -> None:
    with atomic_file(path) as f:
        f.write(data)


class _HashingReader:
    """Reads at most ``length`` payload bytes from ``f``, hashing them."""

    def __init__(self, f: BinaryIO, length: int) -> None:
        self._f, self.left, self.sha = f, length, hashlib.sha256()

    def read(self, n: int) -> bytes:
        data = self._f.read(min(n, self.left))
        self.left -= len(data)
        self.sha.update(data)
        return data


@dataclass(frozen=True)
class RestoreResult:
    outcome: str                 # "restored" | "missing" | "corrupt"
    detail: str = ""
    moved_to: Path | None = None
    mark: dict | None = None     # what the snapshot was saved with (version 3 files)


class StreamsState(Protocol):
    """What a state file saves: anything that streams its state (``Aggregator``)."""

    def write_state(self, write: Callable[[bytes], object]) -> None: ...


class StatefulAggregator(StreamsState, Protocol):
    """What a state file restores as well (``Aggregator``'s state methods)."""

    def restore(self, data: bytes) -> None: ...
    def read_state(self, read: Callable[[int], bytes],
                   check: Callable[[], None] | None = None) -> None: ...


def _load(f: BinaryIO, aggregator: StatefulAggregator) -> dict | None:
    """Stream a snapshot file into ``aggregator`` (``read_state``), verifying the checksum
    before the aggregator replaces its state; version 1 files are read whole. The mark of a
    version 3 file, else None."""
    head = f.read(HEADER.size)
    if len(head) < HEADER.size:
        raise CorruptState("shorter than the header")
    magic, version = HEADER.unpack(head)
    if magic != MAGIC or version not in (VERSION, VERSION_MARKED):   # version 1, or foreign
        aggregator.restore(decode(head + f.read()))
        return None
    length = os.fstat(f.fileno()).st_size - HEADER.size - TRAILER.size
    if length < 0:
        raise CorruptState("shorter than header and trailer")
    payload = _HashingReader(f, length)
    mark = None
    if version == VERSION_MARKED:
        size_bytes = payload.read(_U64.size)
        if len(size_bytes) < _U64.size:
            raise CorruptState("no mark")
        size = _U64.unpack(size_bytes)[0]
        if size > MAX_MARK or size > payload.left:
            raise CorruptState("corrupt mark length")
        raw = payload.read(size)

    def check() -> None:
        if payload.left:
            raise CorruptState("payload continues after the last stream")
        stored_length, digest = TRAILER.unpack(f.read(TRAILER.size))
        if stored_length != length or payload.sha.digest() != digest:
            raise CorruptState("checksum mismatch")

    if version == VERSION_MARKED:
        mark = _parse_mark(raw)   # checked with the rest: a bad mark fails the checksum too
    aggregator.read_state(payload.read, check)
    return mark


def load_into(path: str | os.PathLike[str], aggregator: StatefulAggregator) -> dict | None:
    """Restore ``aggregator`` from a state file; CorruptState (a ValueError) if it is not a
    complete, valid one. The file is left where it is (``StateStore.restore`` sets a corrupt
    file aside instead). Returns the file's mark, if it has one."""
    try:
        with open(path, "rb") as f:
            return _load(f, aggregator)
    except CorruptState:
        raise
    except (OSError, ValueError) as exc:
        raise CorruptState(f"{path}: {type(exc).__name__}: {exc}") from None


class StateStore:
    """Saves and restores one aggregator (anything with ``write_state`` / ``read_state``)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None

    def hold(self) -> int:
        """Take this state file for this process, then remove what crashed writers left.

        An exclusive lock on ``.<name>.lock`` beside the file, kept until ``release`` or the
        process ends (the kernel drops it even on kill -9), so a second process on the same
        state is refused (StateError) instead of overwriting it. With the lock held, every
        temporary or probe file of this name is a crash leftover whatever pid it names (a
        snapshot interrupted by kill -9 leaves one as large as the state, with answer text):
        they are removed. Returns how many were."""
        import fcntl

        private_dir(self.path.parent)
        lock = self.path.with_name(f".{self.path.name}.lock")
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except OSError as exc:
            raise StateError(f"cannot create {lock}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StateError(f"state file {self.path} is in use by another process "
                             f"(it holds {lock})") from None
        self._lock_fd = fd
        return self.clean_leftovers()

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def clean_leftovers(self) -> int:
        """Remove ``.<name>.tmp-*`` and ``.<name>.probe-*`` files (call with the lock held)."""
        prefixes = (f".{self.path.name}.tmp-", f".{self.path.name}.probe-")
        removed = 0
        try:
            names = os.listdir(self.path.parent)
        except OSError:
            return 0
        for name in names:
            if name.startswith(prefixes):
                with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                    os.unlink(self.path.parent / name)
                    removed += 1
        if removed:
            _log.info("collapse-otel: removed %d leftover file(s) of interrupted writes "
                      "beside %s", removed, self.path)
        return removed

    def save(self, aggregator: StreamsState, mark: dict | None = None) -> int:
        """Stream the aggregator's state to the file, with ``mark`` if given (version 3); the
        file's size in bytes."""
        import json

        sha, size = hashlib.sha256(), 0

        with atomic_file(self.path) as f:
            f.write(HEADER.pack(MAGIC, VERSION if mark is None else VERSION_MARKED))

            def write(data: bytes) -> None:
                nonlocal size
                sha.update(data)
                size += len(data)
                f.write(data)

            if mark is not None:
                raw = json.dumps(mark, sort_keys=True, separators=(",", ":")).encode()
                write(_U64.pack(len(raw)) + raw)
            aggregator.write_state(write)
            f.write(TRAILER.pack(size, sha.digest()))
        return HEADER.size + size + TRAILER.size

    def check_writable(self) -> None:
        """Create and remove a probe file beside the snapshot, so a directory serve cannot
        write to stops it at start instead of failing every snapshot later (StateError)."""
        directory = self.path.parent
        probe = directory / f".{self.path.name}.probe-{os.getpid()}"
        try:
            private_dir(directory)
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

    def restore(self, aggregator: StatefulAggregator) -> RestoreResult:
        """Load the snapshot. Bad bytes are set aside (``corrupt``); a file that cannot be read
        at all (a path through a file, no permission, I/O error) says nothing about its bytes,
        and starting empty would overwrite it at the next snapshot: StateError instead."""
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - closed below, after the checks
        except FileNotFoundError:
            return RestoreResult("missing")
        except OSError as exc:
            raise StateError(f"cannot read state file {self.path}: "
                             f"{exc.strerror or exc}") from None
        try:
            with f:
                mark = _load(f, aggregator)
        except Exception as exc:   # any failure of foreign bytes: set aside, never crash
            return self._set_aside(f"{type(exc).__name__}: {exc}")
        return RestoreResult("restored", mark=mark)

    def _set_aside(self, detail: str) -> RestoreResult:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
            n += 1
        moved: Path | None = target
        try:
            os.replace(self.path, target)
        except OSError:
            moved = None
        _log.warning("collapse-otel serve: state file %s is corrupt (%s); set aside as %s, "
                     "starting empty", self.path, detail, moved)
        return RestoreResult("corrupt", detail, moved)
