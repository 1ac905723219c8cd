"""One answer per user turn: intermediate LLM calls (a query rewriter, a LangGraph agent's
tool-call steps, a judge) are counted apart and kept out of the answer signals, on the
LangChain handler and on OpenInference / OpenLLMetry spans of the same runs."""

from __future__ import annotations

import itertools

import pytest
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda

from collapse_otel.capture.langchain_handler import CollapseCallbackHandler
from collapse_otel.config import CollapseConfig
from collapse_otel.turns.answers import TurnPolicy, output_strings, pick_answer
from tests.support.capture import (
    ANSWERS,
    QUESTIONS,
    REWRITES,
    VaryingRetriever,
    intermediate,
    judged_chain,
    make_pipeline,
    rag_chain,
    rewriter_rag_chain,
    run_all,
    stream_of,
    tool_agent,
    usage_model,
)


def test_rewriter_chain_counts_one_answer_per_question_and_keeps_the_context_ratio():
    plain_p, plain_agg = make_pipeline()
    run_all(rag_chain(retriever=VaryingRetriever()), CollapseCallbackHandler(pipeline=plain_p))
    p, agg = make_pipeline()
    run_all(rewriter_rag_chain(retriever=VaryingRetriever()), CollapseCallbackHandler(pipeline=p))
    assert plain_p.flush(5) and p.flush(5)
    stream, plain = stream_of(agg), stream_of(plain_agg)
    assert stream.answers_total == plain.answers_total == 20
    assert intermediate(p) == 20 and intermediate(plain_p) == 0
    assert [r.answer for r in agg.records] == [r.answer for r in plain_agg.records]
    assert not set(REWRITES) & {r.answer for r in agg.records}
    assert stream.window.get("context_distinct_ratio") == \
        plain.window.get("context_distinct_ratio")
    assert stream.tokens_total == plain.tokens_total


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_langgraph_tool_agent_one_answer_per_question_none_without_text(mode):
    import asyncio

    p, agg = make_pipeline()
    agent, handler = tool_agent(), CollapseCallbackHandler(pipeline=p)
    if mode == "async":
        async def go():
            for q in QUESTIONS:
                await agent.ainvoke({"messages": [("user", q)]}, config={"callbacks": [handler]})
        asyncio.run(go())
    else:
        run_all(agent, handler, agent=True)
    assert p.flush(5)
    stream = stream_of(agg)
    assert stream.answers_total == 20 and stream.answers_without_text_total == 0
    assert intermediate(p) == 20
    assert all(r.answer in ANSWERS and len(r.context_ids) == 3 for r in agg.records)
    assert not handler._turns and not handler._parents


def test_every_call_mode_keeps_the_old_count():
    p, agg = make_pipeline(answer_mode="every_call")
    run_all(rewriter_rag_chain(), CollapseCallbackHandler(pipeline=p))
    assert p.flush(5)
    assert stream_of(agg).answers_total == 40 and intermediate(p) == 0


def test_the_output_the_chain_returns_is_the_answer_not_the_last_call():
    p, agg = make_pipeline()
    run_all(judged_chain(), CollapseCallbackHandler(pipeline=p))
    assert p.flush(5)
    assert [r.answer for r in agg.records] == list(itertools.islice(itertools.cycle(ANSWERS), 20))
    assert intermediate(p) == 20


@pytest.mark.parametrize("config,answers,texts", [
    ({"answer_mode": "every_call", "answer_exclude": "judge"}, 20, ANSWERS),
    ({"answer_mode": "every_call", "answer_exclude": "J*"}, 20, ANSWERS),
    ({"answer_include": "judge"}, 20, ["PASS"]),
    ({"answer_include": "no-such-run"}, 0, []),
])
def test_filters_by_tags_and_names(config, answers, texts):
    p, agg = make_pipeline(**config)
    run_all(judged_chain(), CollapseCallbackHandler(pipeline=p))
    assert p.flush(5)
    assert len(agg.records) == answers and {r.answer for r in agg.records} <= set(texts)
    assert intermediate(p) == 40 - answers


