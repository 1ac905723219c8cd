"""Real third-party instrumentations over OTLP: a LangChain RAG chain instrumented with
OpenInference or OpenLLMetry (traceloop) exports its spans to ``collapse-otel serve``; the
same spans also go through an in-process CollapseSpanProcessor. Both must give the same
answers, tokens, context ids and labels, and count the same intermediate LLM calls (a query
rewriter before the answer, a LangGraph agent's tool-call steps): one answer per question.

Each instrumentor runs in its own process (traceloop cannot be instrumented twice in one).
"""

from __future__ import annotations

import json
import sys
from collections import Counter

import pytest

from collapse_otel.config import CollapseConfig
from collapse_otel.serve.service import Service
from collapse_otel.serve.settings import ServeSettings
from tests.support.capture import RecordingAggregator
from tests.support.serve import REPO
from tests.support.waiting import run_watched

CLIENT = r"""
import json, sys
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from collapse_otel.capture.span_processor import CollapseSpanProcessor
from tests.support.capture import (DocRetriever, make_pipeline, rag_chain,
                                   rewriter_rag_chain, tool_agent)

which, url, shape = sys.argv[1], sys.argv[2], sys.argv[3]
if which == "openinference":
    from openinference.instrumentation.langchain import LangChainInstrumentor as I
else:
    from opentelemetry.instrumentation.langchain import LangchainInstrumentor as I
tp = TracerProvider(resource=Resource.create({"service.name": "rag", "service.version": "4.2"}))
tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
pipeline, agg = make_pipeline()
proc = CollapseSpanProcessor(pipeline=pipeline)
tp.add_span_processor(proc)
I().instrument(tracer_provider=tp)
retriever = DocRetriever(with_metadata_ids=which != "openinference")
if shape == "agent":
    agent = tool_agent(retriever)
    for q in ("rivers?", "alps?", "loire?", "paris?"):
        agent.invoke({"messages": [("user", q)]})
else:
    chain = (rag_chain if shape == "rag" else rewriter_rag_chain)(retriever=retriever)
    for q in ("rivers?", "alps?", "loire?", "paris?"):
        chain.invoke(q)
tp.force_flush()
assert proc.force_flush(5000)
tp.shutdown()
print(sum(pipeline.stats().intermediate.values()))
print(json.dumps([[r.answer, r.prompt_tokens, r.completion_tokens, list(r.context_ids),
                   r.service, r.release, r.cohort, r.tokens_estimated, r.question]
                  for r in agg.records]))
"""


def _rows(records) -> Counter:
    return Counter(json.dumps([r.answer, r.prompt_tokens, r.completion_tokens,
                               list(r.context_ids), r.service, r.release, r.cohort,
                               r.tokens_estimated, r.question]) for r in records)


@pytest.mark.parametrize("shape,intermediate", [("rag", 0), ("rewriter", 4), ("agent", 4)])
@pytest.mark.parametrize("which", ["openinference", "traceloop"])
def test_instrumented_chain_over_otlp_equals_span_processor(which, shape, intermediate):
    cfg = CollapseConfig.resolve(environ={})
    agg = RecordingAggregator(cfg)
    svc = Service(ServeSettings(otlp_http_port=0, otlp_grpc_port=-1, metrics_port=-1), cfg,
                  aggregator=agg).start()
    try:
        url = f"http://127.0.0.1:{svc.ports['otlp_http']}/v1/traces"
        result = run_watched([sys.executable, "-c", CLIENT, which, url, shape], cwd=REPO)
        assert result.returncode == 0, result.stderr[-2000:]
        lines = result.stdout.splitlines()
        local = Counter(json.dumps(row) for row in json.loads(lines[-1]))
        assert svc.receiver.drain(10)
        assert sum(local.values()) == 4 and int(lines[-2]) == intermediate
        assert _rows(agg.records) == local
        assert sum(svc.receiver.pipeline.stats().intermediate.values()) == intermediate
        assert all(len(r.context_ids) == 3 for r in agg.records)
        assert {r.release for r in agg.records} == {"4.2"}
        # the user's question, from the turn's chain span (the rewriter's query is not it)
        assert sorted(r.question for r in agg.records) == ["alps?", "loire?", "paris?", "rivers?"]
    finally:
        svc.stop()
