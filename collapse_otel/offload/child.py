"""The analysis process: reads the host's messages and runs an ordinary capture pipeline.

It lowers its own priority (nice 19), so on a busy core the host's threads run first: the
analysis takes the idle time. Its pipeline writes its state file in the multiprocess
directory, from which the host serves /metrics. When the host's end of the socket closes
(the host exited, crashed or was killed), it analyses what it holds, writes its state, folds
its file into the directory's archive and exits.
"""

from __future__ import annotations

import contextlib
import os
import socket

from ..config import CollapseConfig
from ..health import PipelineStats
from ..pipeline import Pipeline
from .wire import (
    ACK,
    CONFIG,
    DROPS,
    FLUSH,
    FRAGMENT,
    OUTCOME,
    RECORD,
    Reassembler,
    decode,
    encode,
    pieces,
)

EXIT_SECONDS = 30.0
NICE = 19
PARENT_CHECK_SECONDS = 1.0


class ChildPipeline(Pipeline):
    """A pipeline whose health counters include what the host dropped before sending."""

    host_dropped: dict[str, int] = {}

    def own_stats(self) -> PipelineStats:
        return super().stats()

    def stats(self) -> PipelineStats:
        stats = super().stats()
        for reason, n in self.host_dropped.items():
            stats.dropped[reason] = stats.dropped.get(reason, 0) + n
        return stats


def _receive(sock: socket.socket, whole: Reassembler, parent: int) -> bytes | None:
    """The next whole message; None at the end (socket closed, or the host is gone)."""
    while True:
        try:
            data = sock.recv(FRAGMENT + 16)
        except TimeoutError:
            if os.getppid() != parent:
                return None
            continue
        if not data:
            return None
        message = whole.feed(data)
        if message is not None:
            return message


def _handle(pipeline: ChildPipeline, sock: socket.socket, kind: bytes, body: object) -> None:
    if kind == RECORD:
        pipeline.submit(body)    # type: ignore[arg-type]
    elif kind == OUTCOME:
        pipeline.submit_outcome(body)    # type: ignore[arg-type]
    elif kind == DROPS:
        pipeline.host_dropped = dict(body)    # type: ignore[call-overload]
    elif kind == FLUSH:
        seq, (timeout, refresh) = body    # type: ignore[misc]
        done = pipeline.flush(timeout, refresh_gauges=refresh)
        sock.settimeout(None)
        for datagram in pieces(encode(ACK, (seq, done, pipeline.own_stats()))):
            sock.send(datagram)
        sock.settimeout(PARENT_CHECK_SECONDS)


def serve(fd: int) -> int:
    sock = socket.socket(fileno=fd)
    with contextlib.suppress(OSError):
        os.nice(NICE)
    parent = os.getppid()
    whole = Reassembler()
    first = _receive(sock, whole, parent)
    if first is None:
        return 1
    kind, fields = decode(first)
    if kind != CONFIG:
        return 2
    config = CollapseConfig(**fields)    # type: ignore[arg-type]
    pipeline = ChildPipeline(config)
    sock.settimeout(PARENT_CHECK_SECONDS)
    while (message := _receive(sock, whole, parent)) is not None:
        try:
            kind, body = decode(message)
            _handle(pipeline, sock, kind, body)
        except Exception as exc:   # a message that does not decode: counted, never fatal
            pipeline.report_error("capture_error", exc)
    pipeline.shutdown(EXIT_SECONDS)
    if config.multiproc_dir:
        from ..multiprocess import mark_process_dead

        mark_process_dead(os.getpid(), config.multiproc_dir, config=config)
    return 0
