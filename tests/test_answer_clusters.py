"""Answers as species: exact and near-duplicate clusters, their Hill numbers at the registry's
coverage against the coverage estimator on the known cluster sizes, and a comparison that does
not judge cluster Hill numbers where one side's answers are all distinct."""

from __future__ import annotations

import numpy as np
import pytest

from collapse_otel.compare import NOT_ENOUGH, CompareOptions, compare_answers, window_of_answers
from collapse_otel.registry import COVERAGE
from collapse_otel.signals import answer_clusters as A
from collapse_otel.signals.coverage import Abundance
from collapse_otel.text.hashing import TokenHasher
from collapse_otel.text.normalize import word_bytes
from collapse_otel.window import compute_window


def _text(prefix: str, words: int = 40) -> str:
    return " ".join(f"{prefix}{i}" for i in range(words))


def test_exact_and_near_duplicates_join_their_first_answer() -> None:
    base, other = _text("w"), _text("x")
    near = base.rsplit(" ", 1)[0] + " changed"     # 35 of 37 shingles shared: J = 0.95
    texts = [base, other, base, near, "a short answer", near]
    batch = TokenHasher().batch([word_bytes(t) for t in texts])
    assert A.exact_labels(texts).tolist() == [0, 1, 0, 3, 4, 3]
    assert A.near_labels(texts, batch).tolist() == [0, 1, 0, 0, 4, 0]
    counts = A.cluster_counts(A.near_labels(texts, batch), np.arange(6) % 2, 2)
    assert sorted(counts.sum(axis=1).tolist()) == [1, 1, 4]


def _replies() -> list[str]:
    """30 copies of one canned reply, 20 of another, 50 distinct answers."""
    return [_text("canned")] * 30 + [_text("other")] * 20 + \
        [f"{_text(f'q{i}x', 12)} answer number {i}" for i in range(50)]


def test_cluster_signals_are_the_hill_numbers_of_the_cluster_sizes() -> None:
    window = compute_window(window_of_answers(_replies(), sample_size=200))
    sizes = Abundance(np.array([30, 20] + [1] * 50))
    at = sizes.at_coverage(COVERAGE["answers"])
    for prefix in ("answer", "near_answer"):
        assert window.values[f"{prefix}_hill_1"] == pytest.approx(at.hill[1], rel=1e-9)
        assert window.values[f"{prefix}_hill_2"] == pytest.approx(at.hill[2], rel=1e-9)
        assert window.values[f"{prefix}_coverage_deficit"] == pytest.approx(
            1 - sizes.coverage(sizes.n), rel=1e-9)
        assert window.stderr[f"{prefix}_hill_1"] > 0


def test_distinct_answers_leave_cluster_hill_numbers_unjudged() -> None:
    """Every baseline answer distinct: its coverage is ~0, so the clusters' Hill numbers are
    not compared; the deficit is, and sees the canned replies."""
    distinct = [f"{_text(f'b{i}x', 12)} reply {i}" for i in range(100)]
    c = compare_answers(distinct, _replies(), CompareOptions(permutations=50, sample_size=200))
    for key in ("answer_hill_1", "answer_hill_2", "near_answer_hill_1"):
        r = c.result(key)
        assert (r.verdict, r.baseline, r.p_value) == (NOT_ENOUGH, None, None)
    deficit = c.result("answer_coverage_deficit")
    assert deficit.test == "permutation" and deficit.p_value < 1e-6
    assert deficit.candidate < deficit.baseline
