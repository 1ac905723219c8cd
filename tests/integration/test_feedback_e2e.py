"""End to end: a real LangChain runnable with the CollapseCallbackHandler answers for two
releases; users rate answers by the run id of their turn (the root run id the app set, or the
LLM call's own run id), or by the OTel trace id of the request; /metrics is scraped over HTTP and
every count sits in the release and cohort of the answer it rates."""

from __future__ import annotations

import itertools
import uuid

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from opentelemetry.sdk.trace import TracerProvider

import collapse_otel
from collapse_otel.capture.langchain_handler import CollapseCallbackHandler
from collapse_otel.export import start_prometheus_server
from tests.support.capture import make_pipeline
from tests.support.serve import by_stream, get, value

QUESTIONS = [f"What opens at {h} o'clock near gate {g}?" for h in range(6) for g in range(5)]
DOWN = {"v1": 3, "v2": 8}     # thumbs down per release, of 30 rated answers (all in beta)


class LLMRuns(BaseCallbackHandler):
    """Remembers the run id of each chat model call (what an app's own callback sees)."""

    def __init__(self) -> None:
        self.ids: list[uuid.UUID] = []

    def on_chat_model_start(self, serialized, messages, *, run_id, **kwargs) -> None:
        self.ids.append(run_id)


def chain(release: str):
    model = GenericFakeChatModel(messages=itertools.cycle(
        [AIMessage(f"{release}: the museum opens at {h} and the market at {h + 2}.")
         for h in range(7)]))
    return ChatPromptTemplate.from_template("{q}") | model | StrOutputParser()


def test_feedback_by_run_id_lands_in_the_release_of_the_answer():
    pipeline, _ = make_pipeline(refresh_seconds=0, release="unset")
    tracer_provider = TracerProvider()
    tracer = tracer_provider.get_tracer("app")
    handler = CollapseCallbackHandler(pipeline=pipeline, tracer_provider=tracer_provider)
    rated: dict[str, list[dict]] = {"v1": [], "v2": []}
    for release in ("v1", "v2"):
        runnable, llm_runs = chain(release), LLMRuns()
        for i, q in enumerate(QUESTIONS):
            root = uuid.uuid4()
            with tracer.start_as_current_span("request") as request:
                runnable.invoke({"q": q}, config={
                    "callbacks": [handler, llm_runs], "run_id": root,
                    "metadata": {"release": release, "cohort": "beta" if i % 3 == 0 else "main"}})
            trace_id = request.get_span_context().trace_id
            # how users name the answer: the root run id, the LLM run id, the trace id
            ref = ({"run_id": root}, {"run_id": str(llm_runs.ids[-1])},
                   {"trace_id": f"{trace_id:032x}"})[i % 3]
            rated[release].append(ref)
    assert pipeline.flush(5)
    for release, refs in rated.items():
        for i, ref in enumerate(refs):
            assert collapse_otel.record_feedback(
                "down" if i < DOWN[release] * 3 and i % 3 == 0 else "up", pipeline=pipeline,
                **ref)
            assert collapse_otel.record_evaluation(
                "groundedness", label="hallucinated" if i % 10 == 0 else "grounded",
                pipeline=pipeline, **ref)
    with start_prometheus_server(0, source=pipeline) as server:
        assert pipeline.flush(5)
        text = get(server.url).decode()
    down = by_stream(text, "collapse_feedback_total", rating="down")
    up = by_stream(text, "collapse_feedback_total", rating="up")
    # every third answer (i % 3 == 0) is cohort beta: the downs are all there
    assert down == {("unknown_service", "v1", "beta"): DOWN["v1"],
                    ("unknown_service", "v1", "main"): 0,
                    ("unknown_service", "v2", "beta"): DOWN["v2"],
                    ("unknown_service", "v2", "main"): 0}
    assert sum(up.values()) == 60 - DOWN["v1"] - DOWN["v2"]
    assert by_stream(text, "collapse_window_feedback", rating="down") == down
    ratio = by_stream(text, "collapse_thumbs_down_ratio")
    assert ratio[("unknown_service", "v2", "beta")] == DOWN["v2"] / 10
    assert ratio[("unknown_service", "v1", "main")] == 0
    fails = by_stream(text, "collapse_evaluations_total", evaluator="groundedness",
                      result="fail")
    # answers 0 (beta), 10 and 20 (main) of each release were judged hallucinated
    assert fails == {("unknown_service", r, "beta"): 1 for r in ("v1", "v2")} | \
        {("unknown_service", r, "main"): 2 for r in ("v1", "v2")}
    assert by_stream(text, "collapse_answers_total") == {
        ("unknown_service", r, c): n for r in ("v1", "v2") for c, n in (("beta", 10),
                                                                         ("main", 20))}
    assert "unset" not in text   # nothing fell back to the process default
    assert value(text, "collapse_outcomes_unmatched_total") == 0
