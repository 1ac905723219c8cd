"""CollapseSpanProcessor on hand-built SDK spans: one test per attribute spelling."""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from collapse_otel.capture.span_processor import CollapseSpanProcessor
from collapse_otel.spans.build import content_id
from collapse_otel.spans.conventions import LLM, RETRIEVER, classify, extract
from tests.support.capture import make_pipeline


@pytest.fixture
def setup():
    """(tracer, pipeline, aggregator, processor) on a provider with service.version=v3."""
    p, agg = make_pipeline()
    proc = CollapseSpanProcessor(pipeline=p)
    tp = TracerProvider(resource=Resource.create({"service.name": "shop", "service.version": "v3"}))
    tp.add_span_processor(proc)
    return tp.get_tracer("test"), p, agg, proc


def records(setup):
    _, p, agg, proc = setup
    assert proc.force_flush(5000)
    return agg.records


def llm_span(tracer, attrs, name="llm"):
    with tracer.start_as_current_span(name, attributes=attrs):
        pass


def test_otel_genai_current(setup):
    tracer = setup[0]
    with tracer.start_as_current_span("agent"):
        with tracer.start_as_current_span("retrieve", attributes={
                "gen_ai.operation.name": "retrieval",
                "gen_ai.retrieval.documents": json.dumps([{"id": "a", "score": 0.9}, {"id": "b"}])}):
            pass
        llm_span(tracer, {
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-x",
            "gen_ai.response.model": "gpt-x-0613",
            "gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 7,
            "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [
                {"type": "text", "content": "Hello"}, {"type": "tool_call", "name": "f"},
                {"type": "text", "content": "world"}]}])})
    (r,) = records(setup)
    assert (r.answer, r.prompt_tokens, r.completion_tokens) == ("Hello\nworld", 12, 7)
    assert r.context_ids == ("a", "b") and r.model == "gpt-x-0613"
    assert (r.service, r.release, r.cohort) == ("shop", "v3", "default")
    assert not r.tokens_estimated


def test_otel_genai_legacy_openllmetry(setup):
    llm_span(setup[0], {"llm.request.type": "chat", "gen_ai.request.model": "m1",
                        "gen_ai.usage.prompt_tokens": 30, "gen_ai.usage.completion_tokens": 4,
                        "gen_ai.completion.0.role": "assistant",
                        "gen_ai.completion.0.content": "legacy answer"})
    (r,) = records(setup)
    assert (r.answer, r.prompt_tokens, r.completion_tokens, r.model) == \
        ("legacy answer", 30, 4, "m1")


def test_openinference_llm_and_retriever_with_ids(setup):
    tracer = setup[0]
    with tracer.start_as_current_span("chain", attributes={"openinference.span.kind": "CHAIN"}):
        with tracer.start_as_current_span("retriever", attributes={
                "openinference.span.kind": "RETRIEVER",
                "retrieval.documents.0.document.id": "d0",
                "retrieval.documents.0.document.content": "zero",
                "retrieval.documents.1.document.id": "d1"}):
            pass
        llm_span(tracer, {"openinference.span.kind": "LLM", "llm.model_name": "llama",
                          "llm.token_count.prompt": 40, "llm.token_count.completion": 9,
                          "llm.output_messages.0.message.role": "assistant",
                          "llm.output_messages.0.message.content": "from openinference"})
    (r,) = records(setup)
    assert (r.answer, r.prompt_tokens, r.completion_tokens, r.model) == \
        ("from openinference", 40, 9, "llama")
    assert r.context_ids == ("d0", "d1")


def test_openinference_message_contents_and_retriever_without_ids(setup):
    tracer = setup[0]
    with tracer.start_as_current_span("chain"):
        with tracer.start_as_current_span("retriever", attributes={
                "openinference.span.kind": "RETRIEVER",
                # no .document.id: the LangChain serialisation in output.value has it
                "output.value": json.dumps({"documents": [{"id": "from-output"}, {}, {}]}),
                "retrieval.documents.0.document.content": "c0",
                "retrieval.documents.1.document.content": "c1",
                "retrieval.documents.1.document.metadata": json.dumps({"source": "s3://b/k"}),
                "retrieval.documents.2.document.content": "only content"}):
            pass
        llm_span(tracer, {"openinference.span.kind": "LLM",
                          "llm.output_messages.0.message.role": "assistant",
                          "llm.output_messages.0.message.contents.0.message_content.type": "text",
                          "llm.output_messages.0.message.contents.0.message_content.text": "part a",
                          "llm.output_messages.0.message.contents.1.message_content.text": "part b",
                          "llm.token_count.prompt": 5, "llm.token_count.completion": 2})
    (r,) = records(setup)
    assert r.answer == "part a\npart b"
    assert r.context_ids == ("from-output", "s3://b/k", content_id("only content"))


def test_output_value_text(setup):
    llm_span(setup[0], {"openinference.span.kind": "LLM", "output.value": "plain output",
                        "llm.token_count.prompt": 1, "llm.token_count.completion": 2})
    (r,) = records(setup)
    assert r.answer == "plain output"


