"""OTLP/HTTP and OTLP/gRPC behaviour of ``collapse-otel serve`` with real clients.

The OTel SDK's own OTLP exporters send real spans of every convention; the same spans go
through an in-process CollapseSpanProcessor, and both must give the same records (one code
path). Raw requests check every response the OTLP specification asks for.
"""

from __future__ import annotations

import gzip
import json
import random
import threading
from collections import Counter

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

from collapse_otel.capture.span_processor import CollapseSpanProcessor
from tests.support.capture import make_pipeline
from tests.support.promtool_metrics import promtool_problems
from tests.support.requires import require_module
from tests.support.serve import (
    PROTOBUF,
    get,
    post,
    rag_trace,
    request_of,
    value,
    wait_for,
)
from tests.support.serve_service import TOKEN, body_of, start


@pytest.fixture
def served():
    svc, agg = start()
    yield svc, agg, f"http://127.0.0.1:{svc.ports['otlp_http']}"
    svc.stop()


# -- every convention, through the SDK's exporters, equals the in-process processor ---------

def emit_conventions(tracer) -> None:
    """One trace per convention, attributes as the real instrumentations set them."""
    msgs = json.dumps([{"role": "assistant", "parts": [{"type": "text",
                                                        "content": "OTel GenAI answer."}]}])
    with tracer.start_as_current_span("invoke_agent"):
        with tracer.start_as_current_span("retrieval") as s:
            s.set_attribute("gen_ai.operation.name", "retrieval")
            s.set_attribute("gen_ai.retrieval.documents", json.dumps([{"id": "g1", "score": .9}]))
        with tracer.start_as_current_span("chat gpt") as s:
            s.set_attributes({"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 31,
                              "gen_ai.usage.output_tokens": 4, "gen_ai.output.messages": msgs,
                              "gen_ai.response.model": "gpt-x"})
    with tracer.start_as_current_span("RunnableSequence"):    # OpenInference
        with tracer.start_as_current_span("retriever") as s:
            s.set_attributes({"openinference.span.kind": "RETRIEVER",
                              "retrieval.documents.0.document.content": "text one",
                              "retrieval.documents.0.document.metadata": '{"source": "s1"}',
                              "retrieval.documents.1.document.id": "oi-2"})
        with tracer.start_as_current_span("ChatModel") as s:
            s.set_attributes({"openinference.span.kind": "LLM",
                              "llm.output_messages.0.message.role": "assistant",
                              "llm.output_messages.0.message.content": "OpenInference answer.",
                              "llm.token_count.prompt": 12, "llm.token_count.completion": 3,
                              "metadata": '{"release": "oi-release", "cohort": "beta"}'})
    with tracer.start_as_current_span("workflow"), \
            tracer.start_as_current_span("openai.chat") as s:      # OpenLLMetry (traceloop)
        s.set_attributes({"llm.request.type": "chat", "gen_ai.usage.prompt_tokens": 8,
                          "gen_ai.usage.completion_tokens": 5,
                          "gen_ai.completion.0.content": "OpenLLMetry answer.",
                          "traceloop.association.properties.release": "tl-release"})
    with tracer.start_as_current_span("agent"), \
            tracer.start_as_current_span("llm") as s:              # traceAI (Future AGI)
        s.set_attributes({"fi.span.kind": "LLM", "llm.token_count.prompt": 9,
                          "llm.output_messages.0.message.content": "traceAI answer, "
                          "no completion count so it is estimated."})


def summary(records):
    return sorted((r.answer, r.prompt_tokens, r.completion_tokens, r.context_ids, r.model,
                   r.service, r.release, r.cohort, r.tokens_estimated) for r in records)


