"""Request bodies: a body trickled a byte at a time holds no decode slot and is cut at a total
deadline (408, connection closed, counted) while normal clients are served; bodies being
received are bounded in bytes; framing that could be read two ways is refused."""

from __future__ import annotations

import http.client
import socket
import threading
import time

import pytest

from tests.support.serve import PROTOBUF, post
from tests.support.serve_service import body_of, start
from tests.support.waiting import wait_progressing

TRICKLERS = 6          # more than the decode slots
DEADLINE = 12.0        # body_timeout_seconds of the server under test
BYTE_EVERY = 0.5       # well inside any per-recv timeout: only a total deadline stops it


class Trickler(threading.Thread):
    """Declares a body, then sends it one byte every BYTE_EVERY seconds until cut off."""

    def __init__(self, port: int, chunked: bool) -> None:
        super().__init__(daemon=True)
        self.port, self.chunked = port, chunked
        self.sent = 0
        self.status: int | None = None     # the response, or None when the server closed
        self.ended_at = 0.0
        self.started = threading.Event()

    def run(self) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=DEADLINE + 20)
        framing = "Transfer-Encoding: chunked" if self.chunked else "Content-Length: 100000"
        sock.sendall(f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: {PROTOBUF}\r\n"
                     f"{framing}\r\n\r\n".encode())
        if self.chunked:
            sock.sendall(b"186a0\r\n")      # one chunk of 100,000 bytes, sent byte by byte
        self.started.set()
        try:
            while self.sent < 1000:
                sock.sendall(b"\n")
                self.sent += 1
                if _readable(sock, BYTE_EVERY):     # the server answered or closed
                    break
            head = sock.recv(200)
            self.status = int(head.split()[1]) if head.startswith(b"HTTP/1.1") else None
        except OSError:
            self.status = None
        finally:
            self.ended_at = time.monotonic()
            sock.close()


def _receiving(svc) -> int:
    """Bytes of request bodies the server's readers hold right now."""
    return next(s.app.receiving.used for s in svc._servers if getattr(s, "app", None))


def _readable(sock: socket.socket, timeout: float) -> bool:
    import select

    return bool(select.select([sock], [], [], timeout)[0])


def test_trickling_bodies_do_not_block_other_clients_and_are_cut_at_the_deadline():
    svc, agg = start(body_timeout_seconds=DEADLINE)
    port = svc.ports["otlp_http"]
    url = f"http://127.0.0.1:{port}/v1/traces"
    try:
        t0 = time.monotonic()
        tricklers = [Trickler(port, chunked=i % 2 == 1) for i in range(TRICKLERS)]
        for t in tricklers:
            t.start()
        for t in tricklers:
            assert t.started.wait(10)
        wait_progressing(lambda: _receiving(svc) >= TRICKLERS, "every trickler in its body",
                         progress=lambda: (_receiving(svc), [t.sent for t in tricklers]),
                         poll=0.02)
        served = []
        for seed in range(3):                  # normal clients, one after another
            sent = time.monotonic()
            code, _, _ = post(url, body_of(2, seed=seed), timeout=30)
            served.append((code, time.monotonic() - sent))
        elapsed = time.monotonic() - t0
        print(f"normal clients under the trickle: {served}")
        assert [code for code, _ in served] == [200, 200, 200]
        assert all(took < 10 for _, took in served), served
        assert all(t.is_alive() for t in tricklers), "the trickle must outlast the clients"
        assert elapsed < DEADLINE
        for t in tricklers:
            t.join(DEADLINE + 20)
            assert not t.is_alive()
        cut_after = [t.ended_at - t0 for t in tricklers]
        print(f"tricklers cut after {[round(c, 1) for c in cut_after]} s, "
              f"{[t.sent for t in tricklers]} bytes sent, statuses {[t.status for t in tricklers]}")
        assert all(t.status in (408, None) for t in tricklers)
        assert all(DEADLINE - 1 < c < DEADLINE + 8 for c in cut_after), cut_after
        assert svc.receiver.stats.requests.get(("http", "408"), 0) == TRICKLERS
        assert svc.receiver.drain(10) and len(agg.records) == 6
    finally:
        svc.stop()


