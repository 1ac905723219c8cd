"""Agent loops on real LangGraph agents: one stuck on a failing tool, one that is not.

The agents are LangGraph's prebuilt ReAct agent over a chat model that asks for tools the way a
real one does (AIMessage.tool_calls); the tools are real LangChain tools. What the handler
counts goes through the real pipeline and aggregator to the exported series.
"""

from __future__ import annotations

import itertools
import json

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import ToolException, tool

from collapse_otel.capture.langchain_handler import CollapseCallbackHandler
from collapse_otel.capture.turn_loops import DROPPED, LoopWatch
from collapse_otel.export.encode import encode_text
from collapse_otel.export.prometheus import snapshot_families
from collapse_otel.turns.loops import (
    MAX_TOOL_CALLS,
    REPEATED_ANSWER,
    REPEATED_TOOL_CALL,
    STEP_LIMIT,
    answer_run,
    call_hash,
    is_limit_error,
    judge,
)
from tests.support.capture import make_pipeline

langgraph_prebuilt = pytest.importorskip("langgraph.prebuilt")
from langgraph.errors import GraphRecursionError  # noqa: E402


class ToolCallingFake(GenericFakeChatModel):
    def bind_tools(self, tools, **kwargs):
        return self


def _call(city: str, n: int) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": "weather", "args": {"city": city},
                                              "id": f"call-{n}"}])


def _agent(messages, weather):
    with pytest.warns(Warning):   # create_react_agent is deprecated in langgraph 1.x
        return langgraph_prebuilt.create_react_agent(ToolCallingFake(messages=messages),
                                                    [weather])


def _stream(agg):
    (stream,) = agg.snapshot().streams
    return stream


def test_an_agent_stuck_on_a_failing_tool_loops():
    calls = []

    @tool
    def weather(city: str) -> str:
        """Weather of a city."""
        calls.append(city)
        raise ToolException("weather service unavailable")

    weather.handle_tool_error = True   # the agent sees the error and asks again

    # the model asks again and again for the same call: the tool keeps failing
    agent = _agent((_call("Oslo", n) for n in itertools.count()), weather)
    agent = agent.with_config(recursion_limit=9)
    p, agg = make_pipeline(release="v2")
    handler = CollapseCallbackHandler(pipeline=p)
    with pytest.raises(GraphRecursionError):
        agent.invoke({"messages": [("user", "Weather in Oslo?")]},
                     config={"callbacks": [handler]})
    assert p.flush(5)
    assert len(calls) == 4   # 9 steps: model, tools, model, tools, ... model
    stream = _stream(agg)
    assert stream.agent_turns_total == {"true": 1, "false": 0}
    assert stream.agent_loops_total == {REPEATED_ANSWER: 0, REPEATED_TOOL_CALL: 1,
                                        STEP_LIMIT: 1}
    assert stream.agent_loop_length.count == 1 and stream.agent_loop_length.sum == 4.0
    assert stream.window.values["agent_loop_ratio"] == 1.0
    assert stream.window.agent_turns == {"true": 1, "false": 0}
    assert len(handler._loops) == 0   # the turn's state is gone with it


def test_an_agent_that_finishes_does_not_loop():
    @tool
    def weather(city: str) -> str:
        """Weather of a city."""
        return f"sunny in {city}"

    p, agg = make_pipeline(release="v1")
    handler = CollapseCallbackHandler(pipeline=p)
    for _ in range(3):
        agent = _agent(iter([_call("Oslo", 1), _call("Bergen", 2),
                             AIMessage(content="Sunny in Oslo and in Bergen.")]), weather)
        out = agent.invoke({"messages": [("user", "Weather in Oslo and Bergen?")]},
                           config={"callbacks": [handler]})
        assert out["messages"][-1].content == "Sunny in Oslo and in Bergen."
    assert p.flush(5)
    stream = _stream(agg)
    assert stream.agent_turns_total == {"true": 0, "false": 3}
    assert stream.agent_loops_total == {REPEATED_ANSWER: 0, REPEATED_TOOL_CALL: 0,
                                        STEP_LIMIT: 0}
    assert stream.agent_loop_length.count == 3 and stream.agent_loop_length.sum == 3.0
    assert stream.window.values["agent_loop_ratio"] == 0.0
    assert stream.window.stderr["agent_loop_ratio"] > 0   # Agresti-Coull: never 0
    text = encode_text(snapshot_families(agg.snapshot())).decode()
    assert 'collapse_agent_turns_total{cohort="default",looping="false",release="v1",' \
        'service="unknown_service"} 3.0' in text
    assert 'collapse_agent_loop_length_bucket{cohort="default",le="1.0",release="v1",' \
        'service="unknown_service"} 3.0' in text
    assert "Oslo" not in text and "weather" not in text   # arguments and names never exported


