"""``collapse-otel serve`` throughput and latency, measured against a real server process.

The server runs pinned to one core with every signal on (the default Aggregator); the load
generator runs on another core and sends OTLP/HTTP protobuf requests of 500 spans (100 RAG
traces of 5 spans: root, retriever, chat, two plain spans), honouring 429 + Retry-After.

1. Sustained spans/s: send as fast as the server takes them until all answers are analysed.
2. p99 request latency at half that load: paced requests for a fixed time.
3. The write-ahead log's cost: both again with a state file, the log on (fsync before every
   200, the default) and off, in the same run (alternated, best of two each).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

TRACES_PER_REQUEST = 100
SPANS_PER_TRACE = 5
SPANS_PER_REQUEST = TRACES_PER_REQUEST * SPANS_PER_TRACE
_TEXT = ("the museum opens at nine and the harbour tour leaves from the old bridge every hour "
         "while guides explain maps castles rivers forests islands markets and bridges")
WORDS = _TEXT.split()


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def _trace(rng: random.Random) -> list[Span]:
    tid, root, t = rng.randbytes(16), rng.randbytes(8), time.time_ns()
    answer = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(20, 60)))
    msgs = json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": answer}]}])
    spans = [Span(trace_id=tid, span_id=rng.randbytes(8), parent_span_id=root, name="retrieve",
                  end_time_unix_nano=t + 1, attributes=[
                      _kv("openinference.span.kind", "RETRIEVER"),
                      _kv("retrieval.documents.0.document.id", f"doc-{rng.randrange(300)}"),
                      _kv("retrieval.documents.1.document.id", f"doc-{rng.randrange(300)}")]),
             Span(trace_id=tid, span_id=rng.randbytes(8), parent_span_id=root, name="chat",
                  end_time_unix_nano=t + 2, attributes=[
                      _kv("gen_ai.operation.name", "chat"), _kv("gen_ai.output.messages", msgs),
                      _kv("gen_ai.usage.input_tokens", rng.randrange(50, 900)),
                      _kv("gen_ai.usage.output_tokens", rng.randrange(20, 80)),
                      _kv("gen_ai.request.model", "gpt-bench")])]
    spans += [Span(trace_id=tid, span_id=rng.randbytes(8), parent_span_id=root, name="step",
                   end_time_unix_nano=t, attributes=[_kv("component", "prompt")])
              for _ in range(SPANS_PER_TRACE - 3)]
    spans.append(Span(trace_id=tid, span_id=root, name="chain", end_time_unix_nano=t + 3))
    return spans


def payloads(n: int, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        req = ExportTraceServiceRequest()
        rs = ResourceSpans()
        rs.resource.attributes.extend([_kv("service.name", "bench"),
                                       _kv("service.version", f"v{i % 3}")])
        rs.scope_spans.append(ScopeSpans(spans=[s for _ in range(TRACES_PER_REQUEST)
                                                for s in _trace(rng)]))
        req.resource_spans.append(rs)
        out.append(req.SerializeToString())
    return out


class _Server:
    def __init__(self, cpu: int | None, wal: str | None = None) -> None:
        """``wal``: None (no state file), "on" or "off" (a state file, the log on or off)."""
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
        port_file = self.tmp / "ports.json"
        pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
        state = [] if wal is None else ["--state-file", str(self.tmp / "state" / "collapse"),
                                        "--wal", wal]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "collapse_otel.serve", "--otlp-http-port", "0",
             "--otlp-grpc-port", "-1", "--metrics-port", "0", "--print-port-file",
             str(port_file), *state], preexec_fn=pin, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not port_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("serve did not start within 60 s")
            time.sleep(0.05)
        ports = json.loads(port_file.read_text())
        self.port, self.metrics_port = ports["otlp_http"], ports["metrics"]

    def answers(self) -> float:
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics").read()
        return sum(float(line.rsplit(b" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(b"collapse_answers_total{"))

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)
        shutil.rmtree(self.tmp, ignore_errors=True)    # the log and state hold answer text


def _send(conn: http.client.HTTPConnection, body: bytes) -> int:
    retries = 0
    while True:
        conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
        resp = conn.getresponse()
        resp.read()
        if resp.status == 200:
            return retries
        retries += 1
        time.sleep(float(resp.getheader("Retry-After") or 1))


def sustained(server: _Server, bodies: list[bytes], clients: int = 4) -> tuple[float, int]:
    """Spans/s from the first request until every answer is analysed; and retries seen."""
    retries = [0] * clients

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        for body in bodies[k::clients]:
            retries[k] += _send(conn, body)
        conn.close()

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    target = len(bodies) * TRACES_PER_REQUEST
    while server.answers() < target:
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    return len(bodies) * SPANS_PER_REQUEST / elapsed, sum(retries)


def paced_latency(server: _Server, bodies: list[bytes], spans_per_second: float,
                  seconds: float = 15.0) -> tuple[list[float], int]:
    """Request latencies (s, retries included) with requests started on a fixed schedule at
    the given load; and how many requests were told to retry."""
    interval = SPANS_PER_REQUEST / spans_per_second
    latencies: list[float] = []
    retried = [0]
    lock = threading.Lock()
    n = int(seconds / interval)
    start = time.perf_counter() + 0.2
    clients = 4

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        for i in range(k, n, clients):
            due = start + i * interval
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            t0 = time.perf_counter()
            retries = _send(conn, bodies[i % len(bodies)])
            with lock:
                latencies.append(time.perf_counter() - t0)
                retried[0] += retries > 0
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(latencies), retried[0]


def wal_append_cost(bodies: list[bytes]) -> dict[str, float]:
    """Seconds per request the write-ahead log adds on the request thread (append, and fsync
    as the policy says), one writer at a time: the log's own cost, whatever the analysis."""
    from collapse_otel.serve.wal import KIND_PROTOBUF, WriteAheadLog

    out = {}
    for policy in ("always", "interval", "off"):
        tmp = Path(tempfile.mkdtemp(prefix="bench-wal-"))
        try:
            wal = WriteAheadLog(tmp / "wal", policy)
            list(wal.replay())
            wal.start(1)
            start = time.perf_counter()
            for body in bodies:
                with wal.lock:
                    seq = wal.append(KIND_PROTOBUF, body)
                wal.sync(seq)
            out[policy] = (time.perf_counter() - start) / len(bodies)
            wal.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def run(requests: int = 300) -> list[dict]:
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    all_cpus = sorted(range(os.cpu_count() or 1))
    server_cpu = all_cpus[-1] if len(all_cpus) > 1 else None
    if server_cpu is not None and hasattr(os, "sched_setaffinity"):
        others = [c for c in all_cpus if c != server_cpu]
        os.sched_setaffinity(0, set(others))      # the load generator stays off the server core
    bodies = payloads(requests)
    paced = payloads(60, seed=1)
    wal: dict[str, tuple[float, float]] = {}
    wal_retries = {"on": 0, "off": 0}
    try:
        server = _Server(server_cpu)
        try:
            rate, retries = sustained(server, bodies)
            lat, lat_retried = paced_latency(server, paced, rate / 2)
        finally:
            server.close()
        # alternated, best of two each, so a neighbour's burst does not decide the difference;
        # the same paced load for both: half the rate above
        for mode in ("off", "on", "off", "on"):
            server = _Server(server_cpu, wal=mode)
            try:
                mode_rate, mode_retries = sustained(server, bodies)
                wal_retries[mode] += mode_retries
                mode_lat, _ = paced_latency(server, paced, rate / 2, seconds=8.0)
            finally:
                server.close()
            p99_mode = mode_lat[min(len(mode_lat) - 1, int(len(mode_lat) * 0.99))]
            best = wal.get(mode, (0.0, float("inf")))
            wal[mode] = (max(best[0], mode_rate), min(best[1], p99_mode))
    finally:
        if cpus and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, set(cpus))
    per_request = wal_append_cost(bodies)
    p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    note = (f"OTLP/HTTP protobuf, {SPANS_PER_REQUEST} spans/request, 1 answer per "
            f"{SPANS_PER_TRACE} spans, server pinned to cpu {server_cpu}")
    return [
        {"name": "serve: sustained spans/s, one core, all signals", "value": rate,
         "unit": "spans/s", "target": "report",
         "note": f"{note}; {rate / SPANS_PER_TRACE:,.0f} answers/s; {retries} 429 retries"},
        {"name": "serve: p99 request latency at half load", "value": p99 * 1000, "unit": "ms",
         "target": "report",
         "note": f"{len(lat)} requests at {rate / 2:,.0f} spans/s; p50 {p50 * 1000:.1f} ms; "
                 f"{lat_retried} told to retry (their wait counts)"},
        {"name": "serve: write-ahead log on (fsync always), sustained spans/s",
         "value": wal["on"][0], "unit": "spans/s", "target": "report",
         "note": f"state file, log off: {wal['off'][0]:,.0f} spans/s in the same run "
                 f"({wal['on'][0] / wal['off'][0] - 1:+.1%} with the log; best of 2 each; "
                 f"429 retries on {wal_retries['on']}, off {wal_retries['off']}: the fsync "
                 f"wait paces clients, each retry waits out Retry-After)"},
        {"name": "serve: write-ahead log on (fsync always), p99 at half load",
         "value": wal["on"][1] * 1000, "unit": "ms", "target": "report",
         "note": f"log off: {wal['off'][1] * 1000:.1f} ms at the same {rate / 2:,.0f} spans/s"},
        {"name": "serve: write-ahead log, time added per request (fsync always)",
         "value": per_request["always"] * 1000, "unit": "ms", "target": "report",
         "note": f"append + fsync of one {len(bodies[0]) / 1024:,.0f} KiB request, one writer; "
                 f"fsync interval {per_request['interval'] * 1000:.2f} ms, off "
                 f"{per_request['off'] * 1000:.2f} ms; the server's own time per request at "
                 f"the sustained rate: {SPANS_PER_REQUEST / rate * 1000:.1f} ms"},
    ]


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']}: {row['value']:,.1f} {row['unit']}  ({row['note']})")
