"""The analysis process: reads the host's messages and runs an ordinary capture pipeline on
its one thread, a batch whenever the socket has nothing more to read.

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
from typing import Any

from ..config import CollapseConfig
from ..worker.health import PipelineStats
from ..worker.pipeline import FlushMarker, Pipeline
from .wire import (
    ACK,
    CONFIG,
    DROPS,
    FLUSH,
    FRAGMENT,
    JUDGE,
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
    """A pipeline worked by the process's one thread, between reads of the socket (no worker
    thread: nothing competes for the interpreter lock), whose health counters include what
    the host dropped before sending."""

    host_dropped: dict[str, int] = {}

    def _start(self) -> None:
        """No worker thread: :meth:`work` runs the batches."""

    def work(self) -> None:
        """Analyse everything queued, in batches."""
        while self._queue:
            self._drain_once()
            self._maintain()

    def idle(self) -> None:
        """Nothing arrived for a while: what the worker thread does when woken for nothing."""
        if self._ledger.waiting:
            self._observe(self._admit([], False))
        if self._waiting_outcomes:
            self._place_outcomes([], force=self._closed)
        self._maintain()

    def flush(self, timeout: float = 5.0, *, refresh_gauges: bool = True) -> bool:
        self._queue.append(FlushMarker())   # the ledger and waiting outcomes settle too
        self.work()
        if refresh_gauges:
            refresh = getattr(self.aggregator, "refresh", None)
            if refresh is not None:
                refresh(None, 0.0)
        if self.config.multiproc_dir:
            self._write_state(force=True)
        return True

    def shutdown(self, timeout: float = 5.0) -> None:
        self.flush(timeout)
        self._closed = True

    def own_stats(self) -> PipelineStats:
        return super().stats()

    def stats(self) -> PipelineStats:
        stats = super().stats()
        for reason, n in self.host_dropped.items():
            stats.dropped[reason] = stats.dropped.get(reason, 0) + n
        return stats


def _receive(sock: socket.socket, whole: Reassembler, parent: int,
             pipeline: ChildPipeline | None = None) -> bytes | None:
    """The next whole message; None at the end (socket closed, or the host is gone). While
    nothing arrives, what is queued is analysed (a batch fills while the host sends)."""
    while True:
        try:
            if pipeline is not None and pipeline._queue:
                data = sock.recv(FRAGMENT + 16, socket.MSG_DONTWAIT)
            else:
                data = sock.recv(FRAGMENT + 16)
        except BlockingIOError:
            pipeline.work()   # type: ignore[union-attr]
            continue
        except TimeoutError:
            if os.getppid() != parent:
                return None
            if pipeline is not None:
                pipeline.idle()
            continue
        if not data:
            return None
        message = whole.feed(data)
        if message is not None:
            if pipeline is not None and len(pipeline._queue) >= pipeline.config.batch_size:
                pipeline.work()
            return message


def _handle(pipeline: ChildPipeline, sock: socket.socket, kind: bytes, body: Any) -> None:
    # body: a decoded message, whose shape its kind decides (Any: the wire is untyped)
    if kind == RECORD:
        pipeline.submit(body)
    elif kind == OUTCOME:
        pipeline.submit_outcome(body)
    elif kind == JUDGE:
        pipeline.submit_deferred(body)
    elif kind == DROPS:
        pipeline.host_dropped = dict(body)
    elif kind == FLUSH:
        seq, (timeout, refresh) = body
        done = pipeline.flush(timeout, refresh_gauges=refresh)
        sock.settimeout(None)
        for datagram in pieces(encode(ACK, (seq, done, pipeline.own_stats()))):
            sock.send(datagram)
        sock.settimeout(PARENT_CHECK_SECONDS)


def serve(fd: int) -> int:
    sock = socket.socket(fileno=fd)
    with contextlib.suppress(OSError):   # the launcher already did (a no-op then: at most 19)
        os.nice(NICE)
    parent = os.getppid()
    whole = Reassembler()
    first = _receive(sock, whole, parent)
    if first is None:
        return 1
    kind, fields = decode(first)
    if kind != CONFIG:
        return 2
    config = CollapseConfig(**fields)
    pipeline = ChildPipeline(config)
    sock.settimeout(PARENT_CHECK_SECONDS)
    while (message := _receive(sock, whole, parent, pipeline)) is not None:
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