def test_an_agent_repeating_its_answer_between_tool_calls_loops():
    @tool
    def lookup(query: str) -> str:
        """Look something up."""
        return "no result"

    sorry = "I could not find the order, let me look it up once more for you."
    steps = []
    for n in range(3):
        steps.append(AIMessage(content=sorry + ("" if n != 1 else " "),
                               tool_calls=[{"name": "lookup", "args": {"query": f"order {n}"},
                                            "id": f"c{n}"}]))
    steps.append(AIMessage(content="The order shipped yesterday."))
    with pytest.warns(Warning):
        agent = langgraph_prebuilt.create_react_agent(ToolCallingFake(messages=iter(steps)),
                                                      [lookup])
    p, agg = make_pipeline()
    agent.invoke({"messages": [("user", "Where is my order?")]},
                 config={"callbacks": [CollapseCallbackHandler(pipeline=p)]})
    assert p.flush(5)
    stream = _stream(agg)
    assert stream.agent_turns_total == {"true": 1, "false": 0}
    assert stream.agent_loops_total[REPEATED_ANSWER] == 1
    assert stream.agent_loops_total[REPEATED_TOOL_CALL] == 0   # other arguments each time
    assert stream.agent_loop_length.sum == 3.0


def test_a_plain_chain_is_not_an_agent_turn():
    p, agg = make_pipeline()
    model = GenericFakeChatModel(messages=iter([AIMessage(content="Paris.")]))
    model.invoke("Capital of France?", config={"callbacks": [CollapseCallbackHandler(
        pipeline=p)]})
    assert p.flush(5)
    stream = _stream(agg)
    assert stream.agent_turns_total == {} and stream.agent_loop_length is None
    assert "agent_loop_ratio" not in stream.window.values


def test_judge_counts_each_kind():
    same = "The weather service is down, I will try again in a moment."
    assert answer_run([same, None, same.upper(), same + " ", "Something else entirely here"],
                      0.8) == 3
    assert answer_run(["yes", "yes", "no", "yes"], 0.8) == 2   # short: exact repeats only
    assert judge([same, same], [1, 2, 1], False) == (2, ())
    assert judge([same] * 3, [], False) == (3, (REPEATED_ANSWER,))
    assert judge([], [7, 7, 7, 7], True) == (4, (REPEATED_TOOL_CALL, STEP_LIMIT))
    assert judge(["a"], [], True) == (1, (STEP_LIMIT,))


def test_tool_calls_hash_by_name_and_arguments():
    assert call_hash("weather", {"city": "Oslo", "unit": "C"}) == \
        call_hash("weather", {"unit": "C", "city": "Oslo"})
    assert call_hash("weather", {"city": "Oslo"}) != call_hash("weather", {"city": "Bergen"})
    assert call_hash("weather", "Oslo") != call_hash("forecast", "Oslo")


def test_limit_errors():
    assert is_limit_error(GraphRecursionError("Recursion limit of 25 reached"))
    assert is_limit_error("Agent stopped due to max iterations.")
    assert not is_limit_error(ValueError("bad input"))
    assert not is_limit_error(None)


class _Counting:
    def __init__(self):
        self.dropped = {}

    def count_drop(self, reason, n=1):
        self.dropped[reason] = self.dropped.get(reason, 0) + n


def test_loop_state_is_bounded_and_drops_are_counted():
    sink = _Counting()
    watch = LoopWatch(max_turns=4)
    for turn in range(10):
        watch.tool(turn, "weather", {"city": "Oslo"}, sink)
    assert len(watch) == 4 and sink.dropped == {DROPPED: 6}
    for _ in range(MAX_TOOL_CALLS + 5):
        watch.tool(9, "weather", {"city": "Oslo"}, sink)
    assert sink.dropped == {DROPPED: 6 + 6}   # the turn already held one call
    assert len(watch._turns[9].tools) == MAX_TOOL_CALLS