@pytest.mark.parametrize("batch", [False, True], ids=["simple", "batch-gzip"])
def test_sdk_http_exporter_every_convention_matches_span_processor(served, batch):
    svc, agg, base = served
    local_p, local_agg = make_pipeline()
    tp = TracerProvider(resource=Resource.create({"service.name": "agent",
                                                  "service.version": "7.1"}))
    exporter = OTLPSpanExporter(endpoint=f"{base}/v1/traces",
                                compression=Compression.Gzip if batch else None)
    tp.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    proc = CollapseSpanProcessor(pipeline=local_p)
    tp.add_span_processor(proc)
    emit_conventions(tp.get_tracer("test"))
    tp.force_flush()
    assert proc.force_flush(5000)
    assert svc.receiver.drain(10)
    tp.shutdown()
    assert len(agg.records) == 4
    assert summary(agg.records) == summary(local_agg.records)
    by_answer = {r.answer.split()[0]: r for r in agg.records}
    assert by_answer["OTel"].context_ids == ("g1",)
    assert set(by_answer["OpenInference"].context_ids) == {"s1", "oi-2"}
    assert by_answer["OpenInference"].release == "oi-release"
    assert by_answer["OpenLLMetry"].release == "tl-release"
    assert by_answer["traceAI"].tokens_estimated and by_answer["OTel"].release == "7.1"
    text = get(f"{base}/metrics").decode()
    assert value(text, "collapse_answers_total") == 4
    assert value(text, "collapse_serve_answer_spans_accepted_total") == 4


def test_sdk_grpc_exporter_spans_are_counted():
    require_module("grpc")
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter as GrpcExporter,
    )
    svc, agg = start(otlp_grpc_port=0, token=TOKEN)
    try:
        tp = TracerProvider(resource=Resource.create({"service.name": "go-agent",
                                                      "service.version": "3"}))
        good = GrpcExporter(endpoint=f"127.0.0.1:{svc.ports['otlp_grpc']}", insecure=True,
                            headers={"authorization": f"Bearer {TOKEN}"})
        tp.add_span_processor(SimpleSpanProcessor(good))
        emit_conventions(tp.get_tracer("grpc"))
        tp.shutdown()
        assert svc.receiver.drain(10)
        assert len(agg.records) == 4
        assert {r.service for r in agg.records} == {"go-agent"}
        bad = GrpcExporter(endpoint=f"127.0.0.1:{svc.ports['otlp_grpc']}", insecure=True,
                           timeout=2)
        tp2 = TracerProvider()
        tp2.add_span_processor(SimpleSpanProcessor(bad))
        emit_conventions(tp2.get_tracer("grpc"))
        tp2.shutdown()
        assert svc.receiver.drain(10)
        assert len(agg.records) == 4            # no token: nothing counted
        assert svc.receiver.stats.requests.get(("grpc", "UNAUTHENTICATED"), 0) >= 1
    finally:
        svc.stop()


# -- raw requests: every response the specification asks for ------------------------------

def test_protobuf_and_json_bodies_and_partial_success(served):
    svc, agg, base = served
    code, headers, body = post(f"{base}/v1/traces", body_of(3))
    assert code == 200 and headers["Content-Type"] == PROTOBUF
    resp = ExportTraceServiceResponse.FromString(body)
    assert not resp.HasField("partial_success")
    trace, root, llm = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "eee19b7ec3c1b173"
    doc = {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "json-agent"}}]},
        "scopeSpans": [{"spans": [
            {"traceId": trace, "spanId": llm, "parentSpanId": root, "name": "chat",
             "kind": 3, "endTimeUnixNano": "1700000000000000000",
             "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "6"}},
                            {"key": "gen_ai.completion.0.content",
                             "value": {"stringValue": "JSON answer"}}]},
            {"traceId": trace, "spanId": root, "name": "root"},
            {"traceId": "", "spanId": "", "name": "no ids"}]}]}]}
    code, headers, body = post(f"{base}/v1/traces", json.dumps(doc).encode(), "application/json")
    assert code == 200 and headers["Content-Type"] == "application/json"
    reply = json.loads(body)
    assert reply["partialSuccess"]["rejectedSpans"] == "1"
    assert "invalid trace_id" in reply["partialSuccess"]["errorMessage"]
    assert svc.receiver.drain(10)
    assert Counter(r.service for r in agg.records) == {"svc": 3, "json-agent": 1}
    json_rec = next(r for r in agg.records if r.service == "json-agent")
    assert json_rec.answer == "JSON answer" and json_rec.completion_tokens == 6