def test_openllmetry_chat_and_vector_db_retrieve(setup):
    tracer = setup[0]
    docs = {"documents": [{"page_content": "x", "metadata": {"id": "m1"}},
                          {"page_content": "y", "metadata": {"source": "wiki/y"}}], "count": 2}
    with tracer.start_as_current_span("RunnableSequence.workflow",
                                      attributes={"traceloop.span.kind": "workflow"}):
        with tracer.start_as_current_span("R", attributes={
                "gen_ai.operation.name": "vector_db_retrieve",
                "traceloop.entity.output": json.dumps(docs)}):
            pass
        llm_span(tracer, {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 3,
                          "gen_ai.usage.output_tokens": 2,
                          "traceloop.association.properties.cohort": "beta",
                          "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [
                              {"type": "text", "content": "ok"}], "finish_reason": ""}])})
    (r,) = records(setup)
    assert r.answer == "ok" and r.context_ids == ("m1", "wiki/y") and r.cohort == "beta"


def test_traceai_fi_span_kind(setup):
    tracer = setup[0]
    with tracer.start_as_current_span("root"):
        with tracer.start_as_current_span("r", attributes={
                "fi.span.kind": "RETRIEVER", "retrieval.documents.0.document.id": "t1"}):
            pass
        llm_span(tracer, {"fi.span.kind": "LLM", "gen_ai.usage.input_tokens": 8,
                          "gen_ai.usage.output_tokens": 3, "gen_ai.request.model": "fi-model",
                          "llm.output_messages.0.message.content": "traceai answer"})
    (r,) = records(setup)
    assert (r.answer, r.prompt_tokens, r.model, r.context_ids) == \
        ("traceai answer", 8, "fi-model", ("t1",))


def test_content_off_still_counts_answer_and_tokens(setup):
    llm_span(setup[0], {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 11,
                        "gen_ai.usage.output_tokens": 5})
    (r,) = records(setup)
    assert r.answer is None and (r.prompt_tokens, r.completion_tokens) == (11, 5)
    assert not r.tokens_estimated
    (stream,) = setup[2].snapshot().streams
    assert stream.answers_total == 1 and stream.answers_without_text_total == 1


def test_missing_usage_is_estimated_never_zero(setup):
    llm_span(setup[0], {"openinference.span.kind": "LLM",
                        "llm.input_messages.0.message.content": "x" * 40,
                        "llm.output_messages.0.message.content": "y" * 20})
    (r,) = records(setup)
    assert r.tokens_estimated and r.prompt_tokens == 10 and r.completion_tokens == 5


def test_release_and_cohort_precedence():
    p, agg = make_pipeline()
    res = Resource.create({"service.name": "svc", "service.version": "res-v"})
    tp = TracerProvider(resource=res)
    tp.add_span_processor(CollapseSpanProcessor(pipeline=p))
    explicit = TracerProvider(resource=res)
    explicit.add_span_processor(CollapseSpanProcessor(release="arg-v", cohort="arg-c",
                                                      service="arg-s", pipeline=p))
    base = {"gen_ai.operation.name": "chat", "gen_ai.usage.output_tokens": 1}
    llm_span(tp.get_tracer("t"), base)
    llm_span(tp.get_tracer("t"), {**base, "collapse.release": "attr-v", "collapse.cohort": "c"})
    llm_span(tp.get_tracer("t"), {**base, "openinference.span.kind": "LLM",
                                  "metadata": json.dumps({"release": "meta-v"})})
    llm_span(explicit.get_tracer("t"), {**base, "collapse.release": "attr-v"})
    bare = TracerProvider(resource=Resource.create({"langfuse.release": "lf-v"}))
    bare.add_span_processor(CollapseSpanProcessor(pipeline=p))
    llm_span(bare.get_tracer("t"), base)
    p.flush(5)
    got = [(r.service, r.release, r.cohort) for r in agg.records]
    assert got == [("svc", "res-v", "default"), ("svc", "attr-v", "c"), ("svc", "meta-v", "default"),
                   ("arg-s", "arg-v", "arg-c"), ("unknown_service", "lf-v", "default")]


def test_retriever_arriving_after_the_llm_span_is_joined_by_end_time(setup):
    tracer = setup[0]
    root = tracer.start_span("root")
    from opentelemetry import trace
    ctx = trace.set_span_in_context(root)
    llm = tracer.start_span("llm", context=ctx, start_time=150,
                            attributes={"gen_ai.operation.name": "chat",
                                        "gen_ai.usage.output_tokens": 2})
    early = tracer.start_span("early-retriever", context=ctx, start_time=50, attributes={
        "gen_ai.operation.name": "retrieval", "gen_ai.retrieval.documents": '[{"id": "early"}]'})
    late = tracer.start_span("late-retriever", context=ctx, start_time=250, attributes={
        "gen_ai.operation.name": "retrieval", "gen_ai.retrieval.documents": '[{"id": "late"}]'})
    llm.end(end_time=200)            # arrives first
    early.end(end_time=100)          # arrives later but ended earlier
    late.end(end_time=300)
    setup[1].flush(5)
    assert setup[2].records == []    # held until the trace's root ends
    root.end(end_time=400)
    (r,) = records(setup)
    assert r.context_ids == ("early",)


