"""Third-party LangChain instrumentations + CollapseSpanProcessor count what the handler counts.

Each test instruments the same chain with OpenInference or OpenLLMetry (traceloop) on an SDK
TracerProvider carrying a CollapseSpanProcessor, and runs it with a CollapseCallbackHandler
on a separate pipeline: both pipelines must see the same answers, tokens and context ids.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import Counter

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from collapse_otel.capture.langchain_handler import CollapseCallbackHandler
from collapse_otel.capture.span_processor import CollapseSpanProcessor
from tests.support.capture import (
    QUESTIONS,
    DocRetriever,
    VaryingRetriever,
    intermediate,
    judged_chain,
    make_pipeline,
    rag_chain,
    rewriter_rag_chain,
    run_all,
    simple_chain,
    stream_of,
    tool_agent,
)


def openinference():
    from openinference.instrumentation.langchain import LangChainInstrumentor

    return LangChainInstrumentor()


def traceloop():
    from opentelemetry.instrumentation.langchain import LangchainInstrumentor

    return LangchainInstrumentor()


_PROVIDERS: dict[str, TracerProvider] = {}
_INSTRUMENTORS: list = []


def provider_for(make_instrumentor) -> TracerProvider:
    """One instrumented SDK TracerProvider per instrumentor for the whole module: traceloop
    0.62 emits no spans after uninstrument() + instrument() in the same process."""
    name = make_instrumentor.__name__
    if name not in _PROVIDERS:
        tp = TracerProvider(resource=Resource.create({"service.name": "rag",
                                                      "service.version": "2.0"}))
        inst = make_instrumentor()
        inst.instrument(tracer_provider=tp)
        _INSTRUMENTORS.append(inst)
        _PROVIDERS[name] = tp
    return _PROVIDERS[name]


@pytest.fixture(scope="module", autouse=True)
def _uninstrument_at_end():
    yield
    for inst in _INSTRUMENTORS:
        inst.uninstrument()


@pytest.fixture
def instrumented(request):
    """(retriever, handler, provider, span side, handler side); a fresh CollapseSpanProcessor
    and pipelines per test."""
    make_instrumentor, metadata_ids = request.param
    provider = provider_for(make_instrumentor)
    span_p, span_agg = make_pipeline()
    hand_p, hand_agg = make_pipeline()
    proc = CollapseSpanProcessor(pipeline=span_p)
    provider.add_span_processor(proc)
    handler = CollapseCallbackHandler(service="rag", release="2.0", pipeline=hand_p,
                                      emit_spans=False)
    return (DocRetriever(with_metadata_ids=metadata_ids), handler, provider,
            (span_p, span_agg, proc), (hand_p, hand_agg))


def isolated(fn, *args, **kwargs):
    """Run in a copy of the context: traceloop 0.62 leaves its span attached to the caller's
    context after ``batch()`` (later runs then nest under it, or emit nothing), which would
    leak from one call, or test, into the next."""
    return contextvars.copy_context().run(fn, *args, **kwargs)


def summary(records):
    return (len(records), Counter(r.answer for r in records),
            sum(r.prompt_tokens for r in records), sum(r.completion_tokens for r in records),
            Counter(r.context_ids for r in records),
            Counter((r.service, r.release, r.cohort) for r in records))


def drain(tp, span_side, hand_side):
    span_p, span_agg, proc = span_side
    tp.force_flush()
    assert proc.force_flush(5000) and hand_side[0].flush(5)
    return span_agg.records, hand_side[1].records


# (instrumentor, DocRetriever mirrors Document.id into metadata['id']): OpenInference
# carries Document.id (in output.value), OpenLLMetry only the metadata.
BOTH = [pytest.param((openinference, False), id="openinference"),
        pytest.param((traceloop, True), id="traceloop")]


@pytest.mark.parametrize("instrumented", BOTH, indirect=True)
def test_rag_chain_same_answers_tokens_and_context_ids(instrumented):
    retriever, handler, tp, span_side, hand_side = instrumented
    chain, cfg = rag_chain(retriever=retriever), {"callbacks": [handler]}
    isolated(chain.invoke, "rivers?", config=cfg)
    isolated(chain.batch, ["alps?", "loire?"], config=cfg)
    isolated(lambda: "".join(chain.stream("paris?", config=cfg)))
    isolated(asyncio.run, chain.ainvoke("lyon?", config=cfg))
    by_spans, by_handler = drain(tp, span_side, hand_side)
    assert len(by_handler) == 5
    assert summary(by_spans) == summary(by_handler)
    assert all(len(r.context_ids) == 3 for r in by_spans)
    assert by_spans[0].context_ids[0] == "doc-rivers"


@pytest.mark.parametrize("instrumented", BOTH, indirect=True)
def test_simple_chain_tokens_match(instrumented):
    _, handler, tp, span_side, hand_side = instrumented
    chain = simple_chain()
    for q in ("a", "b", "c"):
        isolated(chain.invoke, {"context": "ctx", "question": q}, config={"callbacks": [handler]})
    by_spans, by_handler = drain(tp, span_side, hand_side)
    assert summary(by_spans) == summary(by_handler)
    assert not any(r.tokens_estimated for r in by_spans)


@pytest.mark.parametrize("instrumented", [BOTH[1]], indirect=True)
def test_traceloop_without_content_still_counts_answers_and_tokens(instrumented, monkeypatch):
    monkeypatch.setenv("TRACELOOP_TRACE_CONTENT", "false")
    retriever, handler, tp, span_side, hand_side = instrumented
    chain = rag_chain(retriever=retriever)
    for q in ("one", "two"):
        isolated(chain.invoke, q, config={"callbacks": [handler]})
    by_spans, by_handler = drain(tp, span_side, hand_side)
    assert len(by_spans) == len(by_handler) == 2
    assert all(r.answer is None for r in by_spans)
    assert [(r.prompt_tokens, r.completion_tokens) for r in by_spans] == \
        [(r.prompt_tokens, r.completion_tokens) for r in by_handler]
    (stream,) = span_side[1].snapshot().streams
    assert stream.answers_total == 2 and stream.answers_without_text_total == 2


# One answer per user turn on spans, as on the handler: a query rewriter, a LangGraph agent's
# tool-call steps, a judge after the answer are intermediate calls.
@pytest.mark.parametrize("instrumented", BOTH, indirect=True)
@pytest.mark.parametrize("shape", ["rewriter", "agent", "judged"])
def test_spans_pick_the_same_answers_as_the_handler(instrumented, shape):
    retriever, handler, tp, span_side, hand_side = instrumented
    if shape == "agent":
        run_all(tool_agent(retriever), handler, agent=True)
    elif shape == "rewriter":
        run_all(rewriter_rag_chain(retriever=retriever), handler)
    else:
        run_all(judged_chain(), handler)
    by_spans, by_handler = drain(tp, span_side, hand_side)
    assert len(by_handler) == len(by_spans) == 20
    assert [r.answer for r in by_spans] == [r.answer for r in by_handler]
    assert [r.context_ids for r in by_spans] == [r.context_ids for r in by_handler]
    assert intermediate(span_side[0]) == intermediate(hand_side[0]) == 20
    assert stream_of(span_side[1]).answers_without_text_total == 0


# Each answer counted once whatever capture paths are active: instrument() (the handler on every
# LangChain run) plus a CollapseSpanProcessor on a provider a third-party instrumentor feeds.
@pytest.fixture
def zero_code():
    from collapse_otel.capture.instrumentor import uninstrument
    from collapse_otel.worker import pipeline as pl

    before = pl.set_pipeline(None)
    yield
    uninstrument()
    pl.set_pipeline(before)


@pytest.mark.parametrize("labels", ["instrument", "run metadata"])
@pytest.mark.parametrize("make_instrumentor", [openinference, traceloop])
def test_handler_and_span_processor_count_each_answer_once(make_instrumentor, labels, zero_code,
                                                          monkeypatch):
    from collapse_otel.capture.instrumentor import instrument

    tp = provider_for(make_instrumentor)
    if labels == "instrument":
        inst, cfg = instrument(service="rag", release="2.0", prometheus=False), {}
    else:   # labels only in the run metadata: the span path must read the same ones
        monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
        inst = instrument(prometheus=False)
        cfg = {"metadata": {"service": "rag", "release": "2.0"}}
    # the pipeline instrument() installed as the default (named: the provider is shared by the
    # module's tests and keeps its processors, which would feed a later test's default)
    proc = CollapseSpanProcessor(pipeline=inst.pipeline)
    tp.add_span_processor(proc)
    chain = rag_chain(retriever=VaryingRetriever(
        with_metadata_ids=make_instrumentor is traceloop))
    for i in range(50):
        isolated(chain.invoke, f"question {i}?", config=cfg)
    tp.force_flush()
    p = inst.pipeline
    assert proc.force_flush(5000) and p.flush(5)
    (stream,) = p.aggregator.snapshot().streams
    assert (stream.key.service, stream.key.release, stream.answers_total) == ("rag", "2.0", 50)
    assert stream.window.get("context_distinct_ratio") == pytest.approx(101 / 150)
    assert p.stats().duplicates == 50


@pytest.mark.parametrize("instrumented", [BOTH[1]], indirect=True)
def test_spans_without_text_pair_with_the_handlers_answers(instrumented, monkeypatch):
    """TRACELOOP_TRACE_CONTENT=false: the span has tokens but no text; the handler's record,
    with the text, is the one kept."""
    monkeypatch.setenv("TRACELOOP_TRACE_CONTENT", "false")
    retriever, _, tp, (p, agg, proc), _ = instrumented
    handler = CollapseCallbackHandler(pipeline=p, emit_spans=False)   # one pipeline for both
    chain = rag_chain(retriever=retriever)
    for q in ("one", "two", "three"):
        isolated(chain.invoke, q, config={"callbacks": [handler]})
    tp.force_flush()
    assert proc.force_flush(5000) and p.flush(5)
    assert len(agg.records) == 3 and all(r.answer and r.source == "langchain"
                                         for r in agg.records)


# The user's question of each turn, from the turn's chain span: the handler's, never the
# rewritten query or the prompt with the retrieved documents.
@pytest.mark.parametrize("instrumented", BOTH, indirect=True)
@pytest.mark.parametrize("shape", ["rag", "rewriter", "agent"])
def test_spans_give_the_handlers_questions(instrumented, shape):
    retriever, handler, tp, span_side, hand_side = instrumented
    runnable = {"rag": lambda: rag_chain(retriever=retriever),
                "rewriter": lambda: rewriter_rag_chain(retriever=retriever),
                "agent": lambda: tool_agent(retriever)}[shape]()
    run_all(runnable, handler, agent=shape == "agent")
    by_spans, by_handler = drain(tp, span_side, hand_side)
    assert [r.question for r in by_handler] == QUESTIONS
    assert [r.question for r in by_spans] == QUESTIONS
