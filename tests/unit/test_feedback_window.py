"""Feedback and evaluation counts in the aggregator: cumulative totals and window counts against
exact batch counts, the window rates and their Agresti-Coull errors, state bytes (older versions
still load), the multiprocess merge, and archived workers."""

from __future__ import annotations

import math
import random
import time
from collections import Counter

import numpy as np

from collapse_otel.config import CollapseConfig
from collapse_otel.engine.aggregator import Aggregator
from collapse_otel.engine.feeding import observe_all
from collapse_otel.engine.snapshot import SCORE_BUCKETS
from collapse_otel.engine.stream import StreamState
from collapse_otel.engine.window import proportion_se
from collapse_otel.multiprocess import MultiprocessSource, mark_process_dead
from collapse_otel.records import AnswerRecord, StreamKey
from collapse_otel.records.outcomes import EVALUATION, FEEDBACK, Outcome
from collapse_otel.signals.codec import Writer
from tests.support.worker_state import write_worker_state

KEY = StreamKey("rag", "v1", "default")
EVALUATORS = ("faithfulness", "relevance", "helpfulness")


def events(n: int, seed: int = 0, start: float | None = None, step: float = 1.0
           ) -> list[Outcome]:
    rng = random.Random(seed)
    start = time.time() - n * step if start is None else start
    out = []
    for i in range(n):
        ts = start + i * step
        if rng.random() < 0.5:
            out.append(Outcome(FEEDBACK, rating=rng.choice(("up", "up", "down", None)),
                               score=rng.choice((None, rng.randint(1, 5))), timestamp=ts))
        else:
            out.append(Outcome(EVALUATION, evaluator=rng.choice(EVALUATORS),
                               result=rng.choice(("pass", "pass", "fail", "unknown")),
                               score=rng.choice((None, round(rng.uniform(-0.2, 1.2), 3),
                                                 rng.randint(1, 10))), timestamp=ts))
    return [e for e in out if e.rating or e.score is not None or e.evaluator]


def _cumulative(scores: list[float]) -> list[int]:
    """Prometheus semantics, batch: scores <= each bound, then all of them."""
    arr = np.array(scores, dtype=float)
    return [int((arr <= b).sum()) for b in SCORE_BUCKETS] + [len(scores)]


def test_totals_and_window_counts_equal_exact_batch_counts():
    agg = Aggregator(CollapseConfig(refresh_seconds=0, window_seconds=1e9))
    evs = events(3000)
    for i in range(0, len(evs), 97):   # in batches, as the worker hands them over
        assert agg.observe_outcomes([(KEY, e) for e in evs[i:i + 97]]) == len(evs[i:i + 97])
    (stream,) = agg.snapshot(max_age=0).streams
    fb = [e for e in evs if e.kind == FEEDBACK]
    ev = [e for e in evs if e.kind == EVALUATION]
    ratings = Counter(e.rating for e in fb if e.rating)
    assert dict(stream.feedback_total) == {"up": ratings["up"], "down": ratings["down"]}
    assert dict(stream.evaluations_total) == {
        (name, result): sum(e.evaluator == name and e.result == result for e in ev)
        for name in EVALUATORS for result in ("pass", "fail", "unknown")}
    fb_scores = [e.score for e in fb if e.score is not None]
    assert [c for _, c in stream.feedback_scores.cumulative()] == _cumulative(fb_scores)
    assert math.isclose(stream.feedback_scores.sum, sum(fb_scores))
    for name in EVALUATORS:
        scores = [e.score for e in ev if e.evaluator == name and e.score is not None]
        hist = stream.evaluation_scores[name]
        assert [c for _, c in hist.cumulative()] == _cumulative(scores)
        assert math.isclose(hist.sum, sum(scores), abs_tol=1e-9)
    w = stream.window   # nothing rotated: the window holds every event
    results = Counter(e.result for e in ev)
    assert dict(w.feedback) == dict(stream.feedback_total)
    assert dict(w.evaluations) == {r: results[r] for r in ("pass", "fail", "unknown")}
    rated = ratings["up"] + ratings["down"]
    assert w.get("thumbs_down_ratio") == ratings["down"] / rated
    assert w.stderr["thumbs_down_ratio"] == proportion_se(ratings["down"], rated)
    judged = results["pass"] + results["fail"]
    assert w.get("evaluation_fail_ratio") == results["fail"] / judged
    assert w.stderr["evaluation_fail_ratio"] == proportion_se(results["fail"], judged)


