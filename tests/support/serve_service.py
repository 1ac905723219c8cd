"""An in-process serve Service on free ports whose aggregator keeps every record, and OTLP
request bodies to post to it (the serve tests share them)."""

from __future__ import annotations

import random

from collapse_otel.serve.service import Service
from collapse_otel.serve.settings import ServeSettings
from tests.support.capture import RecordingAggregator
from tests.support.serve import answer_text, rag_trace, request_of

TOKEN = "s3cret-token"


def start(tmp_path=None, **overrides) -> tuple[Service, RecordingAggregator]:
    """A started Service (OTLP/HTTP on a free port, no gRPC, no /metrics unless asked)."""
    from collapse_otel.config import CollapseConfig

    cfg = CollapseConfig.resolve(environ={})
    agg = RecordingAggregator(cfg)
    settings = ServeSettings(**{"otlp_http_port": 0, "otlp_grpc_port": -1, "metrics_port": -1,
                                **overrides})
    return Service(settings, cfg, aggregator=agg).start(), agg


def body_of(n_traces: int = 2, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    spans = [s for _ in range(n_traces) for s in rag_trace(rng, answer_text(rng))]
    return request_of({("svc", "r1"): spans}).SerializeToString()
