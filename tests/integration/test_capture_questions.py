"""Capture knows the user's question of a turn, whatever the path: the LangChain handler (the
root run's input, a model given the handler alone), raw GenAI LLM spans and observe()
(OpenInference and OpenLLMetry spans of the same runs: tests/integration/test_capture_instrumentors.py). The question is never the
prompt of an LLM call inside a chain (it holds retrieved documents or a rewritten query)."""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.trace import TracerProvider

from collapse_otel.capture.langchain_handler import CollapseCallbackHandler
from collapse_otel.capture.observe import observe
from collapse_otel.capture.span_processor import CollapseSpanProcessor
from collapse_otel.spans.questions import chain_question, question_of
from tests.support.capture import (
    QUESTIONS,
    VaryingRetriever,
    judged_chain,
    make_pipeline,
    rag_chain,
    rewriter_rag_chain,
    run_all,
    tool_agent,
    usage_model,
)

SHAPES = {"rag": lambda r: rag_chain(retriever=r), "rewriter": lambda r: rewriter_rag_chain(
    retriever=r), "agent": tool_agent, "judged": lambda r: judged_chain()}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_handler_records_the_question_of_each_turn(shape):
    p, agg = make_pipeline()
    run_all(SHAPES[shape](VaryingRetriever()), CollapseCallbackHandler(pipeline=p),
            agent=shape == "agent")
    assert p.flush(5)
    assert [r.question for r in agg.records] == QUESTIONS


def test_a_model_given_the_handler_alone_takes_its_last_user_message():
    p, agg = make_pipeline()
    handler = CollapseCallbackHandler(pipeline=p)
    model = usage_model()
    model.invoke([("system", "be brief"), ("user", "where is lyon?")],
                 config={"callbacks": [handler]})
    model.invoke("plain prompt?", config={"callbacks": [handler]})
    assert p.flush(5)
    assert [r.question for r in agg.records] == ["where is lyon?", "plain prompt?"]


def test_raw_genai_llm_span_is_its_own_turn():
    p, agg = make_pipeline()
    tp = TracerProvider()
    tp.add_span_processor(CollapseSpanProcessor(pipeline=p))
    tracer = tp.get_tracer("app")
    messages = [{"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
                {"role": "user", "parts": [{"type": "text", "content": "Is the museum open?"}]}]
    with tracer.start_as_current_span("chat gpt") as span:
        span.set_attributes({
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt",
            "gen_ai.input.messages": json.dumps(messages),
            "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [
                {"type": "text", "content": "Yes, until six."}]}]),
            "gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 5})
    tp.force_flush()
    assert p.flush(5)
    (record,) = agg.records
    assert record.question == "Is the museum open?" and record.answer == "Yes, until six."


def test_observe_takes_a_question_and_cuts_it():
    p, agg = make_pipeline()
    assert observe("an answer", question="a question?", pipeline=p)
    assert observe("an answer", question="x" * 100_000, pipeline=p)
    assert observe("an answer", pipeline=p)
    assert p.flush(5)
    questions = [r.question for r in agg.records]
    assert questions[0] == "a question?" and len(questions[1]) == 16_384
    assert questions[2] is None


@pytest.mark.parametrize("value,expected", [
    ("what now?", "what now?"),
    ({"question": "q1", "context": "long documents"}, "q1"),
    ({"input": "q2", "chat_history": []}, "q2"),
    ({"messages": [("system", "s"), ("user", "q3"), ("ai", "a")]}, "q3"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "q4"}]}]}, "q4"),
    ([["user", "q5"]], "q5"),
    ({"inputs": {"question": "q6"}, "tags": [], "metadata": {}}, "q6"),
    ({"context": "documents only"}, None),
    (42, None),
    ({"messages": [("system", "only a system message")]}, None),
])
def test_question_of_inputs(value, expected):
    assert question_of(value) == expected


def test_chain_question_reads_json_and_text_inputs():
    assert chain_question('{"question": "q?"}') == "q?"
    assert chain_question('{"inputs": "q?", "tags": []}') == "q?"
    assert chain_question("plain question?") == "plain question?"
    serialised = json.dumps({"messages": [{"lc": 1, "type": "constructor",
                                           "kwargs": {"content": "q7", "type": "human"}}]})
    assert chain_question(serialised) == "q7"
    assert chain_question('{"no": "question"}') is None
    assert chain_question(None) is None
