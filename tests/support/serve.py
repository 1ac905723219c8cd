"""Shared pieces for the serve tests: OTLP payloads, a real server process, /metrics parsing."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

PROTOBUF = "application/x-protobuf"
REPO = Path(__file__).resolve().parents[2]
_PHRASE = ("the river museum opens early and closes late while the guide explains old maps "
           "of harbours bridges castles forests islands and markets to curious visitors")
WORDS = tuple(_PHRASE.split())


def kv(key: str, value) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def answer_text(rng: random.Random, n: int = 30) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def rag_trace(rng: random.Random, answer: str, *, tokens=(40, 20), doc: str = "doc-1",
              extra_spans: int = 1) -> list[Span]:
    """root chain -> retriever (OpenInference) + chat (OTel GenAI) + ``extra_spans`` plain."""
    trace_id = rng.randbytes(16)
    root, retr, llm = (rng.randbytes(8) for _ in range(3))
    t = time.time_ns()
    spans = [
        Span(trace_id=trace_id, span_id=retr, parent_span_id=root, name="retrieve",
             start_time_unix_nano=t, end_time_unix_nano=t + 1000,
             attributes=[kv("openinference.span.kind", "RETRIEVER"),
                         kv("retrieval.documents.0.document.id", doc)]),
        Span(trace_id=trace_id, span_id=llm, parent_span_id=root, name="chat",
             start_time_unix_nano=t + 2000, end_time_unix_nano=t + 3000,
             attributes=[kv("gen_ai.operation.name", "chat"),
                         kv("gen_ai.usage.input_tokens", tokens[0]),
                         kv("gen_ai.usage.output_tokens", tokens[1]),
                         kv("gen_ai.output.messages", json.dumps(
                             [{"role": "assistant", "parts": [{"type": "text",
                                                               "content": answer}]}]))]),
    ]
    for _ in range(extra_spans):
        spans.append(Span(trace_id=trace_id, span_id=rng.randbytes(8), parent_span_id=root,
                          name="format", start_time_unix_nano=t, end_time_unix_nano=t + 500,
                          attributes=[kv("component", "prompt")]))
    spans.append(Span(trace_id=trace_id, span_id=root, name="chain", start_time_unix_nano=t,
                      end_time_unix_nano=t + 4000))
    return spans


def request_of(spans_by_resource: dict[tuple[str, str], list[Span]]) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    for (service, release), spans in spans_by_resource.items():
        rs = ResourceSpans()
        rs.resource.attributes.extend([kv("service.name", service),
                                       kv("service.version", release)])
        rs.scope_spans.append(ScopeSpans(spans=spans))
        req.resource_spans.append(rs)
    return req


def post(url: str, body: bytes, ctype: str = PROTOBUF, headers: dict | None = None,
         timeout: float = 30.0) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": ctype, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def get(url: str, timeout: float = 10.0, headers: dict | None = None) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                timeout=timeout) as r:
        return r.read()


_SAMPLE = re.compile(r'^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s+(\S+)$')


def samples(text: str) -> Iterator[tuple[str, dict[str, str], float]]:
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
            yield m.group(1), labels, float(m.group(4))


def by_stream(text: str, name: str, **match: str) -> dict[tuple[str, str, str], float]:
    out = {}
    for n, labels, value in samples(text):
        if n == name and all(labels.get(k) == v for k, v in match.items()):
            out[(labels.get("service"), labels.get("release"), labels.get("cohort"))] = value
    return out


def value(text: str, name: str, **match: str) -> float:
    return sum(v for n, labels, v in samples(text)
               if n == name and all(labels.get(k) == v2 for k, v2 in match.items()))


class ServerProcess:
    """``python -m collapse_otel.serve`` on 127.0.0.1 with free ports, as a real process."""

    def __init__(self, tmp: Path, *args: str, env: dict | None = None) -> None:
        self.port_file = tmp / f"ports-{time.monotonic_ns()}.json"
        self.args = ["--host", "127.0.0.1", "--otlp-http-port", "0", "--otlp-grpc-port", "-1",
                     "--metrics-port", "0", "--print-port-file", str(self.port_file), *args]
        self.env = {**os.environ, **(env or {})}
        self.proc = subprocess.Popen([sys.executable, "-m", "collapse_otel.serve", *self.args],
                                     cwd=REPO, env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not self.port_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start: {self.proc.stderr.read()}")
            time.sleep(0.05)
        self.info = json.loads(self.port_file.read_text())
        self.url = f"http://127.0.0.1:{self.info['otlp_http']}/v1/traces"
        self.metrics_url = f"http://127.0.0.1:{self.info['metrics']}/metrics"

    def metrics(self) -> str:
        return get(self.metrics_url).decode()

    def rss_peak_kb(self) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")
