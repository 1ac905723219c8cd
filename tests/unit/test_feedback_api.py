"""record_feedback / record_evaluation: they land in the stream of the answer they name, never
raise, never block, count what they drop; pass or fail is decided as documented; the worker's
map of answer references is bounded."""

from __future__ import annotations

import logging
import tracemalloc
import uuid

import pytest

import collapse_otel
from collapse_otel.config import CollapseConfig
from collapse_otel.records import AnswerRecord, StreamKey
from collapse_otel.records.outcomes import (
    EVALUATION,
    FEEDBACK,
    Outcome,
    judge_of,
    parse_thresholds,
    response_ref,
    run_ref,
    trace_ref,
)
from collapse_otel.worker.references import AnswerReferences
from tests.support.capture import make_pipeline


def _streams(agg) -> dict[tuple[str, str, str], object]:
    return {tuple(s.key): s for s in agg.snapshot(max_age=0).streams}


def _answer(release: str, cohort: str = "default", **refs: object) -> AnswerRecord:
    keys = tuple(r for r in (run_ref(refs.get("run")), trace_ref(refs.get("trace")),
                             response_ref(refs.get("response"))) if r)
    return AnswerRecord(f"an answer of {release} {uuid.uuid4()}", service="rag",
                        release=release, cohort=cohort, refs=keys)


def test_feedback_lands_in_the_stream_of_the_answer_it_names():
    p, agg = make_pipeline(release="v9", service="rag")
    runs = {r: uuid.uuid4() for r in ("v1", "v2")}
    p.submit(_answer("v1", "canary", run=runs["v1"]))
    p.submit(_answer("v2", trace=0xABC, response="resp-7"))
    p.submit(_answer("v2", run=runs["v2"]))
    calls = [
        collapse_otel.record_feedback("down", run_id=runs["v1"], pipeline=p),
        collapse_otel.record_feedback(True, run_id=str(runs["v1"]).upper(), pipeline=p),
        collapse_otel.record_feedback(False, trace_id=f"{0xABC:032x}", pipeline=p),
        collapse_otel.record_feedback("thumbs_down", trace_id=0xABC, pipeline=p),
        collapse_otel.record_feedback(score=4, response_id="resp-7", pipeline=p),
        collapse_otel.record_evaluation("relevance", 0.9, run_id=runs["v2"], pipeline=p),
        # an explicit label wins over the answer's; a reference nobody saw: the defaults
        collapse_otel.record_feedback("up", run_id=runs["v2"], cohort="beta", pipeline=p),
        collapse_otel.record_feedback("down", run_id=uuid.uuid4(), pipeline=p),
        collapse_otel.record_feedback("down", pipeline=p),
    ]
    assert all(calls)
    assert p.flush(5)
    streams = _streams(agg)
    assert dict(streams[("rag", "v1", "canary")].feedback_total) == {"up": 1, "down": 1}
    v2 = streams[("rag", "v2", "default")]
    assert dict(v2.feedback_total) == {"up": 0, "down": 2}
    assert v2.feedback_scores.count == 1 and v2.feedback_scores.sum == 4.0
    assert v2.evaluations_total[("relevance", "unknown")] == 1   # no threshold, no label
    assert dict(streams[("rag", "v2", "beta")].feedback_total) == {"up": 1, "down": 0}
    assert dict(streams[("rag", "v9", "default")].feedback_total) == {"up": 0, "down": 2}
    stats = p.stats()
    assert stats.outcomes_unmatched == {"feedback": 1}   # the unknown run id only
    assert stats.references == 4 and stats.dropped == {}   # 2 run ids, a trace, a response


def test_feedback_in_the_same_batch_as_its_answer_finds_it():
    p, agg = make_pipeline(batch_size=1000)
    run = uuid.uuid4()
    for _ in range(3):   # queued before the worker starts its batch
        p.submit(_answer("v1", run=run))
        collapse_otel.record_feedback("down", run_id=run, pipeline=p)
    assert p.flush(5)
    assert set(_streams(agg)) == {("rag", "v1", "default")}


