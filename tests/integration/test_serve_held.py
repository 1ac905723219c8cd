"""Answers waiting for their trace's root are held within the memory bound: cut to
max_answer_chars before they are held, counted in the same byte bound as the queue, and
released early (counted, never lost) when the held share of that bound is full."""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from pathlib import Path

from collapse_otel.config import CollapseConfig
from collapse_otel.serve.service import Service
from collapse_otel.serve.settings import ServeSettings
from collapse_otel.text.token_estimate import estimate_tokens
from tests.support.capture import RecordingAggregator
from tests.support.serve import kv, post, request_of

MAX_QUEUED = 4 * 1024 * 1024
MAX_CHARS = 20_000
ANSWER_CHARS = 200_000        # ten times the cut: what a hostile or careless client sends
SPANS_PER_REQUEST = 4
CLIENTS, REQUESTS = 2, 20     # 160 answers, 32 MB of answer text, none with its root


def start() -> tuple[Service, RecordingAggregator]:
    cfg = CollapseConfig.resolve(environ={}, max_answer_chars=MAX_CHARS)
    agg = RecordingAggregator(cfg)
    settings = ServeSettings(otlp_http_port=0, otlp_grpc_port=-1, metrics_port=-1,
                             max_queued_bytes=MAX_QUEUED, max_body_bytes=1024 * 1024,
                             hold_seconds=300, retry_after_seconds=1)
    return Service(settings, cfg, aggregator=agg).start(), agg


def orphan_answers(rng: random.Random) -> bytes:
    """LLM spans whose parent (the trace root) never comes, each with a long answer."""
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    spans = []
    for _ in range(SPANS_PER_REQUEST):
        text = (rng.choice("abcdefgh") + " ") * (ANSWER_CHARS // 2)
        msgs = json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": text}]}])
        spans.append(Span(trace_id=rng.randbytes(16), span_id=rng.randbytes(8),
                          parent_span_id=rng.randbytes(8), name="chat",
                          end_time_unix_nano=time.time_ns(),
                          attributes=[kv("gen_ai.operation.name", "chat"),
                                      kv("gen_ai.output.messages", msgs)]))
    return request_of({("held", "v1"): spans}).SerializeToString()


def held_answers(svc: Service) -> list[str]:
    """The answer texts the buffer holds, read on the worker (the only thread touching it)."""
    out: list[list[str]] = []

    def walk():
        buffer = svc.receiver.assembler._buffer
        out.append([facts.answer for trace in buffer._traces.values()
                    for _, _, facts, _ in trace.pending])
        return []

    svc.receiver.pipeline.submit_deferred(walk)
    assert svc.receiver.pipeline.flush(30)
    return out[0]


def rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines()
                    if line.startswith("VmRSS"))) / 1024


def test_held_answers_stay_within_the_queued_bytes_bound():
    svc, agg = start()
    r = svc.receiver
    url = f"http://127.0.0.1:{svc.ports['otlp_http']}/v1/traces"
    peak = [0]
    stop = threading.Event()
    codes: list[int] = []
    rss_before = rss_mb()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], r.admitted_bytes())
            time.sleep(0.002)

    def client(seed: int):
        rng = random.Random(seed)
        for _ in range(REQUESTS):
            body = orphan_answers(rng)
            for _ in range(200):             # retry after 429 as an exporter does
                code = post(url, body)[0]
                codes.append(code)
                if code != 429:
                    break
                time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    clients = [threading.Thread(target=client, args=(seed,)) for seed in range(CLIENTS)]
    try:
        for t in clients:
            t.start()
        for t in clients:
            t.join(300)
        held = held_answers(svc)
        stop.set()
        sampler.join(5)
        held_size = sum(sys.getsizeof(a) for a in held)
        print(f"held {len(held)} answers, {held_size:,} bytes of text; exposed held bytes "
              f"{r.held_bytes:,}; peak held+queued {peak[0]:,} of {MAX_QUEUED:,}; "
              f"{codes.count(429)} x 429; {r.stats.held_evicted} traces released early; "
              f"RSS {rss_before:.0f} -> {rss_mb():.0f} MB")
        assert codes.count(200) == CLIENTS * REQUESTS
        assert held and max(map(len, held)) <= MAX_CHARS + 1      # cut before holding
        assert held_size <= r.held_bytes <= MAX_QUEUED // 2
        assert 0 < peak[0] <= MAX_QUEUED
        assert r.stats.held_evicted > 0      # the held share filled up: released early
        assert r.drain(60)                   # ... and nothing is lost
        assert len(agg.records) == CLIENTS * REQUESTS * SPANS_PER_REQUEST
        assert r.stats.answers_accepted == len(agg.records)
        assert all(len(rec.answer) == MAX_CHARS + 1 and rec.tokens_estimated and
                   rec.completion_tokens == estimate_tokens("x" * ANSWER_CHARS)
                   for rec in agg.records)  # tokens estimated from the whole answer
        assert r.held_bytes == 0 and r.admitted_bytes() == 0
    finally:
        stop.set()
        svc.stop()
