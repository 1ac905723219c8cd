"""Request bodies of the OTLP/HTTP listener: framing, a total read deadline, a byte budget,
and gzip.

A body is read whole before the request takes a decode slot, so a client that sends slowly
holds only its own connection. Every read gets the time left until the deadline as its
socket timeout, so a byte every few seconds cannot stretch a body past ``deadline``: the
client gets 408 and the connection is closed. Bytes received and kept are counted in a
budget shared by every connection (counted as they arrive, not as declared), so slow or
stalled clients cannot make the server buffer without bound: beyond it, 503 + close.
"""

from __future__ import annotations

import contextlib
import re
import socket
import time
import zlib
from collections.abc import Callable
from typing import Any, Protocol

from .. import forksafe

MAX_GZIP_MEMBERS = 64         # concatenated gzip members decoded per body
DISCARD_MAX = 256 * 1024 * 1024   # unwanted bodies up to this are read and dropped, not kept
_READ = 1 << 16
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_DIGITS = re.compile(r"[0-9]{1,19}")
_MAX_TRAILERS = 64


class BodyError(Exception):
    """The body could not be taken: the HTTP status to answer and why."""

    def __init__(self, status: int, message: str, close: bool = True) -> None:
        super().__init__(message)
        self.status, self.message, self.close = status, message, close


