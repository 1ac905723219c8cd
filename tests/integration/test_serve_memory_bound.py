"""serve charges what it holds, not what came over the wire: tiny attributes take 8x their
wire size as Python dicts and strings (and 7x as the parsed message), so a bound on wire bytes
let a 32 MiB bound reach 334 MiB over the process baseline under an attribute bomb."""

from __future__ import annotations

import random
import re
import threading
import time
import tracemalloc
from pathlib import Path

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collapse_otel.serve.decode import batch_of, parse_protobuf
from tests.support.serve import (
    ServerProcess,
    answer_text,
    kv,
    post,
    rag_trace,
    request_of,
    value,
    wait_for,
)

BOUND = 32 << 20


def bomb(seed: int, size: int) -> bytes:
    """LLM spans of 2,047 tiny attributes each (one span is its own root)."""
    rng = random.Random(seed)
    spans, total = [], 0
    while total < size:
        attrs = [kv("gen_ai.operation.name", "chat")] + [
            KeyValue(key=f"k{i}", value=AnyValue(string_value=str(i))) for i in range(2047)]
        span = Span(trace_id=rng.randbytes(16), span_id=rng.randbytes(8), name="chat",
                    end_time_unix_nano=1, attributes=attrs)
        spans.append(span)
        total += span.ByteSize()
    return request_of({("bomb", "v1"): spans}).SerializeToString()


def test_the_decoded_cost_is_what_python_allocates():
    """The estimate against tracemalloc (the oracle), for a bomb and for ordinary traffic."""
    rng = random.Random(3)
    ordinary = request_of({("a", "v1"): [s for _ in range(200)
                                         for s in rag_trace(rng, answer_text(rng, 200))]})
    for body in (bomb(1, 1 << 20), ordinary.SerializeToString()):
        req = parse_protobuf(body)
        tracemalloc.start()
        try:
            batch = batch_of(req)
            allocated = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        estimated = sum(i.cost for i in batch.items)
        assert 0.8 * allocated <= estimated <= 1.25 * allocated, (estimated, allocated)


def _status(pid: int, key: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{key}:\s+(\d+) kB", text).group(1)) * 1024


def test_rss_under_an_attribute_bomb_stays_within_twice_the_bound(tmp_path):
    config = tmp_path / "serve.yaml"
    config.write_text(f"max_queued_bytes: {BOUND}\nmax_body_bytes: {4 << 20}\n")
    with ServerProcess(tmp_path, "--config", str(config)) as server:
        rng = random.Random(0)
        warm = request_of({("a", "v1"): rag_trace(rng, answer_text(rng))}).SerializeToString()
        assert post(server.url, warm)[0] == 200
        wait_for(lambda: value(server.metrics(), "collapse_answers_total") == 1, 60, "warm-up")
        baseline = _status(server.proc.pid, "VmRSS")
        # bombs that fit the bound (taken) and bombs too large for it (refused)
        bodies = [bomb(i, size) for i, size in enumerate((1 << 20, 3 << 20, (4 << 20) - 65536))]
        codes: dict[int, int] = {}
        lock = threading.Lock()
        peak_queued = [0.0]

        def client(i: int) -> None:
            for n in range(8):
                try:
                    code = post(server.url, bodies[(i + n) % 3], timeout=120)[0]
                except OSError:        # the server may close a body it refused (503)
                    code = 0
                with lock:
                    codes[code] = codes.get(code, 0) + 1

        threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            assert _status(server.proc.pid, "VmRSS") < 900 << 20     # a shared machine
            peak_queued[0] = max(peak_queued[0],
                                 value(server.metrics(), "collapse_serve_queued_bytes"))
            time.sleep(0.05)
        for t in threads:
            t.join()
        peak = _status(server.proc.pid, "VmHWM")
        print(f"\nbaseline {baseline >> 20} MiB, peak {peak >> 20} MiB, over the baseline "
              f"{(peak - baseline) >> 20} MiB (bound {BOUND >> 20} MiB), responses {codes}")
        assert peak - baseline <= 2 * BOUND
        assert peak_queued[0] <= BOUND
        assert codes.get(429, 0) >= 1                  # told to retry while others decode
        wait_for(lambda: value(server.metrics(), "collapse_serve_queued_bytes") == 0, 60,
                 "the queue drained")
        assert post(server.url, bodies[0])[0] == 200   # alone, a bomb that fits is taken
        wait_for(lambda: value(server.metrics(), "collapse_serve_queued_bytes") == 0, 60,
                 "the queue drained")
        assert post(server.url, bodies[2])[0] == 413   # one that can never fit is refused