@pytest.mark.parametrize("call, reason", [
    (lambda p: collapse_otel.record_feedback(pipeline=p), "invalid_feedback"),
    (lambda p: collapse_otel.record_feedback("meh", pipeline=p), "invalid_feedback"),
    (lambda p: collapse_otel.record_feedback(2, pipeline=p), "invalid_feedback"),
    (lambda p: collapse_otel.record_feedback(score=float("nan"), pipeline=p), "invalid_feedback"),
    (lambda p: collapse_otel.record_feedback(score="lots", pipeline=p), "invalid_feedback"),
    (lambda p: collapse_otel.record_feedback("up", run_id="not-a-uuid", pipeline=p),
     "invalid_feedback"),
    (lambda p: collapse_otel.record_feedback("up", trace_id=0, pipeline=p), "invalid_feedback"),
    (lambda p: collapse_otel.record_feedback("up", trace_id="xyz", pipeline=p),
     "invalid_feedback"),
    (lambda p: collapse_otel.record_feedback("up", response_id=17, pipeline=p),
     "invalid_feedback"),
    (lambda p: collapse_otel.record_feedback("up", release=object(), pipeline=p),
     "invalid_feedback"),
    (lambda p: collapse_otel.record_feedback("up", "extra", pipeline=p), "invalid_feedback"),
    (lambda p: collapse_otel.record_feedback("up", ratingg="down", pipeline=p),
     "invalid_feedback"),
    (lambda p: collapse_otel.record_evaluation(pipeline=p), "invalid_evaluation"),
    (lambda p: collapse_otel.record_evaluation("  ", pipeline=p), "invalid_evaluation"),
    (lambda p: collapse_otel.record_evaluation("judge", label=3, pipeline=p),
     "invalid_evaluation"),
    (lambda p: collapse_otel.record_evaluation("judge", passed="yes", pipeline=p),
     "invalid_evaluation"),
    (lambda p: collapse_otel.record_evaluation("judge", float("inf"), pipeline=p),
     "invalid_evaluation"),
    (lambda p: collapse_otel.record_evaluation("judge", trace_id=-1, pipeline=p),
     "invalid_evaluation"),
])
def test_bad_input_is_dropped_counted_and_logged_without_its_value(call, reason, caplog):
    p, agg = make_pipeline()
    with caplog.at_level(logging.DEBUG, logger="collapse_otel"):
        assert call(p) is False
    assert p.stats().dropped == {reason: 1}
    assert p.flush(5) and agg.snapshot().streams == ()
    (log,) = [r.getMessage() for r in caplog.records]
    assert "dropped" in log
    for value in ("meh", "not-a-uuid", "xyz", "lots", "extra", "yes", "bad\x00"):
        assert value not in log


def test_a_full_queue_drops_and_counts_without_blocking():
    p, agg = make_pipeline(queue_size=3)
    p._closed = False
    p._thread = object()   # a worker that never drains: the queue fills up
    results = [collapse_otel.record_feedback("up", pipeline=p) for _ in range(5)]
    assert results == [True, True, True, False, False]
    assert p.stats().dropped == {"queue_full": 2}
    p._thread = None


def test_the_default_pipeline_is_used_and_nothing_raises_without_one():
    collapse_otel.shutdown()
    try:
        assert collapse_otel.record_feedback("up", release="v1") is True
        assert collapse_otel.record_evaluation("judge", passed=False, release="v1") is True
        assert collapse_otel.flush()
        (stream,) = collapse_otel.get_pipeline().aggregator.snapshot().streams
        assert stream.key.release == "v1" and stream.feedback_total["up"] == 1
        assert stream.evaluations_total[("judge", "fail")] == 1
    finally:
        collapse_otel.shutdown()


# -- pass or fail ------------------------------------------------------------------------

