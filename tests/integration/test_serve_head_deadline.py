"""Slow request heads: a client that sends a header byte now and then used to hold a thread
and a socket for ever (the socket timeout is per read); the head now has one deadline."""

from __future__ import annotations

import random
import select
import socket

from tests.support.serve import ServerProcess, post, rag_trace, request_of, wait_for


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if readable and not sock.recv(1):
            return True
        sock.send(b"x")           # one more header byte: the drip goes on
    except OSError:
        return True
    return False


def test_slow_heads_are_closed_at_the_header_deadline_and_others_are_served(tmp_path):
    config = tmp_path / "serve.yaml"
    config.write_text("header_timeout_seconds: 1\n")
    with ServerProcess(tmp_path, "--config", str(config)) as server:
        port = server.info["otlp_http"]
        slow = []
        for _ in range(100):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            slow.append(sock)
        held = set(slow)

        def all_closed() -> bool:
            held.difference_update([s for s in list(held) if _closed_by_server(s)])
            return not held

        wait_for(all_closed, 60, "every slow head closed")
        for sock in slow:
            sock.close()
        rng = random.Random(1)
        body = request_of({("agent", "v1"): rag_trace(rng, "an answer")}).SerializeToString()
        assert post(server.url, body)[0] == 200         # a client that sends its head is served