def test_the_window_slides_with_its_panes_while_totals_stay():
    agg = Aggregator(CollapseConfig(refresh_seconds=0, window_seconds=100.0))
    evs = events(400, seed=1, step=0.5)   # 200 seconds of events
    for e in evs:
        agg.observe_outcomes([(KEY, e)])
    state = agg._streams[KEY]
    since = state.previous.start if state.previous is not None else state.current.start
    inside = [e for e in evs if e.timestamp >= since]
    (stream,) = agg.snapshot(max_age=0).streams
    assert dict(stream.window.feedback) == {
        r: sum(e.rating == r for e in inside) for r in ("up", "down")}
    assert dict(stream.window.evaluations) == {
        r: sum(e.result == r for e in inside if e.evaluator) for r in ("pass", "fail", "unknown")}
    assert len(inside) < len(evs)
    assert stream.feedback_total["up"] == sum(e.rating == "up" for e in evs)
    # an hour later the window is empty (its rates undefined), the totals are not
    state.advance_clock(evs[-1].timestamp + 3600)
    (stream,) = agg.snapshot(max_age=0).streams
    assert dict(stream.window.feedback) == {"up": 0, "down": 0}
    assert stream.window.get("thumbs_down_ratio") is None
    assert stream.feedback_total["up"] == sum(e.rating == "up" for e in evs)


def test_streams_without_feedback_export_none_and_answers_are_unchanged():
    recs = [AnswerRecord(f"answer number {i} about the {i % 7} river", release="v1",
                         service="rag") for i in range(200)]
    plain, rated = Aggregator(CollapseConfig(refresh_seconds=0)), \
        Aggregator(CollapseConfig(refresh_seconds=0))
    observe_all(plain, recs)
    observe_all(rated, recs)
    rated.observe_outcomes([(KEY, e) for e in events(50)])
    (a,), (b,) = plain.snapshot(max_age=0).streams, rated.snapshot(max_age=0).streams
    assert a.feedback_total == {} and a.evaluations_total == {} and a.window.feedback == {}
    assert a.feedback_scores is None and "thumbs_down_ratio" not in a.window.values
    assert b.feedback_total and b.window.evaluations
    assert {k: v for k, v in b.window.values.items()
            if k not in ("thumbs_down_ratio", "evaluation_fail_ratio")} == dict(a.window.values)


def _old_stream_bytes(state: StreamState) -> bytes:
    """The stream bytes an earlier release wrote: stream version 2 (no feedback totals), its
    panes version 3 (no feedback counts)."""
    def pane(p):
        from collapse_otel.signals import answer_sample
        w = Writer(40, 3).f64(p.start).u64(p.answers).u64(p.answers_with_text)
        w.blob(p.duplicates.to_bytes()).blob(p.seq_rep.to_bytes())
        w.blob(p.completion.to_bytes()).blob(p.sample.to_bytes(answer_sample.encode))
        return w.getvalue()

    w = Writer(41, 2)
    for part in state.key:
        w.text(part)
    w.f64(state.first_seen).u64(state.pane_answers).f64(state.pane_seconds)
    w.u64(state._panes_made).u64(len(state.counts))
    for name in sorted(state.counts):
        w.text(name).u64(state.counts[name])
    w.array(np.array(state.prompt_hist), "<i8").array(np.array(state.completion_hist), "<i8")
    w.blob(pane(state.previous) if state.previous else b"").blob(pane(state.current))
    return w.getvalue()


