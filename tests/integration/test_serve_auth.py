"""Bearer auth on both transports: the scheme is case-insensitive (RFC 7235) and more than one
credential is refused, never first-wins on one transport and last-wins on the other."""

from __future__ import annotations

import http.client
import random

import pytest

from collapse_otel.serve.auth import bearer_ok
from tests.support.requires import require_module
from tests.support.serve import PROTOBUF, rag_trace, request_of
from tests.support.serve_service import TOKEN, body_of, start


def test_bearer_ok_rules():
    assert bearer_ok([], None) and bearer_ok(["junk", "more"], None)   # no token: open
    for good in (f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER  {TOKEN} ", f"bEaReR\t{TOKEN}"):
        assert bearer_ok([good], TOKEN), good
    for bad in ([], [""], [TOKEN], [f"Basic {TOKEN}"], [f"Bearer{TOKEN}"], ["Bearer wrong"],
                [f"Bearer {TOKEN}x"], [f"Bearer {TOKEN}", f"Bearer {TOKEN}"],
                [f"Bearer {TOKEN}", "Bearer wrong"], ["Bearer wrong", f"Bearer {TOKEN}"]):
        assert not bearer_ok(bad, TOKEN), bad


def _post_raw(port: int, auth: list[str], path: str = "/v1/traces") -> int:
    """One request with exactly these Authorization header lines (duplicates included)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = body_of(1)
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", PROTOBUF)
        conn.putheader("Content-Length", str(len(body)))
        for value in auth:
            conn.putheader("Authorization", value)
        conn.endheaders(body)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def test_http_scheme_is_case_insensitive_and_duplicates_are_refused():
    svc, agg = start(token=TOKEN)
    port = svc.ports["otlp_http"]
    try:
        assert _post_raw(port, [f"bearer {TOKEN}"]) == 200
        assert _post_raw(port, [f"BEARER {TOKEN}"]) == 200
        assert _post_raw(port, [f"Bearer {TOKEN}", "Bearer wrong"]) == 401
        assert _post_raw(port, ["Bearer wrong", f"Bearer {TOKEN}"]) == 401
        assert _post_raw(port, [f"Bearer {TOKEN}", f"Bearer {TOKEN}"]) == 401
        assert svc.receiver.drain(10) and len(agg.records) == 2
        assert svc.receiver.stats.requests[("http", "401")] == 3
    finally:
        svc.stop()


def test_grpc_scheme_is_case_insensitive_and_duplicates_are_refused():
    grpc = require_module("grpc")
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as pb_grpc

    svc, agg = start(otlp_grpc_port=0, token=TOKEN)
    request = request_of({("svc", "r1"): rag_trace(random.Random(3), "grpc auth answer")})
    try:
        with grpc.insecure_channel(f"127.0.0.1:{svc.ports['otlp_grpc']}") as channel:
            stub = pb_grpc.TraceServiceStub(channel)
            stub.Export(request, timeout=5, metadata=(("authorization", f"bearer {TOKEN}"),))
            for metadata in ((("authorization", "Bearer wrong"),
                              ("authorization", f"Bearer {TOKEN}")),
                             (("authorization", f"Bearer {TOKEN}"),
                              ("authorization", "Bearer wrong"))):
                with pytest.raises(grpc.RpcError) as err:
                    stub.Export(request, timeout=5, metadata=metadata)
                assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert svc.receiver.drain(10) and len(agg.records) == 1
    finally:
        svc.stop()
