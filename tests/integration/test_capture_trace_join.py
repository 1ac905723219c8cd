"""Joining retrievals to answers by span-tree distance (pure function and through the processor)."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider

from collapse_otel.capture.span_processor import CollapseSpanProcessor
from collapse_otel.spans.trace_join import ancestors, join_context_ids
from tests.support.capture import make_pipeline


def test_rag_chain_shape():
    # root -> parallel -> seq -> retriever ; root -> llm
    parents = {1: None, 2: 1, 3: 2, 10: 3, 20: 1}
    assert ancestors(10, parents) == [10, 3, 2, 1]
    assert join_context_ids([(20, 200)], [(10, 100, ["a", "b"])], parents) == [["a", "b"]]


def test_agent_every_later_llm_call_gets_the_retrieval():
    # graph -> retrieve node -> retriever ; graph -> agent node -> llm (twice)
    parents = {1: None, 2: 1, 10: 2, 3: 1, 20: 3, 4: 1, 21: 4}
    got = join_context_ids([(20, 200), (21, 300)], [(10, 100, ["doc"])], parents)
    assert got == [["doc"], ["doc"]]


def test_retrieval_after_the_answer_is_not_joined():
    parents = {1: None, 10: 1, 20: 1}
    assert join_context_ids([(20, 100)], [(10, 200, ["late"])], parents) == [[]]


def test_nested_leaked_workflows_keep_their_own_documents():
    # traceloop batch leak: workflow B nested under workflow A
    parents = {1: None, 11: 1, 12: 11, 13: 12, 30: 13, 40: 1,      # A: retriever 30, llm 40
               2: 1, 21: 2, 22: 21, 23: 22, 31: 23, 41: 2}         # B under A: retriever 31, llm 41
    got = join_context_ids([(40, 500), (41, 500)], [(30, 100, ["A"]), (31, 100, ["B"])], parents)
    assert got == [["A"], ["B"]]


@pytest.mark.parametrize("chain_kind,answers", [("CHAIN", 2), (None, 1)])
def test_request_span_with_two_independent_chains(chain_kind, answers):
    """Two chain spans under one request span are two user turns; spans that do not say they
    are chains leave one turn (the request), whose last LLM call is the answer."""
    p, agg = make_pipeline()
    proc = CollapseSpanProcessor(pipeline=p)
    tp = TracerProvider()
    tp.add_span_processor(proc)
    tracer = tp.get_tracer("t")
    kind = {"openinference.span.kind": chain_kind} if chain_kind else {}
    with tracer.start_as_current_span("POST /ask"):
        for name in ("first", "second"):
            with tracer.start_as_current_span(f"chain {name}", attributes=kind):
                with tracer.start_as_current_span("retrieve", attributes={
                        "gen_ai.operation.name": "retrieval",
                        "gen_ai.retrieval.documents": json.dumps([{"id": name}])}):
                    pass
                with tracer.start_as_current_span("chat", attributes={
                        "gen_ai.operation.name": "chat", "gen_ai.usage.output_tokens": 1}):
                    pass
    assert p.flush(5)
    assert [r.context_ids for r in agg.records] == [("first",), ("second",)][2 - answers:]
    assert sum(p.stats().intermediate.values()) == 2 - answers


def test_answer_text_never_reaches_logs(caplog):
    secret = "ultraviolet-pangolin-4412 private answer"
    p, agg = make_pipeline()
    proc = CollapseSpanProcessor(pipeline=p)
    tp = TracerProvider()
    tp.add_span_processor(proc)
    tracer = tp.get_tracer("t")
    with caplog.at_level(logging.DEBUG):
        for attrs in ({"gen_ai.operation.name": "chat",
                       "gen_ai.output.messages": json.dumps([{"parts": [
                           {"type": "text", "content": secret}]}])},
                      {"gen_ai.operation.name": "chat", "gen_ai.output.messages": secret + "{"},
                      {"openinference.span.kind": "LLM", "output.value": secret,
                       "llm.token_count.prompt": secret}):
            with tracer.start_as_current_span("chat", attributes=attrs):
                pass
        p.submit_deferred(lambda: (_ for _ in ()).throw(ValueError(secret)))
        assert proc.force_flush(5000)
    assert p.stats().dropped == {"extract_error": 1}
    assert agg.records[0].answer == secret
    assert secret not in caplog.text
