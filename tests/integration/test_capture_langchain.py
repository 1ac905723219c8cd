"""CollapseCallbackHandler on real langchain-core runnables and a LangGraph agent."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import Generation, LLMResult
from langchain_core.tools import tool
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from collapse_otel.capture.langchain_handler import CollapseCallbackHandler
from collapse_otel.capture.span_processor import CollapseSpanProcessor
from collapse_otel.spans.build import content_id
from tests.support.capture import ANSWERS, USAGE, make_pipeline, rag_chain, simple_chain

RAG_IDS = ("doc-rivers", "doc-mountains", content_id("a page with no id at all"))


def run(chain, handler, inp="What is in France?", **config):
    return chain.invoke(inp, config={"callbacks": [handler], **config})


def collected(p, agg):
    assert p.flush(5)
    return agg.records


def test_prompt_model_parser_with_usage():
    p, agg = make_pipeline()
    h = CollapseCallbackHandler(pipeline=p)
    chain = simple_chain()
    out = [run(chain, h, {"context": "c", "question": "q"}) for _ in range(3)]
    assert out == ANSWERS
    recs = collected(p, agg)
    assert [r.answer for r in recs] == ANSWERS
    assert [(r.prompt_tokens, r.completion_tokens) for r in recs] == USAGE
    assert not any(r.tokens_estimated for r in recs)
    assert all(r.context_ids == () for r in recs)


def test_model_without_usage_gets_estimated_tokens():
    p, agg = make_pipeline()
    h = CollapseCallbackHandler(pipeline=p)
    chain = simple_chain(FakeListChatModel(responses=["one two three four five six"]))
    run(chain, h, {"context": "some context text", "question": "and a question"})
    (r,) = collected(p, agg)
    assert r.tokens_estimated
    assert r.completion_tokens == 7 and r.prompt_tokens > 0
    (stream,) = agg.snapshot().streams
    assert stream.tokens_estimated_total["completion"] == 7


def test_completion_llm_with_llm_output_token_usage():
    class UsageLLM(FakeListLLM):
        def _generate(self, prompts, stop=None, run_manager=None, **kwargs):
            return LLMResult(generations=[[Generation(text="completion text")]],
                             llm_output={"token_usage": {"prompt_tokens": 21,
                                                         "completion_tokens": 3},
                                         "model_name": "usage-llm"})

    p, agg = make_pipeline()
    UsageLLM(responses=["x"]).invoke("hello", config={"callbacks": [
        CollapseCallbackHandler(pipeline=p)]})
    (r,) = collected(p, agg)
    assert (r.answer, r.prompt_tokens, r.completion_tokens, r.model) == \
        ("completion text", 21, 3, "usage-llm")
    assert not r.tokens_estimated


def test_rag_chain_context_ids():
    p, agg = make_pipeline()
    h = CollapseCallbackHandler(pipeline=p)
    assert run(rag_chain(), h) == ANSWERS[0]
    (r,) = collected(p, agg)
    assert r.context_ids == RAG_IDS
    assert not h._parents and not h._context and not h._llm  # per-run state released


def test_sync_async_stream_batch_all_captured():
    p, agg = make_pipeline()
    h = CollapseCallbackHandler(pipeline=p)
    chain, cfg = rag_chain(), {"callbacks": [h]}
    plain = rag_chain()
    assert chain.invoke("q", config=cfg) == plain.invoke("q")
    assert "".join(chain.stream("q", config=cfg)) == "".join(plain.stream("q"))
    assert chain.batch(["a", "b", "c"], config=cfg) == plain.batch(["a", "b", "c"])

    async def go():
        a = await chain.ainvoke("q", config=cfg)
        s = [c async for c in chain.astream("q", config=cfg)]
        b = await chain.abatch(["x", "y"], config=cfg)
        return a, s, b

    a, s, b = asyncio.run(go())
    assert isinstance(a, str) and "".join(s) and len(b) == 2
    recs = collected(p, agg)
    assert len(recs) == 1 + 1 + 3 + 1 + 1 + 2
    assert all(r.context_ids == RAG_IDS for r in recs)
    assert all(r.answer in ANSWERS for r in recs)
    assert all(r.completion_tokens > 0 for r in recs)
    assert not h._parents and not h._context and not h._llm


def test_release_and_cohort_precedence(monkeypatch):
    p, agg = make_pipeline(release="env-release")
    run(simple_chain(), CollapseCallbackHandler(pipeline=p), {"context": "", "question": ""})
    run(simple_chain(), CollapseCallbackHandler(pipeline=p), {"context": "", "question": ""},
        metadata={"release": "meta-release", "cohort": "canary"})
    run(simple_chain(), CollapseCallbackHandler(release="arg", cohort="c", service="s",
                                                pipeline=p),
        {"context": "", "question": ""}, metadata={"release": "meta-release"})
    got = [(r.service, r.release, r.cohort) for r in collected(p, agg)]
    assert got == [("unknown_service", "env-release", "default"),
                   ("unknown_service", "meta-release", "canary"), ("s", "arg", "c")]
    p2, agg2 = make_pipeline()
    run(simple_chain(), CollapseCallbackHandler(pipeline=p2), {"context": "", "question": ""})
    assert (agg2.records or collected(p2, agg2))[0].release == "unknown"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_langgraph_agent_with_a_tool(mode):
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langgraph.prebuilt import create_react_agent

    calls = []

    @tool
    def weather(city: str) -> str:
        """Weather of a city."""
        calls.append(city)
        return f"sunny in {city}"

    class ToolCallingFake(GenericFakeChatModel):
        def bind_tools(self, tools, **kwargs):
            return self

    model = ToolCallingFake(messages=iter([
        AIMessage(content="", tool_calls=[{"name": "weather", "args": {"city": "Oslo"},
                                           "id": "call-1"}],
                  usage_metadata={"input_tokens": 20, "output_tokens": 8, "total_tokens": 28}),
        AIMessage(content="It is sunny in Oslo.",
                  usage_metadata={"input_tokens": 31, "output_tokens": 6, "total_tokens": 37})]))
    with pytest.warns(Warning):
        agent = create_react_agent(model, [weather])
    p, agg = make_pipeline()
    cfg = {"callbacks": [CollapseCallbackHandler(pipeline=p)]}
    if mode == "async":
        out = asyncio.run(agent.ainvoke({"messages": [("user", "Weather in Oslo?")]}, config=cfg))
    else:
        out = agent.invoke({"messages": [("user", "Weather in Oslo?")]}, config=cfg)
    assert out["messages"][-1].content == "It is sunny in Oslo." and calls == ["Oslo"]
    (answer,) = collected(p, agg)   # the tool-call step is an intermediate call
    assert answer.answer == "It is sunny in Oslo." and answer.prompt_tokens == 31
    (stream,) = agg.snapshot().streams
    assert stream.answers_total == 1 and stream.answers_without_text_total == 0
    assert stream.tokens_total == {"prompt": 31, "completion": 6}
    assert p.stats().intermediate == {stream.key: 1}


def span_setup(**config):
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    p, agg = make_pipeline(**config)
    return exporter, tp, p, agg


def test_spans_carry_genai_and_collapse_attributes_but_no_content_by_default():
    exporter, tp, p, agg = span_setup()
    h = CollapseCallbackHandler(release="v9", pipeline=p, tracer_provider=tp)
    run(rag_chain(), h)
    spans = {s.attributes["gen_ai.operation.name"]: s for s in exporter.get_finished_spans()}
    chat, retrieval = spans["chat"], spans["retrieval"]
    assert chat.attributes["gen_ai.usage.input_tokens"] == USAGE[0][0]
    assert chat.attributes["gen_ai.usage.output_tokens"] == USAGE[0][1]
    assert chat.attributes["collapse.release"] == "v9"
    assert chat.attributes["collapse.context_ids"] == RAG_IDS
    assert [d["id"] for d in json.loads(retrieval.attributes["gen_ai.retrieval.documents"])] \
        == list(RAG_IDS)
    assert retrieval.end_time <= chat.end_time
    for span in (chat, retrieval):
        for value in span.attributes.values():
            assert ANSWERS[0] not in str(value)
    assert "gen_ai.output.messages" not in chat.attributes


def test_content_on_spans_when_allowed():
    exporter, tp, p, agg = span_setup(capture_message_content=True)
    run(simple_chain(), CollapseCallbackHandler(pipeline=p, tracer_provider=tp),
        {"context": "", "question": ""})
    (chat,) = exporter.get_finished_spans()
    msgs = json.loads(chat.attributes["gen_ai.output.messages"])
    assert msgs[0]["parts"][0]["content"] == ANSWERS[0]


def test_span_processor_beside_the_handler_does_not_double_count():
    exporter, tp, p, agg = span_setup()
    tp.add_span_processor(CollapseSpanProcessor(pipeline=p))
    run(rag_chain(), CollapseCallbackHandler(pipeline=p, tracer_provider=tp))
    tp.force_flush()
    assert len(collected(p, agg)) == 1


def test_model_error_propagates_unchanged_and_span_is_closed():
    class Boom(FakeListChatModel):
        def _generate(self, *a, **kw):
            raise ValueError("model down")

    exporter, tp, p, agg = span_setup()
    h = CollapseCallbackHandler(pipeline=p, tracer_provider=tp)
    with pytest.raises(ValueError, match="model down"):
        run(simple_chain(Boom(responses=["x"])), h, {"context": "", "question": ""})
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code.name == "ERROR"
    assert collected(p, agg) == [] and not h._llm and not h._parents


def test_run_state_is_bounded():
    p, agg = make_pipeline()
    h = CollapseCallbackHandler(pipeline=p, max_runs=50)
    # start runs that never end (a crashed worker): the maps stay bounded
    import uuid

    for _ in range(500):
        rid = uuid.uuid4()
        h.on_chain_start({}, {}, run_id=rid, parent_run_id=uuid.uuid4())
        h.on_chat_model_start({}, [[]], run_id=uuid.uuid4(), parent_run_id=rid)
        h.on_retriever_start({}, "q", run_id=uuid.uuid4(), parent_run_id=rid)
    assert len(h._parents) <= 51 and len(h._llm) <= 51 and len(h._retrievers) <= 51


def test_callbacks_never_raise_on_garbage(caplog):
    p, agg = make_pipeline()
    h = CollapseCallbackHandler(pipeline=p)
    import uuid

    rid = uuid.uuid4()
    with caplog.at_level(logging.DEBUG):
        h.on_chat_model_start(None, None, run_id=rid)               # type: ignore[arg-type]
        h.on_llm_end(object(), run_id=rid)
        h.on_llm_end(LLMResult(generations=[[Generation(text="bad \udcff surrogate")]]),
                     run_id=uuid.uuid4())
        h.on_retriever_end([object(), None, 3], run_id=uuid.uuid4())
        h.on_llm_error(RuntimeError("x"), run_id=uuid.uuid4())
    p.flush(5)
    assert sum(p.stats().dropped.values()) >= 1  # the broken start was counted