def test_state_bytes_keep_feedback_and_older_versions_still_load():
    cfg = CollapseConfig(refresh_seconds=0)
    agg = Aggregator(cfg)
    observe_all(agg, [AnswerRecord(f"answer {i} on the bridge", service="rag", release="v1")
                      for i in range(50)])
    agg.observe_outcomes([(KEY, e) for e in events(300)])
    restored = Aggregator.from_bytes(agg.to_bytes(), cfg)
    (a,), (b,) = agg.snapshot(max_age=0).streams, restored.snapshot(max_age=0).streams
    for field in ("feedback_total", "evaluations_total", "evaluation_scores",
                  "feedback_scores"):
        assert getattr(a, field) == getattr(b, field), field
    assert a.window == b.window
    old = StreamState.from_bytes(_old_stream_bytes(agg._streams[KEY]), threshold=0.8,
                                 minhasher=agg._minhasher, sample_size=cfg.sample_size)
    snap = old.snapshot(old.window_signals())
    assert snap.answers_total == a.answers_total and snap.feedback_total == {}
    assert snap.window.feedback == {} and snap.window.window_answers == 50


def test_multiprocess_merge_sums_feedback_and_evaluations(tmp_path):
    cfg = CollapseConfig(refresh_seconds=0)
    now = time.time()
    evs = events(900, seed=4, start=now - 900)
    one = Aggregator(cfg)
    one.observe_outcomes([(KEY, e) for e in evs])
    for w in range(3):
        agg = Aggregator(cfg)
        agg.observe_outcomes([(KEY, e) for e in evs[w::3]])
        write_worker_state(tmp_path, 100 + w, agg, unmatched=w)
    source = MultiprocessSource(tmp_path, cfg)
    (merged,), (single,) = source.snapshot().streams, one.snapshot(max_age=0).streams
    assert merged.feedback_total == single.feedback_total
    assert merged.evaluations_total == single.evaluations_total
    for a, b in ((merged.feedback_scores, single.feedback_scores),
                 *((merged.evaluation_scores[n], single.evaluation_scores[n])
                   for n in EVALUATORS)):
        assert a.bucket_counts == b.bucket_counts and math.isclose(a.sum, b.sum)
    assert merged.window.feedback == single.window.feedback
    assert merged.window.evaluations == single.window.evaluations
    assert merged.window.get("evaluation_fail_ratio") == single.window.get(
        "evaluation_fail_ratio")
    stats = source.stats()
    assert stats.outcomes_unmatched == {"feedback": 3} and stats.references == 30
    # a dead worker's counts move into the archive and stay
    assert mark_process_dead(101, tmp_path, config=cfg)
    source = MultiprocessSource(tmp_path, cfg)
    (after,) = source.snapshot().streams
    assert after.feedback_total == single.feedback_total
    assert after.evaluations_total == single.evaluations_total
    assert source.stats().outcomes_unmatched == {"feedback": 3}


def test_merging_past_the_evaluator_cap_keeps_every_result(tmp_path):
    """Past ``max_evaluators`` which names keep their own series depends on the order each
    process met them in; the counts by result are exact and the cap holds."""
    cfg = CollapseConfig(refresh_seconds=0, max_evaluators=2)
    evs = events(900, seed=5, start=time.time() - 900)
    for w in range(3):
        agg = Aggregator(cfg)
        agg.observe_outcomes([(KEY, e) for e in evs[w::3]])
        write_worker_state(tmp_path, 100 + w, agg)
    (merged,) = MultiprocessSource(tmp_path, cfg).snapshot().streams
    names = {e for e, _ in merged.evaluations_total}
    assert len(names - {"__other__"}) <= 2
    by_result = Counter()
    for (_, result), n in merged.evaluations_total.items():
        by_result[result] += n
    assert by_result == Counter(e.result for e in evs if e.evaluator)

