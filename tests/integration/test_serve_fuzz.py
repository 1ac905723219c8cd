"""10,000+ generated malformed payloads against a real serve process.

Truncated and bit-flipped protobuf, wrong wire types, wrong JSON types, huge attribute values,
deep nesting, invalid UTF-8, gzip lies: every request gets an OTLP answer (never a crash or
a 500), the process stays up, its peak memory stays under the limit, and it still counts a
valid request correctly afterwards.
"""

from __future__ import annotations

import gzip
import http.client
import json
import random
import threading
import time
from collections import Counter

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValueList

from tests.support.serve import (
    PROTOBUF,
    ServerProcess,
    answer_text,
    get,
    kv,
    post,
    rag_trace,
    request_of,
    value,
    wait_for,
)

PAYLOADS = 10_400
MAX_BODY = 4 * 1024 * 1024
RSS_LIMIT_MB = 300     # bound for --max-body-bytes 4 MiB (docs/serve.md: bounded memory)
ALLOWED = {200, 400, 413, 415, 429, 503}


def valid(rng: random.Random, traces: int = 3, answer: str | None = None) -> bytes:
    spans = [s for _ in range(traces)
             for s in rag_trace(rng, answer or answer_text(rng))]
    return request_of({("fuzz", "v1"): spans}).SerializeToString()


def nested_value(depth: int) -> AnyValue:
    v = AnyValue(string_value="leaf")
    for i in range(depth):
        v = AnyValue(kvlist_value=KeyValueList(values=[kv(f"k{i}", "x")])) if i % 2 else v
        outer = AnyValue()
        outer.kvlist_value.values.add(key=f"n{i}").value.CopyFrom(v)
        v = outer
    return v


def deep(rng: random.Random) -> bytes:
    spans = rag_trace(rng, "deep")
    spans[1].attributes.add(key="gen_ai.output.messages").value.CopyFrom(
        nested_value(rng.randrange(5, 120)))
    return request_of({("fuzz", "v1"): spans}).SerializeToString()


def huge(rng: random.Random) -> bytes:
    size = rng.choice((100_000, 1_000_000, 3_000_000, 5_000_000))
    spans = rag_trace(rng, "x" * size)
    spans[0].attributes.append(kv("retrieval.documents.0.document.metadata", "{" * 50_000))
    return request_of({("fuzz", "v1"): spans}).SerializeToString()


def invalid_utf8(rng: random.Random) -> bytes:
    marker = "MARKERMARKER"
    body = valid(rng, 1, answer=f"answer {marker}")
    at = body.index(marker.encode())
    return body[:at] + b"\xff\xfe\xc3\x28" + body[at + 4:]


def wrong_wire_type(rng: random.Random) -> bytes:
    # field 1 (resource_spans, length-delimited) sent as a varint, or garbage inside a span
    choices = [b"\x08\x96\x01", b"\x0a\x05\x08\x01\x10\xff\x01",
               b"\x0a\x03\x12\x01\x0d", bytes([0x0a, 0x02, 0x1a, 0x7f])]
    return rng.choice(choices) + rng.randbytes(rng.randrange(0, 20))


def json_wrong_types(rng: random.Random) -> bytes:
    span = {"traceId": rng.randbytes(16).hex(), "spanId": rng.randbytes(8).hex(),
            "name": "chat", "attributes": [{"key": "gen_ai.operation.name",
                                            "value": {"stringValue": "chat"}}]}
    mutations = [
        lambda s: s.update(attributes="not a list"),
        lambda s: s.update(endTimeUnixNano={"a": 1}),
        lambda s: s.update(kind="NOT_A_KIND"),
        lambda s: s["attributes"].append({"key": 5, "value": {"intValue": "x"}}),
        lambda s: s["attributes"].append({"key": "k", "value": {"doubleValue": "NaNx"}}),
        lambda s: s.update(spanId=12345),
        lambda s: s.update(traceId="zz" * 16),
        lambda s: s["attributes"].append({"key": "gen_ai.usage.output_tokens",
                                          "value": {"stringValue": "-7"}}),
    ]
    rng.choice(mutations)(span)
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    if rng.random() < 0.2:
        doc = {"resourceSpans": {"oops": doc}}
    return json.dumps(doc).encode()