# -- OTel GenAI spans -----------------------------------------------------------------------

def _span_setup():
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    from collapse_otel.capture.span_processor import CollapseSpanProcessor

    p, agg = make_pipeline()
    proc = CollapseSpanProcessor(pipeline=p)
    tp = TracerProvider(resource=Resource.create({"service.name": "shop",
                                                  "service.version": "v3"}))
    tp.add_span_processor(proc)
    return tp.get_tracer("test"), p, agg, proc


def _chat(tracer, text):
    with tracer.start_as_current_span("chat", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.usage.output_tokens": 3,
            "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [
                {"type": "text", "content": text}]}])}):
        pass


def _tool(tracer, city):
    with tracer.start_as_current_span("execute_tool weather", attributes={
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "weather",
            "gen_ai.tool.call.arguments": json.dumps({"city": city})}):
        pass


def test_otel_genai_execute_tool_spans_repeating_a_call_loop():
    from opentelemetry.trace import Status, StatusCode

    tracer, p, agg, proc = _span_setup()
    # a turn that calls the same tool 3 times, then answers
    with tracer.start_as_current_span("invoke_agent"):
        for _ in range(3):
            _chat(tracer, "")
            _tool(tracer, "Oslo")
        _chat(tracer, "Sunny in Oslo.")
    # a turn that calls it for 3 cities: no loop
    with tracer.start_as_current_span("invoke_agent"):
        for city in ("Oslo", "Bergen", "Tromso"):
            _tool(tracer, city)
        _chat(tracer, "Sunny everywhere.")
    # a turn cut by the recursion limit (the agent framework's span status)
    with tracer.start_as_current_span("invoke_agent") as root:
        _chat(tracer, "Let me check the weather service once more.")
        _tool(tracer, "Oslo")
        root.set_status(Status(StatusCode.ERROR, "GraphRecursionError: Recursion limit of 25 "
                               "reached without hitting a stop condition."))
    # a plain chat: not an agent turn
    with tracer.start_as_current_span("invoke_agent"):
        _chat(tracer, "Hello.")
    assert proc.force_flush(5000)
    (stream,) = agg.snapshot().streams
    assert stream.key == ("shop", "v3", "default")
    assert stream.agent_turns_total == {"true": 2, "false": 1}
    assert stream.agent_loops_total == {REPEATED_ANSWER: 0, REPEATED_TOOL_CALL: 1,
                                        STEP_LIMIT: 1}
    assert stream.agent_loop_length.sum == 3.0 + 1.0 + 1.0
    assert stream.window.values["agent_loop_ratio"] == pytest.approx(2 / 3)
    assert stream.answers_total == 4


def test_openinference_tool_spans_and_repeated_answers():
    tracer, p, agg, proc = _span_setup()
    same = "The order service did not answer, I will try to look the order up again."
    with tracer.start_as_current_span("agent", attributes={"openinference.span.kind": "AGENT"}):
        for n in range(3):
            _chat(tracer, same)
            with tracer.start_as_current_span("lookup", attributes={
                    "openinference.span.kind": "TOOL", "tool.name": "lookup",
                    "input.value": json.dumps({"order": n})}):
                pass
        _chat(tracer, "Your order shipped yesterday.")
    assert proc.force_flush(5000)
    (stream,) = agg.snapshot().streams
    assert stream.agent_turns_total == {"true": 1, "false": 0}
    assert stream.agent_loops_total == {REPEATED_ANSWER: 1, REPEATED_TOOL_CALL: 0,
                                        STEP_LIMIT: 0}


