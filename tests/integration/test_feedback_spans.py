"""OTel GenAI evaluation results (``gen_ai.evaluation.result``) on real OTel SDK spans: read by
CollapseSpanProcessor and by ``collapse-otel serve`` (OTLP/HTTP from the SDK's exporter, and a
real serve process), as span events and as zero-duration evaluation spans; each lands in the
release of the answer it evaluates; the explanation is never kept."""

from __future__ import annotations

import json

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from collapse_otel.capture.span_processor import CollapseSpanProcessor
from tests.support.capture import make_pipeline
from tests.support.serve import ServerProcess, by_stream, get, value, wait_for
from tests.support.serve_service import start

SECRET = "the answer made up a refund policy"
CUTS = {"v1": 2, "v2": 8}


def emit(tracer, release_tag: str, cut: int, n: int = 20) -> None:
    """``n`` chat answers; each gets a relevance result as a span event (failed for the first
    ``cut``), and a faithfulness result as a zero-duration child span."""
    for i in range(n):
        with tracer.start_as_current_span("chat model") as span:
            span.set_attributes({
                "gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 20,
                "gen_ai.usage.output_tokens": 9, "gen_ai.response.id": f"{release_tag}-{i}",
                "gen_ai.completion.0.content": f"Answer {i} of {release_tag} about the harbour."})
            span.add_event("gen_ai.evaluation.result", {
                "gen_ai.evaluation.name": "relevance",
                "gen_ai.evaluation.score.value": 0.2 if i < cut else 0.9,
                "gen_ai.evaluation.score.label": "not_relevant" if i < cut else "relevant",
                "gen_ai.evaluation.explanation": SECRET})
            with tracer.start_as_current_span("gen_ai.evaluation.result") as ev:
                ev.set_attributes({"gen_ai.evaluation.name": "faithfulness",
                                   "gen_ai.evaluation.score.value": 1 if i % 2 else 4,
                                   "gen_ai.evaluation.explanation": SECRET})
        # an evaluation without a name cannot be read: dropped and counted
        if i == 0:
            with tracer.start_as_current_span("chat model") as span:
                span.add_event("gen_ai.evaluation.result", {"gen_ai.evaluation.score.value": 1})


def providers(*processors) -> dict[str, TracerProvider]:
    out = {}
    for release in CUTS:
        tp = TracerProvider(resource=Resource.create({"service.name": "helpdesk",
                                                      "service.version": release}))
        for p in processors:
            tp.add_span_processor(p)
        out[release] = tp
    return out


def check(streams: dict) -> None:
    """Relevance: fails per the cut (labels); faithfulness: 'unknown' without a threshold."""
    for release, cut in CUTS.items():
        s = streams[("helpdesk", release, "default")]
        assert s.answers_total == 20
        ev = {k: v for k, v in s.evaluations_total.items() if v}
        assert ev == {("relevance", "fail"): cut, ("relevance", "pass"): 20 - cut,
                      ("faithfulness", "unknown"): 20}
        assert s.window.get("evaluation_fail_ratio") == cut / 20
        assert s.evaluation_scores["faithfulness"].sum == 50.0


def test_span_processor_reads_evaluation_events_and_spans():
    p, agg = make_pipeline(refresh_seconds=0, evaluation_thresholds="")
    proc = CollapseSpanProcessor(pipeline=p)
    for release, tp in providers(proc).items():
        emit(tp.get_tracer("t"), release, CUTS[release])
    assert proc.force_flush(5000)
    check({tuple(s.key): s for s in agg.snapshot(max_age=0).streams})
    assert p.stats().dropped == {"invalid_evaluation": 2}
    assert SECRET.encode() not in agg.to_bytes() and SECRET not in repr(agg.snapshot())


def test_a_later_evaluation_finds_its_answer_by_response_id():
    """An evaluation job running later, in its own trace and under its own resource, names
    the answer by gen_ai.response.id: it lands in the answer's release."""
    p, agg = make_pipeline(refresh_seconds=0, evaluation_thresholds="helpfulness>=3")
    proc = CollapseSpanProcessor(pipeline=p)
    tps = providers(proc)
    emit(tps["v2"].get_tracer("t"), "v2", 0, n=3)
    assert proc.force_flush(5000)
    judge = TracerProvider(resource=Resource.create({"service.name": "eval-job",
                                                    "service.version": "judge-1"}))
    judge.add_span_processor(proc)
    with judge.get_tracer("t").start_as_current_span("evaluate") as span:
        for i, score in enumerate((4, 1)):
            span.add_event("gen_ai.evaluation.result", {
                "gen_ai.evaluation.name": "helpfulness", "gen_ai.evaluation.score.value": score,
                "gen_ai.response.id": f"v2-{i}"})
        span.add_event("gen_ai.evaluation.result", {          # names an unknown answer
            "gen_ai.evaluation.name": "helpfulness", "gen_ai.evaluation.score.value": 5,
            "gen_ai.response.id": "never-seen"})
    assert proc.force_flush(5000)
    streams = {tuple(s.key): s for s in agg.snapshot(max_age=0).streams}
    v2 = streams[("helpdesk", "v2", "default")]
    assert v2.evaluations_total[("helpfulness", "pass")] == 1
    assert v2.evaluations_total[("helpfulness", "fail")] == 1
    assert streams[("eval-job", "judge-1", "default")].evaluations_total[
        ("helpfulness", "pass")] == 1   # the span's own labels


