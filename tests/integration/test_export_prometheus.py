"""Prometheus export: the collector against the contract, the encoder, release info, promtool."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
    Summary,
    generate_latest,
)
from prometheus_client.parser import text_string_to_metric_families

from collapse_otel.engine.snapshot import (
    SCORE_BUCKETS,
    TOKEN_BUCKETS,
    AggregatorSnapshot,
    WindowSignals,
)
from collapse_otel.export import names as N
from collapse_otel.export.encode import encode_text, generate_text
from collapse_otel.export.prometheus import CollapseCollector
from collapse_otel.records import OTHER_RELEASE, StreamKey
from collapse_otel.worker.health import PipelineStats
from tests.support.promtool_metrics import promtool_problems
from tests.support.synthetic import synthetic_snapshot, synthetic_stream

STATS = PipelineStats(dropped={"queue_full": 3, "signal_error": 1}, queue_depth=7,
                      processing_seconds=1.25, records_processed=900,
                      outcomes_unmatched={"feedback": 2}, references=5)


def _registry(snapshot, stats=STATS, release_order=None) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(CollapseCollector(lambda: snapshot, (lambda: stats) if stats else None,
                                        release_order))
    return registry


def _samples(exposition: bytes) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(exposition.decode())
            for s in fam.samples}


def test_every_contract_metric_is_exposed_with_snapshot_values():
    keys = [StreamKey("svc", r, "default") for r in ("v1", "v2", "v3")]
    snapshot = synthetic_snapshot(keys, streams_folded_total=4, outcomes=True)
    samples = _samples(generate_latest(_registry(snapshot)))
    names = {name for name, _ in samples}
    for metric in N.ALL_METRICS:
        expected = (f"{metric.name}_count" if metric.kind == "histogram" else metric.sample_name)
        assert expected in names, metric.name
    for stream in snapshot.streams:
        base = {"service": "svc", "release": stream.key.release, "cohort": "default"}
        lab = frozenset(base.items())
        w = stream.window
        assert samples[("collapse_answers_total", lab)] == stream.answers_total
        for kind in ("exact", "near"):
            k = frozenset({**base, "kind": kind}.items())
            assert samples[("collapse_duplicate_answers_total", k)] == \
                stream.duplicate_answers_total[kind]
        assert samples[("collapse_duplicate_answer_ratio",
                        frozenset({**base, "kind": "exact"}.items()))] == w.get("exact_duplicate_ratio")
        assert samples[("collapse_repeated_ngram_ratio", frozenset(
            {**base, "scope": "within_answer"}.items()))] == w.get("repeated_ngram_within_answer")
        for n in (1, 2, 3, 4):
            assert samples[("collapse_distinct_ngram_ratio",
                            frozenset({**base, "n": str(n)}.items()))] == w.get(f"distinct_{n}")
        for key, se in w.stderr.items():
            assert samples[("collapse_window_signal_stderr",
                            frozenset({**base, "signal": key}.items()))] == se
        assert samples[("collapse_embedding_vendi_score", lab)] == w.get("embedding_vendi_score")
        assert samples[("collapse_completion_tokens_cv", lab)] == w.get("completion_tokens_cv")
        for looping, n in stream.agent_turns_total.items():
            assert samples[("collapse_agent_turns_total",
                            frozenset({**base, "looping": looping}.items()))] == n
            assert samples[("collapse_window_agent_turns",
                            frozenset({**base, "looping": looping}.items()))] == \
                w.agent_turns[looping]
        for kind, n in stream.agent_loops_total.items():
            assert samples[("collapse_agent_loops_total",
                            frozenset({**base, "kind": kind}.items()))] == n
        assert samples[("collapse_agent_loop_length_count", lab)] == \
            stream.agent_loop_length.count
        assert samples[("collapse_agent_loop_length_bucket",
                        frozenset({**base, "le": "1.0"}.items()))] == \
            stream.agent_loop_length.bucket_counts[0]
        assert samples[("collapse_agent_loop_ratio", lab)] == w.get("agent_loop_ratio")
        hist = stream.completion_tokens
        running = 0
        for bound, count in zip((*TOKEN_BUCKETS, float("inf")), hist.bucket_counts, strict=True):
            running += count
            le = "+Inf" if bound == float("inf") else str(float(bound))
            assert samples[("collapse_completion_tokens_bucket",
                            frozenset({**base, "le": le}.items()))] == running
        assert samples[("collapse_completion_tokens_count", lab)] == hist.count
        assert samples[("collapse_completion_tokens_sum", lab)] == hist.sum
        for rating in ("up", "down"):
            assert samples[("collapse_feedback_total", frozenset(
                {**base, "rating": rating}.items()))] == stream.feedback_total[rating]
            assert samples[("collapse_window_feedback", frozenset(
                {**base, "rating": rating}.items()))] == w.feedback[rating]
        for (evaluator, result), n in stream.evaluations_total.items():
            assert samples[("collapse_evaluations_total", frozenset(
                {**base, "evaluator": evaluator, "result": result}.items()))] == n
        for evaluator, scores in stream.evaluation_scores.items():
            labels = {**base, "evaluator": evaluator}
            for (bound, running), le in zip(scores.cumulative(),
                                            (*map(str, SCORE_BUCKETS), "+Inf"), strict=True):
                assert samples[("collapse_evaluation_score_bucket",
                                frozenset({**labels, "le": le}.items()))] == running, bound
            assert samples[("collapse_evaluation_score_sum", frozenset(labels.items()))] == \
                scores.sum
        assert samples[("collapse_thumbs_down_ratio", lab)] == w.get("thumbs_down_ratio")
    assert samples[("collapse_streams_folded_total", frozenset())] == 4
    assert samples[("collapse_streams", frozenset())] == 3
    assert samples[("collapse_records_dropped_total", frozenset({("reason", "queue_full")}))] == 3
    assert samples[("collapse_queue_depth", frozenset())] == 7
    assert samples[("collapse_processing_seconds_total", frozenset())] == 1.25
    assert samples[("collapse_records_processed_total", frozenset())] == 900


def test_gauges_without_a_value_are_omitted_not_zero():
    full = synthetic_stream(StreamKey("s", "full", "c"))
    thin = synthetic_stream(StreamKey("s", "thin", "c"), full=False, answers=2)
    assert thin.window.get("embedding_vendi_score") is None
    samples = _samples(generate_latest(_registry(AggregatorSnapshot((full, thin), 0, 0.0))))
    vendi = {dict(lab)["release"] for name, lab in samples if name == "collapse_embedding_vendi_score"}
    assert vendi == {"full"}
    windows = {dict(lab)["release"] for name, lab in samples if name == "collapse_window_answers"}
    assert windows == {"full", "thin"}


def test_release_info_follows_configured_order_then_first_seen():
    def stream(service, release, first_seen):
        return synthetic_stream(StreamKey(service, release, "default"), first_seen=first_seen)

    snapshot = AggregatorSnapshot((
        stream("a", "v3", 1.0), stream("a", "v1", 3.0), stream("a", "canary", 0.5),
        stream("a", "v2", 2.0), stream("a", OTHER_RELEASE, 0.1), stream("b", "x", 9.0),
        stream("b", "y", 8.0)), 0, 10.0)
    samples = _samples(generate_latest(_registry(snapshot, release_order=["v1", "v2", "v3"])))
    info = {(dict(lab)["service"], dict(lab)["release"]): dict(lab)["previous_release"]
            for name, lab in samples if name == "collapse_release_info"}
    # Configured releases first in their order, then unlisted ones by first-seen; no __other__.
    assert info == {("a", "v1"): "", ("a", "v2"): "v1", ("a", "v3"): "v2", ("a", "canary"): "v3",
                    ("b", "y"): "", ("b", "x"): "y"}


def test_fast_encoder_is_byte_identical_to_generate_latest():
    registry = _registry(synthetic_snapshot(40, outcomes=True))
    Counter("plain_requests", "Requests.", ["path"], registry=registry).labels('a"b\n\\').inc(3)
    Gauge("plain_temperature", "Temp\\erature\nline.", registry=registry).set(-1.5e-7)
    Histogram("plain_latency_seconds", "Latency.", registry=registry).observe(0.3)
    Summary("plain_size_bytes", "Size.", registry=registry).observe(12)
    Info("plain_build", "Build.", registry=registry).info({"version": "1.0"})
    Enum("plain_state", "State.", states=["a", "b"], registry=registry).state("b")
    assert generate_text(registry) == generate_latest(registry)
    assert encode_text([]) == b""


def test_describe_takes_no_snapshot_and_double_registration_is_refused():
    def boom():
        raise AssertionError("snapshot taken at registration")

    registry = CollectorRegistry(auto_describe=True)
    registry.register(CollapseCollector(boom))
    with pytest.raises(ValueError):
        registry.register(CollapseCollector(boom))


def test_a_failing_source_never_breaks_the_hosts_scrape(caplog):
    def broken():
        raise RuntimeError("aggregator down")

    registry = CollectorRegistry()
    Counter("host_requests", "The host's own metric.", registry=registry).inc()
    registry.register(CollapseCollector(broken, broken))
    for _ in range(3):
        text = generate_latest(registry)
    assert b"host_requests_total 1.0" in text and b"collapse_" not in text
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 2


def test_failing_stats_still_export_the_signals():
    def broken():
        raise RuntimeError("stats down")

    registry = CollectorRegistry()
    snapshot = synthetic_snapshot(2)
    registry.register(CollapseCollector(lambda: snapshot, broken))
    samples = _samples(generate_latest(registry))
    assert any(name == "collapse_answers_total" for name, _ in samples)
    assert not any(name == "collapse_queue_depth" for name, _ in samples)


def test_promtool_reports_nothing():
    assert promtool_problems(generate_text(_registry(synthetic_snapshot(30, outcomes=True)))) \
        == []


def test_window_signals_default_is_a_valid_exposition():
    empty = AggregatorSnapshot((synthetic_stream(StreamKey("s", "r", "c"), full=False),), 0, 0.0)
    text = generate_text(_registry(empty, stats=None))
    assert _samples(text)
    assert WindowSignals().get("embedding_vendi_score") is None


def test_no_negative_zero_in_the_exposition():
    """A value that comes out as -0.0 (the coverage deficit of a sample with no entity named
    once: 1 - 1) is exported as 0.0: "-0.0" in a scrape reads as a sign flip."""
    from collapse_otel.engine.window import WindowInputs, compute_window
    from collapse_otel.signals.accumulators import MomentStats
    from collapse_otel.signals.answer_sample import SampledAnswer

    rows = [np.eye(4)[i].astype(np.float16).tobytes() for i in range(4)]
    sample = [SampledAnswer(f"answer {i} names ada", (7,), (), row) for i, row in enumerate(rows)]
    window = compute_window(WindowInputs(4, 4, 0, 0, MomentStats(), MomentStats(), sample))
    assert window.get("entity_coverage_deficit") == 0.0
    assert all(str(v) != "-0.0" for v in (*window.values.values(), *window.stderr.values()))
    text = generate_latest(_registry(AggregatorSnapshot((), 0, 0.0))).decode()
    assert "-0.0" not in text
