"""The Aggregator end to end: direction on real data, windows, stream cap, bad input, threads."""

from __future__ import annotations

import math
import threading
import time

import pytest

from collapse_otel.config import CollapseConfig
from collapse_otel.engine.aggregator import Aggregator
from collapse_otel.engine.feeding import observe_all, window_of
from collapse_otel.records import OTHER_RELEASE, AnswerRecord, StreamKey
from collapse_otel.signals import batch
from collapse_otel.signals.registry import COVERAGE
from collapse_otel.text import RuleBasedEntityExtractor, normalize, text_hash, tokenize
from tests.support.data import load_texts

FILES = [f"{d}_{m}.raw_data.json" for d in ("pubmed", "writing", "xsum")
         for m in ("davinci", "gpt-3.5-turbo", "gpt-4")]


def fresh(**kw) -> Aggregator:
    return Aggregator(CollapseConfig(refresh_seconds=0, **kw))


def test_model_written_repeats_more_within_answers_nine_of_nine():
    agg = fresh()
    for name in FILES:
        data = load_texts(name)
        observe_all(agg, [AnswerRecord(t, release=name, cohort=c)
                          for c in ("original", "sampled") for t in data[c]])
    snap = agg.snapshot()
    wins = 0
    for name in FILES:
        human = window_of(snap, StreamKey("unknown_service", name, "original"))
        model = window_of(snap, StreamKey("unknown_service", name, "sampled"))
        wins += model.get("repeated_ngram_within_answer") > human.get("repeated_ngram_within_answer")
    assert wins == 9


def test_window_signals_equal_batch_definitions():
    texts = load_texts("writing_gpt-3.5-turbo.raw_data.json")["sampled"]
    texts = texts + texts[:20]  # 20 exact duplicates
    agg = fresh(sample_size=1000)
    observe_all(agg, [AnswerRecord(t, completion_tokens=len(t.split()), context_ids=(str(i % 7),))
                      for i, t in enumerate(texts)])
    w = agg.snapshot().streams[0].window
    norm = [normalize(t) for t in texts]
    tokens = [tokenize(t) for t in norm]
    assert w.window_answers == len(texts) and w.sample_answers == len(texts)
    assert w.get("exact_duplicate_ratio") == pytest.approx(batch.exact_duplicate_rate(norm))
    assert w.get("repeated_ngram_within_answer") == pytest.approx(batch.mean_seq_rep_n(tokens, 4))
    for n in (1, 2, 3, 4):
        # the reservoir holds every answer, in arrival order
        assert w.get(f"distinct_{n}") == pytest.approx(batch.distinct_n(tokens, n))
    assert w.get("self_repetition_score") == pytest.approx(batch.self_repetition_score(tokens))
    assert w.get("compression_ratio") == pytest.approx(batch.chunked_compression_ratio(norm))
    assert w.get("completion_tokens_cv") == pytest.approx(
        batch.coefficient_of_variation([len(t.split()) for t in texts]))
    extractor = RuleBasedEntityExtractor()
    entities = [[text_hash(e) for e in extractor.extract(t)] for t in texts]
    per_answer, _, _ = batch.entity_diversity(entities)
    assert w.get("entities_per_answer") == pytest.approx(per_answer)
    for prefix, kind, keys in (
            ("entity", "entities", (e for ents in entities for e in ents)),
            ("word", "words", (g for t in tokens for g in t)),
            ("bigram", "bigrams", (g for t in tokens for g in zip(t, t[1:], strict=False)))):
        want = batch.hill_at_coverage(keys, COVERAGE[kind])
        assert [w.get(f"{prefix}_hill_{q}") for q in (0, 1, 2)] == pytest.approx(want), kind
    ctx = batch.context_diversity([[str(i % 7)] for i in range(len(texts))])
    assert (w.get("context_distinct_ratio"), w.get("context_top10_share")) == pytest.approx(ctx)


def test_counters_and_histograms():
    agg = fresh()
    agg.observe(AnswerRecord("a b c", prompt_tokens=10, completion_tokens=100))
    agg.observe(AnswerRecord(None, prompt_tokens=20, completion_tokens=5000))
    agg.observe(AnswerRecord("x y", prompt_tokens=3, completion_tokens=4, tokens_estimated=True))
    s = agg.snapshot().streams[0]
    assert s.answers_total == 3 and s.answers_without_text_total == 1
    assert s.tokens_total == {"prompt": 30, "completion": 5100}
    assert s.tokens_estimated_total == {"prompt": 3, "completion": 4}
    assert s.completion_tokens.count == 3 and s.completion_tokens.sum == 5104
    cum = dict(s.completion_tokens.cumulative())
    assert cum[16.0] == 1 and cum[128.0] == 2 and cum[8192.0] == 3 and cum[math.inf] == 3