def test_pass_or_fail_from_passed_then_label_then_threshold_else_unknown():
    cfg = CollapseConfig(evaluation_thresholds="faithfulness>=0.7, toxicity<=0.2, *=3")
    judge = judge_of(cfg.evaluation_pass_labels, cfg.evaluation_fail_labels,
                     cfg.evaluation_thresholds)
    assert judge.result("faithfulness", False, "pass", 0.99) == "fail"      # passed wins
    assert judge.result("faithfulness", None, "Not relevant", 0.99) == "fail"  # then the label
    assert judge.result("faithfulness", None, "hallucinated", None) == "fail"
    assert judge.result("x", None, "Correct", None) == "pass"
    assert judge.result("faithfulness", None, "meh", 0.7) == "pass"         # then the score
    assert judge.result("faithfulness", None, None, 0.69) == "fail"
    assert judge.result("toxicity", None, None, 0.2) == "pass"
    assert judge.result("toxicity", None, None, 0.21) == "fail"
    assert judge.result("stars", None, None, 3) == "pass"                   # * for the rest
    assert judge.result("stars", None, None, 2.5) == "fail"
    plain = judge_of(CollapseConfig().evaluation_pass_labels,
                     CollapseConfig().evaluation_fail_labels, "")
    assert plain.result("stars", None, "meh", 4.0) == "unknown"
    assert plain.result("stars", None, None, None) == "unknown"


def test_labels_and_thresholds_come_from_the_environment():
    cfg = CollapseConfig.resolve(environ={
        "COLLAPSE_OTEL_EVALUATION_PASS_LABELS": "ok, Good Enough",
        "COLLAPSE_OTEL_EVALUATION_FAIL_LABELS": "nope",
        "COLLAPSE_OTEL_EVALUATION_THRESHOLDS": "helpfulness>=4",
        "COLLAPSE_OTEL_MAX_EVALUATORS": "2", "COLLAPSE_OTEL_FEEDBACK_REFERENCES": "100"})
    p, agg = make_pipeline(**{f: getattr(cfg, f) for f in (
        "evaluation_pass_labels", "evaluation_fail_labels", "evaluation_thresholds",
        "max_evaluators", "feedback_references")})
    for name, kw in (("a", {"label": "good-enough"}), ("a", {"label": "pass"}),
                     ("b", {"label": "NOPE"}), ("helpfulness", {"score": 4}),
                     ("helpfulness", {"score": 3.5})):
        assert collapse_otel.record_evaluation(name, pipeline=p, **kw)
    assert p.flush(5)
    (stream,) = agg.snapshot().streams
    counts = {k: v for k, v in stream.evaluations_total.items() if v}
    # "pass" is no longer a pass label; the third evaluator name folds into __other__
    assert counts == {("a", "pass"): 1, ("a", "unknown"): 1, ("b", "fail"): 1,
                      ("__other__", "pass"): 1, ("__other__", "fail"): 1}
    assert CollapseConfig.resolve(environ={"COLLAPSE_OTEL_EVALUATION_THRESHOLDS": "x>"}) \
        .evaluation_thresholds == ""   # malformed: warned and ignored, never raised
    with pytest.raises(ValueError):
        parse_thresholds("faithfulness")


def test_evaluator_names_are_bounded_per_stream_and_safe_as_labels():
    p, agg = make_pipeline()
    hostile = ["bad\x00name", "x" * 500, "\udcff", 'quote"d\n']
    for i in range(40):
        assert collapse_otel.record_evaluation(f"judge-{i}", passed=i % 2 == 0, pipeline=p)
    for name in hostile:
        assert collapse_otel.record_evaluation(name, passed=False, pipeline=p)
    assert p.flush(5)
    (stream,) = agg.snapshot().streams
    names = {e for e, _ in stream.evaluations_total}
    assert len(names) == 33 and "__other__" in names
    other = {r: n for (e, r), n in stream.evaluations_total.items() if e == "__other__"}
    assert other == {"pass": 4, "fail": 8, "unknown": 0}   # judges 32-39, then the hostile
    assert sum(stream.evaluations_total.values()) == 44
    p2, agg2 = make_pipeline()
    for name in hostile:
        collapse_otel.record_evaluation(name, passed=True, pipeline=p2)
    assert p2.flush(5)
    (s2,) = agg2.snapshot().streams
    for name, _ in s2.evaluations_total:
        assert len(name) <= 128 and name.encode("utf-8") and "\x00" not in name


def test_explanations_are_accepted_and_never_kept():
    p, agg = make_pipeline()
    secret = "the answer invented a refund policy"
    assert collapse_otel.record_evaluation("faithfulness", 0.1, label="fail",
                                           explanation=secret, pipeline=p)
    assert p.flush(5)
    assert secret not in repr(agg.snapshot()) and secret.encode() not in agg.to_bytes()