def test_filter_by_an_enclosing_run_name():
    p, agg = make_pipeline(answer_mode="every_call", answer_exclude="query_rewriter")
    run_all(rewriter_rag_chain(), CollapseCallbackHandler(pipeline=p))
    assert p.flush(5)
    assert len(agg.records) == 20 and not set(REWRITES) & {r.answer for r in agg.records}


def test_a_handler_given_to_the_model_only_counts_each_call():
    """Without the run tree every call is a turn of its own, answered at once."""
    p, agg = make_pipeline()
    model = usage_model().with_config(callbacks=[CollapseCallbackHandler(pipeline=p)])
    chain = ChatPromptTemplate.from_template("{q}") | model | StrOutputParser()
    for q in ("a", "b"):
        chain.invoke({"q": q})
    assert p.flush(5)
    assert len(agg.records) == 2 and intermediate(p) == 0


def test_a_turn_that_fails_still_counts_its_last_call():
    p, agg = make_pipeline()

    def boom(_):
        raise RuntimeError("after the answer")

    chain = rag_chain() | RunnableLambda(boom)
    with pytest.raises(RuntimeError):
        chain.invoke("q", config={"callbacks": [CollapseCallbackHandler(pipeline=p)]})
    assert p.flush(5)
    assert [r.answer for r in agg.records] == [ANSWERS[0]]


def test_turns_are_bounded():
    import uuid

    from langchain_core.outputs import ChatGeneration, LLMResult

    p, agg = make_pipeline()
    h = CollapseCallbackHandler(pipeline=p, max_runs=20)
    result = LLMResult(generations=[[ChatGeneration(message=AIMessage(content="a"))]])
    for _ in range(200):   # root runs that never end (a crashed worker)
        root, child = uuid.uuid4(), uuid.uuid4()
        h.on_chain_start({}, {}, run_id=root)
        h.on_chat_model_start({}, [[]], run_id=child, parent_run_id=root)
        h.on_llm_end(result, run_id=child, parent_run_id=root)
    assert len(h._turns) <= 21 and len(h._parents) <= 41
    assert p.flush(5) and len(agg.records) >= 179   # evicted turns were counted, not lost


# -- the rules themselves ---------------------------------------------------------------------

def test_pick_answer_prefers_the_returned_text_then_the_last():
    assert pick_answer(["a", "b", "c"], {"b"}) == 1
    assert pick_answer(["a", "b", "b"], {"b"}) == 2
    assert pick_answer(["a", None, "c"], set()) == 2
    assert pick_answer([], {"a"}) is None


def test_output_strings_reads_messages_json_and_stops_early():
    msg = AIMessage(content="the answer")
    assert output_strings({"messages": [msg]}, {"the answer", "x"}) == {"the answer"}
    assert output_strings('{"outputs": {"kwargs": {"content": "the answer"}}}',
                          {"the answer"}) == {"the answer"}
    assert output_strings(["n"] * 100_000 + ["the answer"], {"the answer"}) == {"the answer"}
    deep = "the answer"
    for _ in range(50):
        deep = [deep]
    assert output_strings(deep, {"the answer"}) == set()
    assert output_strings(object(), {"a"}) == set()


def test_policy_globs_are_case_insensitive_and_exclude_wins():
    policy = TurnPolicy("turn", include="answer*,final", exclude="*judge*")
    assert policy.eligible(["Answer_Node"]) and policy.eligible(["x", "FINAL"])
    assert not policy.eligible(["answer", "llm-judge"]) and not policy.eligible(["other"])
    assert TurnPolicy().eligible([]) and not TurnPolicy().filters


def test_answer_mode_from_the_environment():
    env = {"COLLAPSE_OTEL_ANSWER_MODE": "Every_Call", "COLLAPSE_OTEL_ANSWER_EXCLUDE": "judge"}
    config = CollapseConfig.resolve(env)
    assert (config.answer_mode, config.answer_exclude) == ("every_call", "judge")
    assert CollapseConfig.resolve({"COLLAPSE_OTEL_ANSWER_MODE": "sometimes"}).answer_mode == "turn"
    with pytest.raises(ValueError):
        CollapseConfig(answer_mode="sometimes")