def test_count_window_slides_by_panes():
    agg = fresh(window_answers=100)
    observe_all(agg, [AnswerRecord(f"answer number {i} " * 3) for i in range(1000)])
    w = agg.snapshot().streams[0].window
    assert 50 <= w.window_answers <= 100


@pytest.mark.parametrize(("window", "seconds"), [(60, 600), (2000, 86_400)])
def test_batches_equal_one_answer_at_a_time(window, seconds):
    """observe_batch applies runs of one stream at once and cuts them where a pane rotates
    (by count and by time); the outcome is what observing each answer alone gives."""
    texts = [t for name in FILES[:6] for t in load_texts(name)["sampled"]]
    now = time.time()
    records = []
    texts = [texts[i - 3] if i % 4 == 3 else t for i, t in enumerate(texts)]  # repeats
    for i, text in enumerate(texts):
        records.append(AnswerRecord(
            None if i % 17 == 0 else text, release=f"v{i // 7 % 3}",
            completion_tokens=i % 300, prompt_tokens=None if i % 5 else 20,
            context_ids=(f"d{i % 11}",), timestamp=now - 3000 + i * 2,
            tokens_estimated=i % 4 == 0))
    one, many = fresh(window_answers=window, window_seconds=seconds), \
        fresh(window_answers=window, window_seconds=seconds)
    alone = [one.observe(r) for r in records]
    batched = [r for i in range(0, len(records), 300)
               for r in many.observe_batch(records[i:i + 300])]
    assert batched == alone
    assert sum(r.exact_duplicate for r in alone) > 20
    assert max(s.current.sample.seen for s in many._streams.values()) >= \
        (256 if window > 1000 else 0)
    assert one.to_bytes() == many.to_bytes()  # before a snapshot slides windows by the clock
    assert one.snapshot().streams == many.snapshot().streams


def test_an_undecidable_flag_does_not_break_a_batch():
    """tokens_estimated is read once, safely, before anything is applied."""
    import numpy as np

    agg = fresh()
    bad = AnswerRecord("an answer", completion_tokens=5, tokens_estimated=np.array([1, 2]))
    results = agg.observe_batch([AnswerRecord("first answer", completion_tokens=3), bad])
    assert all(r is not None for r in results)
    stream = agg.snapshot().streams[0]
    assert stream.answers_total == 2 and stream.tokens_total["completion"] == 8


def test_time_window_drops_old_panes():
    agg = fresh(window_seconds=100)
    now = time.time()
    observe_all(agg, [AnswerRecord(f"early {i}", timestamp=now - 500 + i) for i in range(10)])
    agg.observe(AnswerRecord("late", timestamp=now))
    assert agg.snapshot().streams[0].window.window_answers == 1
    assert agg.snapshot().streams[0].answers_total == 11


def test_window_slides_with_the_clock_without_new_records():
    agg = fresh(window_seconds=100)
    now = time.time()
    observe_all(agg, [AnswerRecord(f"old answer {i}", timestamp=now - 300) for i in range(10)])
    stream = agg.snapshot().streams[0]
    assert stream.window.window_answers == 0 and stream.answers_total == 10
    assert stream.window.get("embedding_vendi_score") is None  # nothing to say about an empty window


def test_idle_streams_are_evicted_and_free_their_place():
    agg = fresh(max_streams=2, stream_idle_seconds=60)
    now = time.time()
    agg.observe(AnswerRecord("a", release="retired", timestamp=now - 3600))
    agg.observe(AnswerRecord("b", release="live", timestamp=now))
    agg.observe(AnswerRecord("c", release="new", timestamp=now))
    keys = {k.release for k in agg.stream_keys()}
    assert keys == {"live", "new"} and agg.streams_evicted_total == 1
    assert agg.streams_folded_total == 0


def test_refresh_computes_off_the_scrape_path():
    agg = Aggregator(CollapseConfig(refresh_seconds=3600))
    observe_all(agg, [AnswerRecord(f"answer {i} about Lisbon", release=f"v{i % 3}")
                      for i in range(300)])
    assert agg.refresh(budget_seconds=10.0) == 3     # every stream, oldest first
    assert agg.refresh(budget_seconds=10.0) == 0     # nothing stale any more
    computed = {s.key: s.computed_at for s in agg._streams.values()}
    snap = agg.snapshot()                             # served from the cache
    assert {s.key: s.computed_at for s in agg._streams.values()} == computed
    assert all(s.window.window_answers == 100 for s in snap.streams)


def test_stream_cap_folds_into_other_and_bounds_memory():
    agg = fresh(max_streams=50)
    observe_all(agg, [AnswerRecord("same text here", release=f"r{i}") for i in range(100_000)],
                batch_size=4096)
    keys = agg.stream_keys()
    assert len(keys) == 51
    assert StreamKey("unknown_service", OTHER_RELEASE, "default") in keys
    snap = agg.snapshot()
    assert snap.streams_folded_total == 100_000 - 50
    assert sum(s.answers_total for s in snap.streams) == 100_000