# -- the reference map -------------------------------------------------------------------

def test_reference_map_is_bounded_and_keeps_recent_references():
    refs = AnswerReferences(max_entries=1000)
    key = StreamKey("s", "r", "c")
    for i in range(10_000):
        refs.note([AnswerRecord("a", refs=(f"run:{i:032x}",), service="s", release="r",
                                cohort="c")])
        assert len(refs) <= 1000
    assert refs.find([f"run:{9_999:032x}"]) == key
    assert refs.find([f"run:{9_000:032x}"]) is None         # older than the last 500
    assert refs.find([f"run:{0:032x}"]) is None
    # a reference looked up again moves to the newer generation and survives a turnover
    assert refs.find([f"run:{9_600:032x}"]) == key
    for i in range(20_000, 20_499):
        refs.note([AnswerRecord("a", refs=(f"run:{i:032x}",))])
    assert refs.find([f"run:{9_600:032x}"]) == key
    assert refs.find([f"run:{9_700:032x}"]) is None
    unmatched = Outcome(FEEDBACK, refs=(f"run:{1:032x}",), rating="up")
    from_span = Outcome(EVALUATION, refs=(f"run:{1:032x}",), fallback=("s", None, None))
    defaults = StreamKey("d", "dr", "dc")
    assert refs.stream_of(unmatched, defaults) == defaults
    assert refs.stream_of(from_span, defaults) == StreamKey("s", "dr", "dc")
    assert refs.unmatched == {"feedback": 1}


def test_reference_map_memory_at_the_default_bound():
    """docs/feedback.md states the bound: 65,536 references, 9.3 MiB at the peak."""
    tracemalloc.start()
    try:
        refs = AnswerReferences(65_536)
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()       # the fullest moment: just before a generation turns
        for i in range(200_000):
            refs._put(i * 0x9E3779B97F4A7C15 % (1 << 64), StreamKey("s", "r", "c"))
            assert len(refs) <= 65_536
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert peak < 9.5 * (1 << 20), peak


def test_feedback_naming_a_dropped_second_sighting_lands_where_the_answer_counted():
    """The LangChain handler (release from instrument()) and a span path (no release on the
    span) saw one answer: the span's copy is dropped, and feedback by its response id or trace
    id goes to the handler's release, not to the span's default one."""
    p, agg = make_pipeline(refresh_seconds=0)
    text = "Opening hours are 9 to 5 on weekdays."
    p.submit(AnswerRecord(text, prompt_tokens=12, completion_tokens=9, release="v2",
                          source="langchain", refs=(f"run:{7:032x}",)))
    p.submit(AnswerRecord(text, prompt_tokens=12, completion_tokens=9, source="spans",
                          refs=(f"trace:{9:032x}", "response:chatcmpl-1")))
    assert p.flush(5)
    collapse_otel.record_feedback("down", response_id="chatcmpl-1", pipeline=p)
    collapse_otel.record_feedback("down", trace_id=9, pipeline=p)
    assert p.flush(5)
    streams = {s.key.release: s for s in agg.snapshot(max_age=0).streams}
    assert streams["v2"].answers_total == 1 and p.stats().duplicates == 1
    assert streams["v2"].feedback_total["down"] == 2
    assert all(s.feedback_total.get("down", 0) == 0 for r, s in streams.items() if r != "v2")


def test_odd_numbers_and_a_bad_pipeline_never_raise():
    import numpy as np

    p, agg = make_pipeline(refresh_seconds=0)
    assert collapse_otel.record_feedback("up", score=np.float32(0.5), pipeline=p)
    assert collapse_otel.record_evaluation("judge", score=np.int64(3), pipeline=p)
    assert not collapse_otel.record_evaluation("judge", score=10 ** 400, pipeline=p)
    assert not collapse_otel.record_feedback("up", pipeline=object())
    assert not collapse_otel.record_feedback("sideways", pipeline=object())
    assert p.flush(5)
    assert p.stats().dropped == {"invalid_evaluation": 1}
    (stream,) = agg.snapshot(max_age=0).streams
    assert stream.feedback_total["up"] == 1 and stream.evaluation_scores["judge"].sum == 3.0
