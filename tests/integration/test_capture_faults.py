"""Fault injection: whatever goes wrong inside collapse-otel, the user's chain is untouched.

10,000 calls through a real LangChain chain whose answers include 10 MB texts, lone
surrogates (invalid UTF-8), NUL/control bytes and answers that make the signal code raise,
into a pipeline whose queue is too small for a slow aggregator: outputs equal the run without
collapse-otel, nothing escapes, and every record is either analysed or counted as dropped.
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from opentelemetry.sdk.trace import TracerProvider

from collapse_otel.capture.langchain_handler import CollapseCallbackHandler
from collapse_otel.capture.observe import observe
from collapse_otel.capture.span_processor import CollapseSpanProcessor
from collapse_otel.config import CollapseConfig
from collapse_otel.engine import Aggregator
from collapse_otel.worker.pipeline import Pipeline
from tests.support.capture import simple_chain

SECRET = "zebra-quartz-7781 confidential answer text"
CALLS = 10_000


class SlowPoisonExtractor:
    """Entity extraction that raises on 'poison' and is slow, so the queue overflows."""

    def extract(self, text):
        if "poison" in text:
            raise RuntimeError("extractor crashed")
        time.sleep(0.0005)
        return []

    def spans(self, text):
        return []


class ScriptedChatModel(BaseChatModel):
    """A real chat model answering from a script (no chunking, unlike GenericFakeChatModel,
    which would split a 10 MB answer into a million chunks)."""

    script: Any

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=next(self.script))])


def hostile_messages():
    """A cycle of 2,500 answers: one 10 MB answer, the rest hostile or ordinary."""
    big = "ten megabytes of text " * (10 * 1024 * 1024 // 22)
    answers = [
        AIMessage(content=SECRET, usage_metadata={"input_tokens": 5, "output_tokens": 6,
                                                  "total_tokens": 11}),
        AIMessage(content=big),
        AIMessage(content="lone surrogate \udcff\ud800 invalid utf-8"),
        AIMessage(content="binary \x00\x01\x02\xff\ufffe bytes"),
        AIMessage(content="poison pill for the signal code"),
        AIMessage(content=""),
    ]
    ordinary = [AIMessage(content=f"ordinary answer number {i}") for i in range(2500 - 6)]
    return [*answers, *ordinary]


def run_chain(callbacks):
    chain = simple_chain(ScriptedChatModel(script=itertools.cycle(hostile_messages())))
    cfg = {"callbacks": callbacks}
    return [chain.invoke({"context": "c", "question": str(i)}, config=cfg) for i in range(CALLS)]


def test_ten_thousand_calls_with_faults(caplog):
    expected = run_chain([])
    cfg = CollapseConfig.resolve(environ={}, queue_size=64, batch_size=16)
    p = Pipeline(cfg, aggregator=Aggregator(cfg, entity_extractor=SlowPoisonExtractor()))
    handler = CollapseCallbackHandler(pipeline=p, tracer_provider=TracerProvider())
    with caplog.at_level(logging.DEBUG):
        got = run_chain([handler])
        assert p.flush(30)
    assert got == expected
    stats = p.stats()
    dropped = stats.dropped
    assert stats.records_processed + sum(dropped.values()) == CALLS
    assert dropped.get("queue_full", 0) > 0
    assert set(dropped) <= {"queue_full", "signal_error"}
    assert "capture_error" not in dropped
    assert SECRET not in caplog.text and "ten megabytes" not in caplog.text
    assert not handler._parents and not handler._llm and not handler._context


def test_signal_errors_are_counted_per_record():
    cfg = CollapseConfig.resolve(environ={}, queue_size=100_000)
    p = Pipeline(cfg, aggregator=Aggregator(cfg, entity_extractor=SlowPoisonExtractor()))
    for i in range(60):
        assert observe("poison " + str(i) if i % 3 == 0 else f"fine answer {i}", pipeline=p)
    assert p.flush(30)
    assert p.stats().dropped == {"signal_error": 20}
    assert p.stats().records_processed == 40


def test_observe_never_raises_on_garbage():
    p = Pipeline(CollapseConfig.resolve(environ={}))
    weird = [b"\xff\xfe\x00binary", "\udcff", 12345, object(), None, "x" * 10_000_000]
    results = [observe(a, prompt_tokens="NaN", completion_tokens=-3, context_ids=[None, 5, b"id"],
                       release=object(), cohort=["list"], pipeline=p) for a in weird]
    assert all(isinstance(r, bool) for r in results)
    assert observe("ok", pipeline="not a pipeline") is False  # type: ignore[arg-type]
    assert p.flush(30)
    assert p.stats().records_processed + sum(p.stats().dropped.values()) == len(weird)


def test_span_processor_survives_hostile_spans():
    cfg = CollapseConfig.resolve(environ={}, queue_size=64)
    p = Pipeline(cfg)
    proc = CollapseSpanProcessor(pipeline=p)
    tp = TracerProvider()
    tp.add_span_processor(proc)
    tracer = tp.get_tracer("hostile")
    variants = [
        {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": "many",
         "gen_ai.output.messages": "[{" * 1000},
        {"openinference.span.kind": "LLM", "llm.output_messages.0.message.content": 3.5,
         "llm.token_count.prompt": -1},
        {"openinference.span.kind": "RETRIEVER", "retrieval.documents.0.document.metadata": "{",
         "output.value": "[1, 2"},
        {"gen_ai.operation.name": "retrieval", "gen_ai.retrieval.documents": '{"id": 1}'},
        {"gen_ai.operation.name": "chat", "gen_ai.output.messages": '"' + "x" * 3_000_000 + '"'},
        {"fi.span.kind": "LLM", "gen_ai.usage.output_tokens": 1e300},
    ]
    for i in range(CALLS):
        with tracer.start_as_current_span("s", attributes=variants[i % len(variants)]):
            pass
    assert proc.force_flush(30_000)
    stats = p.stats()
    assert set(stats.dropped) <= {"queue_full"}
    llm_spans = sum(1 for i in range(CALLS) if i % len(variants) in (0, 1, 4, 5))
    retr = CALLS - llm_spans
    assert stats.records_processed + stats.dropped.get("queue_full", 0) >= llm_spans
    assert stats.records_processed <= llm_spans and retr > 0