@pytest.mark.parametrize("ctype,body,expected", [
    (PROTOBUF, b"\x0a\xff\xff\xff\xff\x0f", 400),          # truncated length-delimited field
    ("application/json", b'{"resourceSpans": [', 400),
    ("application/json", b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}',
     400),
    ("application/json", b"[" * 100_000 + b"]" * 100_000, 400),
    ("text/plain", b"hello", 415),
    ("application/x-www-form-urlencoded", b"a=b", 415),
])
def test_malformed_and_wrong_type(served, ctype, body, expected):
    _, _, base = served
    code, _, _ = post(f"{base}/v1/traces", body, ctype)
    assert code == expected
    assert get(f"{base}/healthz") == b"ok\n"


def test_body_limits_and_encodings():
    svc, agg = start(max_body_bytes=4096)
    base = f"http://127.0.0.1:{svc.ports['otlp_http']}"
    try:
        assert post(f"{base}/v1/traces", b"\0" * 5000)[0] == 413
        bomb = gzip.compress(b"\0" * 100_000)
        assert len(bomb) < 4096
        assert post(f"{base}/v1/traces", bomb, headers={"Content-Encoding": "gzip"})[0] == 413
        assert post(f"{base}/v1/traces", b"\x1f\x8b\x08junk",
                    headers={"Content-Encoding": "gzip"})[0] == 400
        assert post(f"{base}/v1/traces", body_of(1),
                    headers={"Content-Encoding": "br"})[0] == 415
        assert post(f"{base}/v1/traces", gzip.compress(body_of(1)),
                    headers={"Content-Encoding": "gzip"})[0] == 200
        assert svc.receiver.drain(10) and len(agg.records) == 1
    finally:
        svc.stop()