@pytest.mark.slow   # starts collapse-otel serve
def test_otlp_agent_trace_into_serve_loops():
    """OTLP/HTTP into collapse-otel serve: a LangGraph-like trace (root status: recursion
    limit), the same execute_tool call four times; and a trace that does not loop."""
    import random
    import time

    from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

    from collapse_otel.config import CollapseConfig
    from collapse_otel.serve.service import Service
    from collapse_otel.serve.settings import ServeSettings
    from tests.support.capture import RecordingAggregator
    from tests.support.serve import kv, post, request_of

    rng = random.Random(3)

    def trace(cities, limit):
        trace_id, root = rng.randbytes(16), rng.randbytes(8)
        t = time.time_ns()
        spans = []
        for n, city in enumerate(cities):
            spans.append(Span(trace_id=trace_id, span_id=rng.randbytes(8), parent_span_id=root,
                              name="chat", end_time_unix_nano=t + 10 * n,
                              attributes=[kv("gen_ai.operation.name", "chat")]))
            spans.append(Span(trace_id=trace_id, span_id=rng.randbytes(8), parent_span_id=root,
                              name="execute_tool weather", end_time_unix_nano=t + 10 * n + 5,
                              attributes=[kv("gen_ai.operation.name", "execute_tool"),
                                          kv("gen_ai.tool.name", "weather"),
                                          kv("gen_ai.tool.call.arguments",
                                             json.dumps({"city": city}))]))
        status = Status(code=Status.STATUS_CODE_ERROR,
                        message="Recursion limit of 9 reached without hitting a stop "
                                "condition") if limit else Status()
        spans.append(Span(trace_id=trace_id, span_id=root, name="LangGraph",
                          end_time_unix_nano=t + 1000, status=status))
        return spans

    cfg = CollapseConfig.resolve(environ={})
    agg = RecordingAggregator(cfg)
    settings = ServeSettings(otlp_http_port=0, otlp_grpc_port=-1, metrics_port=-1)
    svc = Service(settings, cfg, aggregator=agg).start()
    try:
        url = f"http://127.0.0.1:{svc.ports['otlp_http']}/v1/traces"
        body = request_of({("agents", "v2"): trace(["Oslo"] * 4, True)
                           + trace(["Oslo", "Bergen"], False)}).SerializeToString()
        assert post(url, body)[0] == 200
        assert svc.receiver.pipeline.flush(30)
        (stream,) = agg.snapshot().streams
        assert stream.key == ("agents", "v2", "default")
        assert stream.agent_turns_total == {"true": 1, "false": 1}
        assert stream.agent_loops_total == {REPEATED_ANSWER: 0, REPEATED_TOOL_CALL: 1,
                                            STEP_LIMIT: 1}
        assert stream.agent_loop_length.sum == 4.0 + 1.0
    finally:
        svc.stop(10)


def test_multiprocess_merge_sums_agent_loops(tmp_path):
    """Three workers' files merge to what one process counting every turn exports, and a
    state file written and read back keeps the counts (the versioned codecs)."""
    import time

    from collapse_otel.config import CollapseConfig
    from collapse_otel.engine import Aggregator
    from collapse_otel.multiprocess.source import MultiprocessSource
    from collapse_otel.records import StreamKey
    from collapse_otel.records.outcomes import LOOP, Outcome
    from tests.support.worker_state import write_worker_state

    cfg = CollapseConfig(refresh_seconds=0)
    key = StreamKey("agents", "v2", "default")
    now = time.time()
    kinds = ((), (REPEATED_TOOL_CALL,), (REPEATED_ANSWER, STEP_LIMIT), ())
    events = [Outcome(LOOP, timestamp=now - 300 + i, loop_length=1 + (i % 7) * bool(i % 4),
                      loop_kinds=kinds[i % 4]) for i in range(300)]
    one = Aggregator(cfg)
    one.observe_outcomes([(key, e) for e in events])
    for w in range(3):
        agg = Aggregator(cfg)
        agg.observe_outcomes([(key, e) for e in events[w::3]])
        write_worker_state(tmp_path, 200 + w, agg)
    (merged,), (single,) = (MultiprocessSource(tmp_path, cfg).snapshot().streams,
                            one.snapshot(max_age=0).streams)
    assert single.agent_turns_total == {"true": 150, "false": 150}
    assert single.agent_loops_total == {REPEATED_ANSWER: 75, REPEATED_TOOL_CALL: 75,
                                        STEP_LIMIT: 75}
    for got in (merged, Aggregator.from_bytes(one.to_bytes(), cfg).snapshot(
            max_age=0).streams[0]):
        assert got.agent_turns_total == single.agent_turns_total
        assert got.agent_loops_total == single.agent_loops_total
        assert got.agent_loop_length == single.agent_loop_length
        assert got.window.agent_turns == single.window.agent_turns == {"true": 150,
                                                                       "false": 150}
        assert got.window.get("agent_loop_ratio") == 0.5
