"""Answers as species: exact and near-duplicate clusters, their coverage deficits against the
Chao-Jost formula on the known cluster sizes, and a comparison that sees canned replies."""

from __future__ import annotations

import numpy as np
import pytest

from collapse_otel.compare import CompareOptions, compare_answers, window_of_answers
from collapse_otel.engine.window import compute_window
from collapse_otel.signals import answer_clusters as A
from collapse_otel.signals.coverage import Abundance
from collapse_otel.text.hashing import TokenHasher
from collapse_otel.text.normalize import word_bytes


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


def test_cluster_deficit_is_the_coverage_deficit_of_the_cluster_sizes() -> None:
    window = compute_window(window_of_answers(_replies(), sample_size=200))
    sizes = np.array([30, 20] + [1] * 50)
    f1, n = 50, 100
    assert Abundance(sizes).f2 == 0
    a = (n - 1) * (f1 - 1) / ((n - 1) * (f1 - 1) + 2)        # f2 = 0: Chao-Jost's A
    assert window.values["near_answer_coverage_deficit"] == pytest.approx(f1 / n * a)
    assert window.stderr["near_answer_coverage_deficit"] > 0
    assert not any(k.startswith(("answer_", "near_answer_hill")) for k in window.values)


def test_a_release_that_repeats_canned_replies_has_fewer_unseen_answers() -> None:
    distinct = [f"{_text(f'b{i}x', 12)} reply {i}" for i in range(100)]
    c = compare_answers(distinct, _replies(), CompareOptions(permutations=50, sample_size=200))
    r = c.result("near_answer_coverage_deficit")
    assert r.test == "permutation" and r.p_value < 1e-6
    assert r.candidate < r.baseline and not r.signal.verdict
