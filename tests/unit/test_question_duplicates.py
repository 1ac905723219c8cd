"""Question-aware duplicates: same-question repeats (an FAQ bot) are told from cross-question
ones (the same answer whatever is asked), exactly as a batch oracle counts them."""

from __future__ import annotations

import random

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from collapse_otel.config import CollapseConfig
from collapse_otel.engine import Aggregator
from collapse_otel.engine.analysis import QUESTION_CHARS, question_hash
from collapse_otel.export.prometheus import CollapseCollector
from collapse_otel.records import AnswerRecord
from collapse_otel.signals.duplicates import DuplicateIndex
from collapse_otel.text.hashing import text_hash
from collapse_otel.text.normalize import normalize
from tests.support.question_streams import collapsed_stream, faq_stream, fresh_answer, oracle


def _aggregate(pairs, **cfg) -> Aggregator:
    agg = Aggregator(CollapseConfig(refresh_seconds=0, **cfg))
    for answer, question in pairs:
        agg.observe(AnswerRecord(answer, service="svc", release="r1", question=question))
    return agg


@pytest.mark.parametrize("make", [faq_stream, collapsed_stream])
def test_streaming_counts_equal_the_batch_oracle(make) -> None:
    pairs = make(400)
    # some answers without a question: they count as duplicates, never as cross-question
    pairs = [(a, None if i % 10 == 9 else q) for i, (a, q) in enumerate(pairs)]
    stream = _aggregate(pairs).snapshot(max_age=0).streams[0]
    exact, cross, known = oracle(pairs)
    assert stream.duplicate_answers_total["exact"] == exact
    assert stream.cross_question_duplicates_total["exact"] == cross
    assert stream.answers_with_question_total == known


def test_faq_bot_and_collapsed_model_are_told_apart() -> None:
    faq = _aggregate(faq_stream(1500)).snapshot(max_age=0).streams[0].window
    collapsed = _aggregate(collapsed_stream(1500)).snapshot(max_age=0).streams[0].window
    # both repeat themselves a lot ...
    assert faq.get("exact_duplicate_ratio") > 0.5
    assert collapsed.get("exact_duplicate_ratio") > 0.4
    # ... but only the collapsed one repeats across questions
    assert faq.get("cross_question_duplicate_ratio") < 0.02
    assert collapsed.get("cross_question_duplicate_ratio") > 0.45
    assert faq.get("question_distinct_ratio") == pytest.approx(30 / 1500)
    assert collapsed.get("question_distinct_ratio") == 1.0
    for window in (faq, collapsed):
        assert window.stderr["cross_question_duplicate_ratio"] > 0
        assert window.stderr["question_distinct_ratio"] >= 0


def test_near_duplicates_of_another_questions_answer_are_cross_question() -> None:
    rng = random.Random(3)
    base = fresh_answer(rng, 80)
    variant = base.replace(base.split()[5], "zeppelin", 1)   # Jaccard well above 0.8
    agg = _aggregate([(base, "q one"), (variant, "q one"), (variant + " extra words", "q two")])
    stream = agg.snapshot(max_age=0).streams[0]
    assert stream.duplicate_answers_total["near"] == 2
    assert stream.cross_question_duplicates_total["near"] == 1


def test_without_questions_nothing_question_related_is_exported() -> None:
    agg = _aggregate([(a, None) for a, _ in collapsed_stream(300)])
    stream = agg.snapshot(max_age=0).streams[0]
    assert stream.answers_with_question_total == 0
    assert "cross_question_duplicate_ratio" not in stream.window.values
    assert "question_distinct_ratio" not in stream.window.values
    assert stream.duplicate_answers_total["exact"] > 100


def test_state_round_trip_and_merge_keep_the_question_pairs() -> None:
    pairs = faq_stream(600, seed=5)
    first, second = pairs[:300], pairs[300:]
    whole = _aggregate(pairs).snapshot(max_age=0).streams[0]
    restored = Aggregator.from_bytes(_aggregate(first).to_bytes(),
                                     CollapseConfig(refresh_seconds=0))
    for answer, question in second:
        restored.observe(AnswerRecord(answer, service="svc", release="r1", question=question))
    again = restored.snapshot(max_age=0).streams[0]
    assert again.cross_question_duplicates_total == whole.cross_question_duplicates_total
    assert again.answers_with_question_total == whole.answers_with_question_total
    assert again.window.values == pytest.approx(whole.window.values)

    a, b = DuplicateIndex(), DuplicateIndex()
    for answer, question in first:
        a.update(text_hash(normalize(answer)), None, question_hash(question))
    for answer, question in second:
        b.update(text_hash(normalize(answer)), None, question_hash(question))
    merged = a.merge(b)
    one = DuplicateIndex()
    for answer, question in pairs:
        one.update(text_hash(normalize(answer)), None, question_hash(question))
    assert merged.question_counts() == one.question_counts()
    restored_index = DuplicateIndex.from_bytes(merged.to_bytes())
    assert restored_index.question_counts() == one.question_counts()
    assert np.array_equal(np.frombuffer(restored_index.question_hashes, np.uint64),
                          np.frombuffer(one.question_hashes, np.uint64))


def test_question_hash_normalises_and_bounds() -> None:
    assert question_hash("  How do I RESET my  password? ") == \
        question_hash("how do i reset my password?")
    assert question_hash("reset password") != question_hash("reset passwords")
    for missing in (None, "", "   ", 12, b""):
        assert question_hash(missing) == 0
    assert question_hash(b"reset password") == question_hash("reset password")
    long = "word " * (QUESTION_CHARS)
    assert question_hash(long) == question_hash(long + " and a different tail")
    assert question_hash("\ud800 lone surrogate") != 0


def test_question_text_never_leaves_the_process() -> None:
    secret = "what is the secret launch code of project nightingale"
    agg = _aggregate([("the code is 1234", secret), ("the code is 1234", secret + " now")])
    registry = CollectorRegistry()
    registry.register(CollapseCollector(lambda: agg.snapshot(max_age=0)))
    text = generate_latest(registry).decode()
    assert "collapse_cross_question_duplicates_total" in text
    for word in ("nightingale", "launch", "secret"):
        assert word not in text
    assert secret not in agg.to_bytes().decode("latin-1")