def test_held_answers_are_released_by_flush_and_by_the_trace_cap():
    p, agg = make_pipeline()
    proc = CollapseSpanProcessor(pipeline=p, max_traces=2)
    tp = TracerProvider()
    tp.add_span_processor(proc)
    tracer = tp.get_tracer("t")
    roots = [tracer.start_span(f"root{i}") for i in range(5)]
    from opentelemetry import trace
    for i, root in enumerate(roots):
        llm_span_ctx = trace.set_span_in_context(root)
        tracer.start_span("llm", context=llm_span_ctx, attributes={
            "gen_ai.operation.name": "chat", "gen_ai.usage.output_tokens": i + 1}).end()
    p.flush(5)
    assert len(agg.records) == 3     # two traces still held, three evicted by the cap
    assert proc.force_flush(5000)
    assert sorted(r.completion_tokens for r in agg.records) == [1, 2, 3, 4, 5]
    assert proc._buffer.held == 0 and proc._open == set()


def test_non_genai_spans_are_ignored(setup):
    tracer = setup[0]
    with tracer.start_as_current_span("GET /", attributes={"http.method": "GET"}), \
            tracer.start_as_current_span("db", attributes={"db.system": "postgresql"}):
        pass
    assert records(setup) == []
    assert setup[1].stats().dropped == {}


def test_our_own_spans_are_not_counted_twice(setup):
    llm_span(setup[0], {"gen_ai.operation.name": "chat", "collapse.captured": True,
                        "gen_ai.usage.output_tokens": 4})
    assert records(setup) == []


@pytest.mark.parametrize("attrs", [
    {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": "12",
     "gen_ai.usage.output_tokens": 3.0, "gen_ai.output.messages": "{not json"},
    {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": -5,
     "gen_ai.usage.output_tokens": True, "gen_ai.output.messages": json.dumps({"x": 1})},
    {"gen_ai.operation.name": ("chat",), "llm.token_count.prompt": (1, 2),
     "llm.output_messages.0.message.content": 42, "openinference.span.kind": "LLM"},
    {"openinference.span.kind": 7, "gen_ai.output.messages": json.dumps(
        [{"parts": [{"type": "text", "content": ["not", "text"]}]}, "junk", None])},
])
def test_wrong_attribute_types_never_raise(setup, attrs):
    llm_span(setup[0], attrs)
    recs = records(setup)
    assert setup[1].stats().dropped == {}
    for r in recs:
        assert r.prompt_tokens is None or r.prompt_tokens >= 0
        assert r.answer is None or isinstance(r.answer, str)


def test_extract_is_a_pure_function_over_mappings():
    hostile = {"gen_ai.operation.name": "chat", "gen_ai.output.messages": b"\xff\xfe[]",
               "gen_ai.usage.input_tokens": b"7", "gen_ai.usage.output_tokens": float("nan"),
               "retrieval.documents.0.document.metadata": {"id": object()}}
    assert classify(hostile) == LLM
    facts = extract(hostile)
    assert facts.prompt_tokens == 7 and facts.completion_tokens is None and facts.answer is None
    assert classify({"retrieval.documents.0.document.content": b"\x80binary"}) == RETRIEVER
    ids = extract({"retrieval.documents.0.document.content": b"\x80binary"}).context_ids
    assert len(ids) == 1 and ids[0].startswith("h:")
    assert extract({"http.method": "GET"}) is None


def test_turn_facts_service_tool_calls_tags_and_chain_spans():
    from collapse_otel.spans.conventions import chain_output

    oi = extract({"openinference.span.kind": "LLM", "tag.tags": ["judge", "x"],
                  "metadata": json.dumps({"service": "helpdesk", "release": "3"}),
                  "llm.output_messages.0.message.role": "assistant",
                  "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "f"})
    assert (oi.service, oi.release, oi.tool_call, oi.tags) == ("helpdesk", "3", True, ("judge", "x"))
    genai = extract({"gen_ai.operation.name": "chat", "gen_ai.output.messages": json.dumps(
        [{"role": "assistant", "parts": [{"type": "tool_call", "name": "f"}]}])})
    assert genai.tool_call and genai.answer is None
    with_text = extract({"gen_ai.operation.name": "chat", "gen_ai.output.messages": json.dumps(
        [{"role": "assistant", "parts": [{"type": "text", "content": "hi"},
                                         {"type": "tool_call", "name": "f"}]}])})
    assert not with_text.tool_call and with_text.answer == "hi"
    assert chain_output({"openinference.span.kind": "CHAIN", "output.value": "out"}) == (1, "out")
    assert chain_output({"traceloop.span.kind": "workflow", "traceloop.entity.output": "o"}) == \
        (2, "o")
    assert chain_output({"traceloop.span.kind": "task"}) == (1, None)
    assert chain_output({"openinference.span.kind": "LLM", "output.value": "x"}) == (0, None)
    assert chain_output({"http.method": "GET"}) == (0, None)