class ByteBudget:
    """Bytes of request bodies held by readers right now, across every connection."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = forksafe.Lock()

    def take(self, n: int, mine: int) -> bool:
        """Reserve ``n`` more bytes for a reader holding ``mine``; a body alone always fits."""
        with self._lock:
            if self.used > mine and self.used + n > self.limit:
                return False
            self.used += n
            return True

    def give(self, n: int) -> None:
        with self._lock:
            self.used -= n


class BufferedInput(Protocol):
    """What the reader needs of the handler's rfile (a BufferedReader): ``read1`` and ``peek``
    make at most one socket read, so the deadline is checked between reads."""

    def read(self, size: int, /) -> bytes: ...
    def read1(self, size: int, /) -> bytes: ...
    def peek(self, size: int, /) -> bytes: ...


class BodyReader:
    """Reads (or discards) one request body before ``deadline`` seconds have passed.

    ``done()`` must follow: it returns the budget and restores the connection's idle timeout.
    """

    def __init__(self, rfile: BufferedInput, sock: socket.socket, headers: Any, *,
                 deadline: float, budget: ByteBudget, idle_timeout: float | None) -> None:
        self._rfile, self._sock, self._headers = rfile, sock, headers
        self._seconds = deadline
        self._deadline = time.monotonic() + deadline
        self._budget = budget
        self._idle = idle_timeout
        self.taken = 0

    def done(self) -> None:
        self._budget.give(self.taken)
        self.taken = 0
        with contextlib.suppress(OSError):   # the socket may be closed already
            self._sock.settimeout(self._idle)

    # -- framing --------------------------------------------------------------------------
    def _framing(self) -> tuple[str, int]:
        """("length", n) or ("chunked", 0); BodyError for what no reader can frame."""
        lengths = self._headers.get_all("Content-Length") or []
        te = self._headers.get_all("Transfer-Encoding") or []
        if te:
            if lengths:   # both: a request-smuggling shape (RFC 9112 section 6.3)
                raise BodyError(400, "both Content-Length and Transfer-Encoding")
            if len(te) != 1 or te[0].strip().lower() != "chunked":
                raise BodyError(400, "only Transfer-Encoding: chunked is supported")
            return "chunked", 0
        if not lengths:
            raise BodyError(400, "a Content-Length or chunked body is required")
        if len({v.strip() for v in lengths}) != 1 or not _DIGITS.fullmatch(lengths[0].strip()):
            raise BodyError(400, "invalid Content-Length")
        return "length", int(lengths[0])

    def read(self, limit: int) -> bytearray:
        """The whole body; BodyError 400 / 408 / 413 / 503 otherwise."""
        kind, n = self._framing()
        if kind == "chunked":
            return self._read_chunked(limit)
        if n > limit:
            skipped = self._skip(n)         # so the client can read the 413
            raise BodyError(413, f"request body over {limit} bytes", close=not skipped)
        return self._read_exactly(n, bytearray())

    def discard(self) -> bool:
        """Skip an unwanted body; False when the connection must be closed instead."""
        try:
            kind, n = self._framing()
        except BodyError:
            return False
        return kind == "length" and self._skip(n)

    def _skip(self, n: int) -> bool:
        if n > DISCARD_MAX:
            return False
        try:
            while n > 0:
                n -= len(self._io(self._rfile.read1, min(n, _READ)))
        except BodyError:
            return False
        return True

    # -- reading --------------------------------------------------------------------------
    def _io(self, read: Callable[[int], bytes], n: int) -> bytes:
        """``read(n)`` (read1 or peek: one socket read at most) within the deadline."""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise self._late()
        try:
            self._sock.settimeout(remaining)
            data = read(n)
        except TimeoutError:
            raise self._late() from None
        except OSError:
            raise BodyError(400, "connection error while reading the body") from None
        if not data:
            raise BodyError(400, "truncated body")
        return data

    def _late(self) -> BodyError:
        return BodyError(408, f"request body not received within {self._seconds:g} s")

    def _read_exactly(self, n: int, out: bytearray) -> bytearray:
        while n > 0:
            data = self._io(self._rfile.read1, min(n, _READ))
            if not self._budget.take(len(data), self.taken):
                raise BodyError(503, "too many request bodies being received; retry later")
            self.taken += len(data)
            out += data
            n -= len(data)
        return out

    def _readline(self) -> bytes:
        """One line of chunked framing (at most 1 KiB), taken from what is buffered."""
        line = bytearray()
        while True:
            data = self._io(self._rfile.peek, 1)
            room = 1024 - len(line)
            end = data.find(b"\n", 0, room)
            line += self._rfile.read(end + 1 if end >= 0 else min(len(data), room))
            if end >= 0:
                return bytes(line)
            if len(line) >= 1024:
                raise BodyError(400, "invalid chunked encoding")

    def _read_chunked(self, limit: int) -> bytearray:
        out, total = bytearray(), 0
        while True:
            size_text = self._readline().split(b";", 1)[0].strip()
            if not _CHUNK_SIZE.fullmatch(size_text):
                raise BodyError(400, "invalid chunked encoding")
            size = int(size_text, 16)
            if size == 0:
                for _ in range(_MAX_TRAILERS):
                    if not self._readline().strip():
                        return out
                raise BodyError(400, "too many trailer lines")
            total += size
            if total > limit:
                raise BodyError(413, f"request body over {limit} bytes")
            self._read_exactly(size, out)
            if self._readline().strip():
                raise BodyError(400, "invalid chunked encoding")


def gunzip(data: bytes | bytearray, limit: int) -> bytes | str | None:
    """Decompress every member (RFC 1952 allows several), at most ``limit`` bytes in total so
    a gzip bomb stops there; None over the limit, a str for a malformed body. Anything after
    the last member that is not another member (garbage, zero padding) is malformed."""
    out: list[bytes] = []
    size, rest = 0, memoryview(data)
    try:
        for _ in range(MAX_GZIP_MEMBERS):
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            chunk = d.decompress(rest, limit + 1 - size)
            size += len(chunk)
            if size > limit:
                return None
            if not d.eof:
                return "truncated gzip body"
            out.append(chunk)
            if not d.unused_data:
                return b"".join(out)
            if d.unused_data[:2] != b"\x1f\x8b":
                return "trailing data after the gzip body"
            rest = memoryview(d.unused_data)
    except zlib.error:
        return "invalid gzip body"
    return "too many gzip members"