def test_connection_is_reusable_after_a_body_within_the_deadline():
    svc, agg = start(body_timeout_seconds=5.0)
    conn = http.client.HTTPConnection("127.0.0.1", svc.ports["otlp_http"], timeout=10)
    try:
        for seed in range(3):
            conn.request("POST", "/v1/traces", body_of(1, seed=seed),
                         {"Content-Type": PROTOBUF})
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200
        assert svc.receiver.drain(10) and len(agg.records) == 3
    finally:
        conn.close()
        svc.stop()


def _raw(port: int, head: bytes, body: bytes = b"") -> bytes:
    """Send a hand-made request; return the status line and whether the server closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        data = b""
        while b"\r\n\r\n" not in data:
            part = sock.recv(4096)
            if not part:
                break
            data += part
        return data


@pytest.mark.parametrize("framing,status", [
    (b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"400"),
    (b"Content-Length: 5\r\nContent-Length: 6\r\n", b"400"),
    (b"Content-Length: +5\r\n", b"400"),
    (b"Content-Length: \xb2\r\n", b"400"),                     # str.isdigit() says yes
    (b"Transfer-Encoding: gzip\r\n", b"400"),
    (b"", b"400"),
])
def test_ambiguous_framing_is_refused_and_closed(framing, status):
    svc, _ = start()
    try:
        head = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: " + PROTOBUF.encode() + \
            b"\r\n" + framing + b"\r\n"
        reply = _raw(svc.ports["otlp_http"], head, b"hello")
        assert reply.split(b" ")[1] == status and b"Connection: close" in reply, reply
    finally:
        svc.stop()


@pytest.mark.parametrize("chunks,status", [
    (b"0x4\r\n\x0a\x00\x0a\x00\r\n0\r\n\r\n", b"400"),         # int(.., 16) would take it
    (b"4\r\n\x0a\x00\x0a\x00XX\r\n0\r\n\r\n", b"400"),         # data longer than its size
    (b"4;ext=1\r\n\x0a\x00\x0a\x00\r\n0\r\nTrailer: x\r\n\r\n", b"200"),
])
def test_chunked_framing(chunks, status):
    svc, _ = start()
    try:
        head = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: " + PROTOBUF.encode() + \
            b"\r\nTransfer-Encoding: chunked\r\n\r\n"
        assert _raw(svc.ports["otlp_http"], head, chunks).split(b" ")[1] == status
    finally:
        svc.stop()


def test_bytes_being_received_are_bounded():
    """A stalled half-sent body holds what it sent; another body that would go over the
    bound gets 503 + Retry-After, and is taken once the stalled one is cut off."""
    svc, agg = start(max_queued_bytes=64 * 1024, body_timeout_seconds=4.0)
    port = svc.ports["otlp_http"]
    url = f"http://127.0.0.1:{port}/v1/traces"
    try:
        stalled = socket.create_connection(("127.0.0.1", port), timeout=20)
        stalled.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: " +
                        PROTOBUF.encode() + b"\r\nContent-Length: 100000\r\n\r\n" +
                        b"\n" * 60_000)
        wait_progressing(lambda: _receiving(svc) == 60_000, "the stalled body received",
                         progress=lambda: _receiving(svc), poll=0.02)
        assert svc.receiver.stats.requests == {}
        code, headers, _ = post(url, body_of(8))
        assert code == 503 and headers["Retry-After"] == "1"
        assert stalled.recv(200).split(b" ")[1] == b"408"      # cut at the deadline
        stalled.close()
        assert post(url, body_of(8))[0] == 200
        assert svc.receiver.drain(10) and len(agg.records) == 8
    finally:
        svc.stop()
