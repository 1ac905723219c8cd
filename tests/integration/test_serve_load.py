"""Bounded load on loopback: 200,000 spans from concurrent clients into a real serve process.

The queue is kept small so the server must push back. Every refused request must carry
Retry-After and is retried after it; in the end every answer span is counted exactly once
(per stream, not only in total) and nothing is lost.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections import Counter

from tests.support.serve import (
    PROTOBUF,
    ServerProcess,
    answer_text,
    by_stream,
    rag_trace,
    request_of,
    value,
    wait_for,
)

SPANS_PER_TRACE = 5          # retriever, chat, two plain spans, root
TRACES_PER_REQUEST = 80      # 400 spans per request
REQUESTS = 500               # 200,000 spans, 40,000 answers
CLIENTS = 8
RELEASES = ("r1", "r2", "r3", "r4")


def payloads(seed: int = 7) -> tuple[list[bytes], Counter]:
    rng = random.Random(seed)
    bodies, expected = [], Counter()
    for i in range(REQUESTS):
        by_resource: dict[tuple[str, str], list] = {}
        for t in range(TRACES_PER_REQUEST):
            release = RELEASES[(i + t) % len(RELEASES)]
            spans = rag_trace(rng, answer_text(rng, 24), doc=f"doc-{rng.randrange(500)}",
                              extra_spans=SPANS_PER_TRACE - 3)
            by_resource.setdefault(("load-agent", release), []).extend(spans)
            expected[("load-agent", release, "default")] += 1
        bodies.append(request_of(by_resource).SerializeToString())
    return bodies, expected


class Client(threading.Thread):
    def __init__(self, port: int, work: list[bytes]) -> None:
        super().__init__(daemon=True)
        self.port, self.work = port, work
        self.codes: Counter = Counter()
        self.missing_retry_after = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            for body in self.work:
                while True:
                    conn.request("POST", "/v1/traces", body, {"Content-Type": PROTOBUF})
                    resp = conn.getresponse()
                    resp.read()
                    self.codes[resp.status] += 1
                    if resp.status == 200:
                        break
                    if resp.status not in (429, 503):
                        raise AssertionError(f"unexpected status {resp.status}")
                    retry_after = resp.getheader("Retry-After")
                    if retry_after is None:
                        self.missing_retry_after += 1
                        retry_after = "1"
                    time.sleep(float(retry_after))
                    if resp.getheader("Connection", "").lower() == "close":
                        conn.close()
                        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            conn.close()
        except BaseException as exc:   # reported by the test
            self.error = exc


def test_200k_spans_concurrent_clients_counted_exactly_once(tmp_path):
    bodies, expected = payloads()
    assert REQUESTS * TRACES_PER_REQUEST * SPANS_PER_TRACE >= 200_000
    with ServerProcess(tmp_path, "--max-queued-answers", "1200") as server:
        port = server.info["otlp_http"]
        clients = [Client(port, bodies[i::CLIENTS]) for i in range(CLIENTS)]
        for c in clients:
            c.start()
        for c in clients:
            c.join(120)
        assert all(c.error is None for c in clients), [c.error for c in clients]
        codes = sum((c.codes for c in clients), Counter())
        assert codes[200] == REQUESTS
        assert codes[429] + codes[503] > 0, "the server never pushed back: test proves nothing"
        assert sum(c.missing_retry_after for c in clients) == 0
        total = sum(expected.values())
        wait_for(lambda: value(server.metrics(), "collapse_answers_total") >= total, 60,
                 "every answer analysed")
        text = server.metrics()
        assert by_stream(text, "collapse_answers_total") == dict(expected)
        assert value(text, "collapse_serve_answer_spans_accepted_total") == total
        assert value(text, "collapse_serve_spans_total", outcome="accepted") == \
            REQUESTS * TRACES_PER_REQUEST * SPANS_PER_TRACE
        assert value(text, "collapse_records_dropped_total") == 0
        assert value(text, "collapse_serve_queued_answers") == 0