def test_hostile_services_and_cohorts_still_bounded():
    agg = fresh(max_streams=10)
    observe_all(agg, [AnswerRecord("t", service=f"s{i}", cohort=f"c{i}", release=f"r{i}")
                      for i in range(5000)])
    assert len(agg.stream_keys()) <= 10 + 16 + 1


@pytest.mark.parametrize("answer", [
    "", " ", "\ud800 lone surrogate \udfff", "\x00\x01 binary \xff", "a" * 10_000_000,
    b"\xff\xfe invalid utf-8 bytes", 12345, None,
])
def test_bad_answers_never_raise(answer):
    agg = fresh(max_answer_chars=100_000)
    result = agg.observe(AnswerRecord(answer))
    assert result is not None
    s = agg.snapshot().streams[0]
    assert s.answers_total == 1
    if isinstance(answer, str) and len(answer) > 100_000:
        assert result.truncated and s.answers_truncated_total == 1


@pytest.mark.parametrize("tokens", [None, float("nan"), -5, float("inf"), "12", True, 1e30])
def test_bad_token_counts_are_ignored_not_raised(tokens):
    agg = fresh()
    agg.observe(AnswerRecord("fine", prompt_tokens=tokens, completion_tokens=tokens,
                             timestamp=float("nan")))
    s = agg.snapshot().streams[0]
    assert s.answers_total == 1
    assert s.tokens_total == {"prompt": 0, "completion": 0}


def test_hostile_labels_are_sanitised():
    agg = fresh()
    agg.observe(AnswerRecord("x", release='v"1\n{' + "z" * 300, cohort=b"\xff\xfe", service=""))
    key = agg.stream_keys()[0]
    assert len(key.release) == 128 and key.service == "unknown_service"
    key.cohort.encode("utf-8")  # valid UTF-8
    # two long names that differ only past the cut stay two streams
    agg.observe(AnswerRecord("x", release="r" * 300))
    agg.observe(AnswerRecord("x", release="r" * 299 + "s"))
    assert len({k.release for k in agg.stream_keys()}) == 3


def test_wrong_record_type_is_a_clear_error():
    with pytest.raises(TypeError):
        fresh().observe("not a record")  # type: ignore[arg-type]


def test_a_raising_entity_extractor_drops_only_that_record():
    class Flaky:
        def extract(self, text):
            if "boom" in text:
                raise RuntimeError("extractor bug")
            return []

    agg = Aggregator(CollapseConfig(refresh_seconds=0), entity_extractor=Flaky())
    results = agg.observe_batch([AnswerRecord("fine one"), AnswerRecord("boom"),
                                 AnswerRecord("fine two")])
    assert results[1] is None and results[0] is not None and results[2] is not None
    assert agg.errors_total == 1
    assert agg.snapshot().streams[0].answers_total == 2


def test_snapshot_is_safe_while_another_thread_observes():
    agg = Aggregator(CollapseConfig(refresh_seconds=0))
    texts = load_texts("xsum_gpt-4.raw_data.json")["original"]
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer():
        try:
            for i in range(20):
                observe_all(agg, [AnswerRecord(t, release=f"v{i % 3}") for t in texts])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            stop.set()

    t = threading.Thread(target=writer)
    t.start()
    snaps = 0
    while not stop.is_set():
        snap = agg.snapshot()
        for s in snap.streams:
            assert s.window.window_answers <= s.answers_total
        snaps += 1
    t.join()
    assert not errors and snaps > 0
    assert sum(s.answers_total for s in agg.snapshot().streams) == 20 * len(texts)


def test_state_round_trips_through_bytes():
    agg = fresh()
    for name in FILES[:3]:
        observe_all(agg, [AnswerRecord(t, release=name, completion_tokens=50, context_ids=("d",))
                          for t in load_texts(name)["sampled"]])
    restored = Aggregator.from_bytes(agg.to_bytes(), CollapseConfig(refresh_seconds=0))
    assert restored.snapshot().streams == agg.snapshot().streams
    # and it keeps detecting duplicates of answers seen before the restart
    again = load_texts(FILES[0])["sampled"][0]
    assert restored.observe(AnswerRecord(again, release=FILES[0])).exact_duplicate


def test_restore_rejects_corrupt_bytes_and_keeps_state():
    agg = fresh()
    agg.observe(AnswerRecord("keep me"))
    data = agg.to_bytes()
    with pytest.raises(ValueError):
        agg.restore(data[:-5])
    assert agg.snapshot().streams[0].answers_total == 1
