"""The host's end of the link to its analysis process: the socket, and starting the process.

``send`` never blocks: the socket is non-blocking and a full buffer (the analysis process is
behind) refuses the message, which the caller counts as dropped. The buffer is the bound on
memory the link holds (``SOCKET_BUFFER``, capped by the kernel's ``net.core.wmem_max``).
The process is started with ``subprocess`` at nice 19 (no ``multiprocessing``: it would re-import the
host's ``__main__``), inherits only its end of the pair, and exits when the host's end closes,
which the kernel does when the host dies, however it dies.
"""

from __future__ import annotations

import dataclasses
import os
import select
import socket
import subprocess
import sys
import time
from typing import Any

from .. import forksafe
from .wire import ACK, CONFIG, FLUSH, FRAGMENT, Reassembler, decode, encode, pieces

SOCKET_BUFFER = 8 << 20
# nice 19 before anything is imported: the imports (numpy, the signal tables) take a second or
# more of CPU, which must not be taken from the host's core at its priority
_LAUNCH = ("import os, sys\ntry:\n    os.nice(19)\nexcept OSError:\n    pass\n"
           "from collapse_otel.offload.child import serve\nsys.exit(serve(int(sys.argv[1])))")
START_SECONDS = 60.0


class LinkError(OSError):
    """The analysis process is gone or did not answer."""


class AnalysisLink:
    """One analysis process and the socket to it."""

    def __init__(self, config: Any) -> None:
        host, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            for sock, opt in ((host, socket.SO_SNDBUF), (child, socket.SO_RCVBUF)):
                sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
            env = {**os.environ, "OPENBLAS_NUM_THREADS": os.environ.get(
                "OPENBLAS_NUM_THREADS", "1")}
            self.process = subprocess.Popen(
                [sys.executable, "-c", _LAUNCH, str(child.fileno())],
                pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, env=env)
        except BaseException:
            host.close()
            raise
        finally:
            child.close()
        self.pid = self.process.pid
        self._sock = host
        self._lock = forksafe.Lock()       # one message's datagrams stay together
        self._request = forksafe.Lock()    # one request (flush) at a time
        self._seq = 0
        self.alive = True
        host.setblocking(False)
        fields = dataclasses.asdict(config)
        if not self.send_waiting(encode(CONFIG, fields), time.monotonic() + START_SECONDS):
            self.close(0)
            raise LinkError("the analysis process took no configuration")

    def send(self, message: bytes) -> bool:
        """Copy ``message`` into the socket; False when it is full or the process is gone
        (then ``alive`` is False). Never blocks (beyond another thread's send)."""
        with self._lock:
            try:
                if len(message) <= FRAGMENT:
                    self._sock.send(message)
                else:
                    for datagram in pieces(message):
                        self._sock.send(datagram)
                return True
            except BlockingIOError:
                return False
            except OSError:
                self.alive = False
                return False

    def send_waiting(self, message: bytes, deadline: float) -> bool:
        """Send a control message, waiting for room until ``deadline``."""
        for datagram in pieces(message):
            while True:
                with self._lock:
                    try:
                        self._sock.send(datagram)
                        break
                    except BlockingIOError:
                        pass
                    except OSError:
                        self.alive = False
                        return False
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([], [self._sock], [], left)[1]:
                    return False
        return True

    def request(self, payload: Any, timeout: float) -> Any:
        """Send a flush request and wait for its answer: (done, the process's stats)."""
        deadline = time.monotonic() + timeout
        with self._request:
            self._seq += 1
            seq = self._seq
            if not self.send_waiting(encode(FLUSH, (seq, payload)), deadline):
                raise LinkError("flush not sent")
            whole = Reassembler()
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self._sock], [], [], left)[0]:
                    raise LinkError("no answer from the analysis process")
                try:
                    data = self._sock.recv(FRAGMENT + 16)
                except BlockingIOError:
                    continue
                if not data:
                    self.alive = False
                    raise LinkError("the analysis process is gone")
                message = whole.feed(data)
                if message is None:
                    continue
                kind, body = decode(message)
                if kind == ACK and body[0] == seq:
                    return body[1:]

    def close(self, timeout: float) -> None:
        """Close the socket (the process flushes, writes its state and exits) and wait."""
        self.alive = False
        with self._lock:
            self._sock.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def forget(self) -> None:
        """In a forked child of the host: drop the inherited socket, leave the process alone."""
        self.alive = False
        self._sock.close()
