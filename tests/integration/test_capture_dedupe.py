"""Each answer is counted once whatever capture paths see it (the worker's ledger), while a
path repeating an answer (a real duplicate, a collapse signal) always counts.

The pairs with third-party LangChain instrumentations (instrument() plus a span processor on
OpenInference / OpenLLMetry spans) are in test_capture_instrumentors.py."""

from __future__ import annotations

import itertools
import json
import tracemalloc

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from opentelemetry.sdk.trace import TracerProvider

from collapse_otel.capture.langchain_handler import CollapseCallbackHandler
from collapse_otel.capture.observe import observe
from collapse_otel.capture.span_processor import CollapseSpanProcessor
from collapse_otel.records import OTHER_RELEASE, AnswerRecord, StreamKey
from collapse_otel.worker.ledger import MAX_KEYS, AnswerLedger
from tests.support.capture import (
    ANSWERS,
    USAGE,
    VaryingRetriever,
    make_pipeline,
    rag_chain,
    simple_chain,
)
from tests.support.requires import require_module

N = 50


def genai_span(tracer, text, tokens=(12, 7)):
    with tracer.start_as_current_span("chat", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": tokens[0],
            "gen_ai.usage.output_tokens": tokens[1],
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": text}]}])}):
        pass


def test_observe_and_the_handler():
    """An app that calls observe() on what its instrumented chain returned."""
    p, agg = make_pipeline()
    chain = rag_chain(retriever=VaryingRetriever())
    handler = CollapseCallbackHandler(pipeline=p)
    for i in range(N):
        out = chain.invoke(f"question {i}?", config={"callbacks": [handler]})
        assert observe(out, pipeline=p)
    assert p.flush(5)
    (stream,) = agg.snapshot().streams
    assert stream.answers_total == N and p.stats().duplicates == N
    assert stream.window.get("context_distinct_ratio") == pytest.approx(101 / 150)


def test_observe_and_the_span_processor():
    p, agg = make_pipeline()
    tp = TracerProvider()
    tp.add_span_processor(CollapseSpanProcessor(pipeline=p))
    tracer = tp.get_tracer("app")
    for i in range(N):
        text = f"answer number {i}"
        genai_span(tracer, text)
        observe(text, pipeline=p, release="r1", context_ids=[f"doc-{i}"])
    assert p.flush(5)
    (stream,) = agg.snapshot().streams
    assert stream.answers_total == N and stream.key.release == "r1"
    assert all(r.source == "observe" for r in agg.records)


def test_span_processor_and_completion_hook():
    require_module("opentelemetry.util.genai")
    from opentelemetry.util.genai.handler import TelemetryHandler
    from opentelemetry.util.genai.types import InputMessage, OutputMessage, Text

    from collapse_otel.capture.completion_hook import CollapseCompletionHook

    p, agg = make_pipeline()
    tp = TracerProvider()
    tp.add_span_processor(CollapseSpanProcessor(pipeline=p))
    handler = TelemetryHandler(tracer_provider=tp,
                               completion_hook=CollapseCompletionHook(pipeline=p))
    for i in range(N):
        with handler.inference("openai", request_model="m") as inv:
            inv.input_messages = [InputMessage(role="user", parts=[Text(content="q?")])]
            inv.output_messages = [OutputMessage(role="assistant", finish_reason="stop",
                                                 parts=[Text(content=f"answer {i}")])]
            inv.input_tokens, inv.output_tokens = 5, 2
    assert p.flush(5)
    assert len(agg.records) == N and {r.source for r in agg.records} == {"completion_hook"}


def _hook_inference(handler, text: str, tokens: tuple[int, int]) -> None:
    from opentelemetry.util.genai.types import InputMessage, OutputMessage, Text

    with handler.inference("openai", request_model="m") as inv:
        inv.input_messages = [InputMessage(role="user", parts=[Text(content="q?")])]
        inv.output_messages = [OutputMessage(role="assistant", finish_reason="stop",
                                             parts=[Text(content=text)])]
        inv.input_tokens, inv.output_tokens = tokens


def _hooked(p):
    require_module("opentelemetry.util.genai")
    from opentelemetry.util.genai.handler import TelemetryHandler

    from collapse_otel.capture.completion_hook import CollapseCompletionHook

    return TelemetryHandler(tracer_provider=TracerProvider(),
                            completion_hook=CollapseCompletionHook(pipeline=p))


def test_handler_and_completion_hook():
    """A LangChain app whose model calls util-genai also reports: the handler's records (with
    their labels) are kept, whichever path reached the queue first; repeats of one path
    (the chain cycles through three answers) still count."""
    p, agg = make_pipeline()
    hook = _hooked(p)
    chain = simple_chain()
    handler = CollapseCallbackHandler(pipeline=p)
    for i in range(N):
        text = chain.invoke({"context": "", "question": f"q{i}"},
                            config={"callbacks": [handler]})
        _hook_inference(hook, text, USAGE[i % 3])
    assert p.flush(5)
    assert len(agg.records) == N and {r.source for r in agg.records} == {"langchain"}
    assert p.stats().duplicates == N
    (stream,) = agg.snapshot().streams
    assert stream.duplicate_answers_total["exact"] == N - 3     # the path's own repeats


def test_observe_and_completion_hook():
    p, agg = make_pipeline()
    hook = _hooked(p)
    for i in range(N):
        text = f"answer number {i}"
        _hook_inference(hook, text, (5, 2))
        observe(text, pipeline=p, release="r1")
    assert p.flush(5)
    (stream,) = agg.snapshot().streams
    assert stream.answers_total == N and stream.key.release == "r1"
    assert {r.source for r in agg.records} == {"observe"} and p.stats().duplicates == N


def test_handler_own_spans_and_span_processor():
    p, agg = make_pipeline()
    tp = TracerProvider()
    tp.add_span_processor(CollapseSpanProcessor(pipeline=p))
    handler = CollapseCallbackHandler(pipeline=p, tracer_provider=tp)
    chain = rag_chain()
    for i in range(N):
        chain.invoke(f"q{i}", config={"callbacks": [handler]})
    tp.force_flush()
    assert p.flush(5) and len(agg.records) == N


def test_one_path_repeating_an_answer_counts_every_time():
    p, agg = make_pipeline()
    model = GenericFakeChatModel(messages=itertools.cycle([AIMessage(content="same words")]))
    handler = CollapseCallbackHandler(pipeline=p)
    for _ in range(N):
        simple_chain(model).invoke({"context": "", "question": "?"},
                                   config={"callbacks": [handler]})
    assert p.flush(5)
    (stream,) = agg.snapshot().streams
    assert stream.answers_total == N and stream.duplicate_answers_total["exact"] == N - 1
    assert p.stats().duplicates == 0


# -- the ledger itself --------------------------------------------------------------------

def rec(text, source, **kw) -> AnswerRecord:
    return AnswerRecord(text, source=source, **kw)


def test_the_direct_paths_record_wins_whichever_came_first():
    ledger = AnswerLedger(grace=1.0)
    ledger.expect_direct(0.0)
    span = rec("hello", "spans", release="unknown")
    assert ledger.admit([span], 0.0) == [] and ledger.waiting == 1
    direct = rec("hello", "langchain", release="v2")
    assert ledger.admit([direct], 0.2) == [direct]
    assert ledger.release(1.5) == [] and ledger.duplicates == 1


def test_without_a_direct_path_span_records_do_not_wait():
    ledger = AnswerLedger()
    span = rec("hello", "spans")
    assert ledger.admit([span], 0.0) == [span] and ledger.waiting == 0
    assert ledger.admit([rec("hello", "otlp")], 0.1) == []   # another path: a second sighting


def test_each_sighting_pairs_once_per_path():
    ledger = AnswerLedger()
    a = [rec("same", "langchain") for _ in range(3)]
    assert ledger.admit(a, 0.0) == a
    assert ledger.admit([rec("same", "observe") for _ in range(3)], 0.1) == []
    assert len(ledger.admit([rec("same", "observe")], 0.2)) == 1   # a fourth: a real answer


def test_usage_pairs_an_answer_without_text_only():
    ledger = AnswerLedger()
    usage = {"prompt_tokens": 10, "completion_tokens": 4}
    assert len(ledger.admit([rec("with text", "langchain", **usage)], 0.0)) == 1
    assert ledger.admit([rec(None, "spans", **usage)], 0.1) == []
    other = rec("different text", "spans", **usage)
    assert ledger.admit([other], 0.2) == [] and ledger.waiting == 1   # waits its grace
    assert ledger.release(2.0) == [other]   # both have text: not the same answer
    estimated = rec(None, "spans", tokens_estimated=True, **usage)
    ledger.admit([estimated], 2.1)
    assert ledger.release(0.0, everything=True) == [estimated]   # estimates are no evidence


def test_sightings_expire():
    ledger = AnswerLedger(ttl=60.0)
    ledger.admit([rec("hello", "langchain")], 0.0)
    late = rec("hello", "spans")
    assert ledger.admit([late], 200.0) == [late]


def test_intermediate_calls_are_counted_per_stream_and_folded_beyond_the_cap():
    ledger = AnswerLedger(max_streams=2)
    calls = [rec(f"x{i}", "", intermediate=True, release=f"r{i}") for i in range(5)]
    assert ledger.admit(calls, 0.0) == []
    assert sum(ledger.intermediate.values()) == 5 and len(ledger.intermediate) == 3
    assert StreamKey("unknown_service", OTHER_RELEASE, "default") in ledger.intermediate


def test_memory_is_bounded():
    ledger = AnswerLedger()
    usage = {"prompt_tokens": 1, "completion_tokens": 1}
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for chunk in range(20):
            ledger.admit([rec(f"answer {chunk}-{i}", "langchain", **usage | {"prompt_tokens": i})
                          for i in range(5_000)], float(chunk))
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert len(ledger._seen) <= MAX_KEYS
    assert held < 8 << 20, held


def test_flush_releases_waiting_records():
    p, agg = make_pipeline()
    p.expect_direct()
    p.submit(AnswerRecord(ANSWERS[0], source="spans"))
    assert p.flush(5) and len(agg.records) == 1