def generate(rng: random.Random) -> list[tuple[str, bytes, dict]]:
    out: list[tuple[str, bytes, dict]] = []
    base = [valid(rng) for _ in range(50)]
    while len(out) < PAYLOADS:
        r = rng.random()
        b = rng.choice(base)
        if r < 0.35:
            out.append((PROTOBUF, b[: rng.randrange(1, len(b))], {}))          # truncated
        elif r < 0.55:
            m = bytearray(b)
            for _ in range(rng.randrange(1, 8)):
                m[rng.randrange(len(m))] = rng.randrange(256)                  # flipped bytes
            out.append((PROTOBUF, bytes(m), {}))
        elif r < 0.65:
            out.append((PROTOBUF, wrong_wire_type(rng), {}))
        elif r < 0.77:
            out.append(("application/json", json_wrong_types(rng), {}))
        elif r < 0.84:
            out.append((PROTOBUF, invalid_utf8(rng), {}))
        elif r < 0.90:
            out.append((PROTOBUF, deep(rng), {}))
        elif r < 0.94:
            out.append(("application/json", b"[" * rng.randrange(10, 5000), {}))
        elif r < 0.97:
            out.append((PROTOBUF, rng.randbytes(rng.randrange(0, 3000)),
                        {"Content-Encoding": "gzip"}))                        # gzip lie
        elif r < 0.985:
            out.append((PROTOBUF, gzip.compress(b"\x0a" * rng.randrange(1, 10) +
                                                rng.randbytes(100)),
                        {"Content-Encoding": "gzip"}))
        else:
            out.append((PROTOBUF, huge(rng), {}))
    return out


def run_clients(port: int, work: list, clients: int = 4) -> Counter:
    codes: Counter = Counter()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def client(items):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            for ctype, body, headers in items:
                conn.request("POST", "/v1/traces", body, {"Content-Type": ctype, **headers})
                resp = conn.getresponse()
                resp.read()
                with lock:
                    codes[resp.status] += 1
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        except BaseException as exc:
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(work[i::clients],)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors[:3]
    return codes


def test_malformed_payloads_never_crash_and_memory_stays_bounded(tmp_path):
    rng = random.Random(2024)
    t0 = time.perf_counter()
    work = generate(rng)
    t1 = time.perf_counter()
    with ServerProcess(tmp_path, "--max-body-bytes", str(MAX_BODY)) as server:
        codes = run_clients(server.info["otlp_http"], work)
        print(f"generate {t1 - t0:.1f}s, send {time.perf_counter() - t1:.1f}s")
        assert sum(codes.values()) == PAYLOADS
        assert set(codes) <= ALLOWED, codes
        assert codes[400] > 5000 and codes[413] > 0 and codes[200] > 0
        assert server.proc.poll() is None
        assert get(f"http://127.0.0.1:{server.info['otlp_http']}/healthz") == b"ok\n"
        def settled() -> bool:  # held traces (no root span yet) are counted after the hold
            metrics = server.metrics()
            return value(metrics, "collapse_serve_queued_answers") == 0 and \
                value(metrics, "collapse_serve_held_traces") == 0

        wait_for(settled, 60, "the fuzz's valid requests analysed and no trace held")
        before = value(server.metrics(), "collapse_answers_total")
        assert post(server.url, valid(random.Random(99), 4))[0] == 200
        wait_for(lambda: value(server.metrics(), "collapse_answers_total") == before + 4, 60,
                 "a valid request after the fuzz counted")
        peak_mb = server.rss_peak_kb() / 1024
        assert peak_mb < RSS_LIMIT_MB, f"peak RSS {peak_mb:.0f} MB"
        print(f"fuzz: {dict(codes)}, peak RSS {peak_mb:.0f} MB")