def test_bearer_token_required_when_set():
    svc, agg = start(token=TOKEN)
    base = f"http://127.0.0.1:{svc.ports['otlp_http']}"
    try:
        code, headers, _ = post(f"{base}/v1/traces", body_of(1))
        assert code == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        assert post(f"{base}/v1/traces", body_of(1),
                    headers={"Authorization": "Bearer wrong"})[0] == 401
        assert post(f"{base}/v1/traces", body_of(1),
                    headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
        assert get(f"{base}/healthz") == b"ok\n"           # probes need no token
        with pytest.raises(Exception, match="401"):
            get(f"{base}/metrics")
        assert get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert svc.receiver.drain(10) and len(agg.records) == 1
    finally:
        svc.stop()


def test_full_queue_answers_429_with_retry_after_and_counts_nothing():
    svc, agg = start(max_queued_answers=2, retry_after_seconds=3)
    base = f"http://127.0.0.1:{svc.ports['otlp_http']}"
    gate = threading.Event()
    try:
        svc.receiver.pipeline.submit_deferred(lambda: (gate.wait(20), [])[1])  # worker busy
        assert post(f"{base}/v1/traces", body_of(2, seed=1))[0] == 200        # fills the queue
        code, headers, body = post(f"{base}/v1/traces", body_of(2, seed=2))
        assert code == 429 and headers["Retry-After"] == "3"
        gate.set()
        assert svc.receiver.drain(10)
        assert len(agg.records) == 2                   # the refused request counted nothing
        assert post(f"{base}/v1/traces", body_of(2, seed=2))[0] == 200         # the retry
        assert svc.receiver.drain(10) and len(agg.records) == 4
        assert svc.receiver.stats.spans["refused"] == 8
    finally:
        gate.set()
        svc.stop()


def test_not_ready_and_stopping_answer_503(served):
    svc, _, base = served
    svc.receiver.ready = False
    code, headers, _ = post(f"{base}/v1/traces", body_of(1))
    assert code == 503 and int(headers["Retry-After"]) >= 1
    with pytest.raises(Exception, match="503"):
        get(f"{base}/readyz")
    svc.receiver.ready = True
    assert get(f"{base}/readyz") == b"ready\n"


def test_answers_wait_for_their_root_across_requests(served):
    """Spans of one trace split over requests: the answer still gets the retrieval's ids."""
    svc, agg, base = served
    rng = random.Random(5)
    spans = rag_trace(rng, "split answer text", doc="doc-split")
    for span in spans:     # retriever, chat, plain, root: one request each
        assert post(f"{base}/v1/traces",
                    request_of({("svc", "r1"): [span]}).SerializeToString())[0] == 200
    assert svc.receiver.drain(10)
    assert [r.context_ids for r in agg.records] == [("doc-split",)]
    assert svc.receiver.assembler.held_traces == 0


def test_answer_without_its_root_is_counted_after_hold_seconds():
    svc, agg = start(hold_seconds=0.2)
    base = f"http://127.0.0.1:{svc.ports['otlp_http']}"
    try:
        spans = rag_trace(random.Random(8), "orphan answer", doc="doc-orphan")[:2]   # no root
        assert post(f"{base}/v1/traces",
                    request_of({("svc", "r1"): spans}).SerializeToString())[0] == 200
        assert svc.receiver.pipeline.flush(5) and agg.records == []         # still waiting
        wait_for(lambda: svc.receiver.pipeline.flush(5) and agg.records, 10, "expiry")
        assert [r.context_ids for r in agg.records] == [("doc-orphan",)]
    finally:
        svc.stop()


def test_grpc_full_queue_is_unavailable_with_retry_info():
    grpc = require_module("grpc")
    from google.rpc.error_details_pb2 import RetryInfo
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as pb_grpc

    svc, agg = start(otlp_grpc_port=0, max_queued_answers=2, retry_after_seconds=2)
    gate = threading.Event()
    try:
        svc.receiver.pipeline.submit_deferred(lambda: (gate.wait(20), [])[1])
        with grpc.insecure_channel(f"127.0.0.1:{svc.ports['otlp_grpc']}") as channel:
            stub = pb_grpc.TraceServiceStub(channel)
            request = request_of({("svc", "r1"): [s for seed in (1, 2) for s in rag_trace(
                random.Random(seed), "grpc answer")]})
            stub.Export(request, timeout=5)                       # fills the queue
            with pytest.raises(grpc.RpcError) as err:
                stub.Export(request, timeout=5)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            info = dict(err.value.trailing_metadata())["google.rpc.retryinfo-bin"]
            assert RetryInfo.FromString(info).retry_delay.seconds == 2
            raw = channel.unary_unary(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export")
            with pytest.raises(grpc.RpcError) as err:
                raw(b"\x0a\x05\x0a\xff", timeout=5)             # truncated protobuf
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        gate.set()
        assert svc.receiver.drain(10) and len(agg.records) == 2
    finally:
        gate.set()
        svc.stop()


def test_serve_exposition_passes_promtool(served):
    svc, _, base = served
    assert post(f"{base}/v1/traces", body_of(4))[0] == 200
    assert svc.receiver.drain(10)
    problems = promtool_problems(get(f"{base}/metrics"))
    assert problems == []


def test_chunked_body_and_protobuf_alias(served):
    import http.client

    svc, agg, base = served
    conn = http.client.HTTPConnection("127.0.0.1", svc.ports["otlp_http"], timeout=10)
    body = body_of(2, seed=3)
    chunks = (body[i:i + 100] for i in range(0, len(body), 100))
    conn.request("POST", "/v1/traces", chunks, {"Content-Type": "application/protobuf"},
                 encode_chunked=True)
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Type") == "application/protobuf"
    resp.read()
    conn.close()
    assert svc.receiver.drain(10) and len(agg.records) == 2