def test_serve_reads_them_from_the_sdk_otlp_exporter_like_the_processor():
    svc, agg = start()
    base = f"http://127.0.0.1:{svc.ports['otlp_http']}"
    try:
        local_p, local_agg = make_pipeline(refresh_seconds=0)
        proc = CollapseSpanProcessor(pipeline=local_p)
        exporter = SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces"))
        for release, tp in providers(exporter, proc).items():
            emit(tp.get_tracer("t"), release, CUTS[release])
            tp.force_flush()
        assert proc.force_flush(5000) and svc.receiver.drain(10)
        served = {tuple(s.key): s for s in agg.snapshot(max_age=0).streams}
        check(served)
        local = {tuple(s.key): s for s in local_agg.snapshot(max_age=0).streams}
        for key, s in served.items():
            assert s.evaluations_total == local[key].evaluations_total
        text = get(f"{base}/metrics").decode()
        assert by_stream(text, "collapse_evaluations_total", evaluator="relevance",
                         result="fail") == {("helpdesk", "v1", "default"): 2.0,
                                            ("helpdesk", "v2", "default"): 8.0}
        assert value(text, "collapse_records_dropped_total", reason="invalid_evaluation") == 2
        assert SECRET not in text
    finally:
        svc.stop()


def test_a_real_serve_process_counts_evaluations_per_release(tmp_path):
    with ServerProcess(tmp_path, env={"COLLAPSE_OTEL_REFRESH_SECONDS": "0"}) as server:
        exporter = SimpleSpanProcessor(OTLPSpanExporter(endpoint=server.url))
        for release, tp in providers(exporter).items():
            emit(tp.get_tracer("t"), release, CUTS[release])
            tp.force_flush()

        def counted():
            """Every result in: the failed ones are each release's first answers, so the
            fail counts are complete while passes still arrive (the ratio then runs high)."""
            text = server.metrics()
            got = {result: by_stream(text, "collapse_window_evaluations", result=result)
                   for result in ("fail", "pass")}
            want = {result: {("helpdesk", release, "default"): float(n if result == "fail"
                                                                     else 20 - n)
                             for release, n in CUTS.items()} for result in ("fail", "pass")}
            return text if got == want else None

        text = wait_for(counted, 30, "evaluation results on /metrics")
        ratios = by_stream(text, "collapse_evaluation_fail_ratio")
        assert ratios == {("helpdesk", "v1", "default"): 2 / 20,
                          ("helpdesk", "v2", "default"): 8 / 20}
        assert SECRET not in text and json.dumps(SECRET)[1:-1] not in text


def test_a_result_inside_an_open_trace_waits_for_its_answer():
    """The answer is held until the trace's root span ends; an evaluation span that ends before
    it (and ``record_evaluation(trace_id=...)`` in the request) still lands in the answer's
    release (span-level ``collapse.release=canary``), not in the resource's ``stable``."""
    import collapse_otel
    from tests.support.waiting import wait_progressing

    p, agg = make_pipeline(refresh_seconds=0, evaluation_thresholds="")
    proc = CollapseSpanProcessor(pipeline=p)
    tp = TracerProvider(resource=Resource.create({"service.name": "helpdesk",
                                                  "service.version": "stable"}))
    tp.add_span_processor(proc)
    tracer = tp.get_tracer("t")
    with tracer.start_as_current_span("agent turn") as root:
        with tracer.start_as_current_span("chat model") as span:
            span.set_attributes({
                "gen_ai.operation.name": "chat", "collapse.release": "canary",
                "gen_ai.usage.input_tokens": 20, "gen_ai.usage.output_tokens": 9,
                "gen_ai.completion.0.content": "Opening hours are 9 to 5."})
        with tracer.start_as_current_span("gen_ai.evaluation.result") as ev:
            ev.set_attributes({"gen_ai.evaluation.name": "relevance",
                               "gen_ai.evaluation.score.label": "not_relevant"})
        collapse_otel.record_evaluation("groundedness", passed=False,
                                        trace_id=root.get_span_context().trace_id, pipeline=p)
        # the worker has seen both results (they wait for their answer) before the root ends
        wait_progressing(lambda: len(p._waiting_outcomes) == 2, "both results waiting",
                         progress=lambda: (len(p._queue), len(p._waiting_outcomes)), poll=0.02)
        assert not any(s.evaluations_total for s in agg.snapshot(max_age=0).streams)
    assert proc.force_flush(5000)
    streams = {tuple(s.key): s for s in agg.snapshot(max_age=0).streams}
    canary = streams[("helpdesk", "canary", "default")]
    assert canary.answers_total == 1
    assert {k: v for k, v in canary.evaluations_total.items() if v} == {
        ("relevance", "fail"): 1, ("groundedness", "fail"): 1}
    assert not any(s.evaluations_total for k, s in streams.items() if k[1] != "canary")
    assert p.stats().outcomes_unmatched == {}


def test_a_result_for_a_trace_never_seen_is_counted_by_its_labels_on_flush():
    import collapse_otel

    p, agg = make_pipeline(refresh_seconds=0, evaluation_thresholds="")
    collapse_otel.record_evaluation("groundedness", passed=True, trace_id=0xFEED,
                                    release="v7", pipeline=p)
    assert p.flush(5)
    (stream,) = agg.snapshot(max_age=0).streams
    assert stream.key.release == "v7" and stream.evaluations_total[("groundedness", "pass")] == 1
