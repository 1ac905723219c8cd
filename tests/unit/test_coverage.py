"""Hill numbers at equal coverage against exact oracles: every subsample enumerated for the
interpolated values and the coverage, the term-by-term series for the Shannon tail."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from collapse_otel.signals import coverage as C


def _enumerated(counts: list[int], m: int) -> tuple[float, float, float, float]:
    """Exact expectations over every subsample of m items: distinct types, exp(entropy),
    1 / Simpson; and the coverage as its leave-one-out definition (hold out one item, draw m
    of the others: does the draw hold the held-out item's type?)."""
    items = [i for i, c in enumerate(counts) for _ in range(c)]
    n = len(items)
    d0 = h = s2 = 0.0
    subsets = list(itertools.combinations(range(n), m))
    for sub in subsets:
        p = np.bincount([items[j] for j in sub], minlength=len(counts))
        p = p[p > 0] / m
        d0, h, s2 = d0 + len(p), h - float((p * np.log(p)).sum()), s2 + float((p ** 2).sum())
    hits = draws = 0
    for j in range(n):
        rest = [t for t in range(n) if t != j]
        for sub in itertools.combinations(rest, m):
            hits += items[j] in {items[t] for t in sub}
            draws += 1
    k = len(subsets)
    return d0 / k, math.exp(h / k), k / s2, hits / draws


@pytest.mark.parametrize("counts", [[1, 1, 1, 2], [3, 1, 2, 1, 1], [4, 4, 1], [1, 2, 3, 4],
                                    [5, 1, 1, 1, 1, 1]])
def test_interpolation_is_the_exact_expectation_over_subsamples(counts):
    a = C.Abundance(np.array(counts))
    for m in range(1, sum(counts)):
        want = _enumerated(counts, m)
        got = (a.hill(m, 0), a.hill(m, 1), a.hill(m, 2), a.coverage(m))
        assert got == pytest.approx(want, rel=1e-12), m


def test_at_the_sample_size_it_is_the_observed_diversity():
    counts = np.array([7, 3, 3, 2, 1, 1, 1, 1])
    a = C.Abundance(counts)
    p = counts / counts.sum()
    assert a.hill(a.n, 0) == 8
    assert a.hill(a.n, 1) == pytest.approx(math.exp(-(p * np.log(p)).sum()))
    assert a.hill(a.n, 2) == pytest.approx(1 / (p ** 2).sum())
    # Chao & Jost: 1 - f1 / n * (n - 1) f1 / ((n - 1) f1 + 2 f2)
    assert a.coverage(a.n) == pytest.approx(1 - 4 / 19 * (18 * 4) / (18 * 4 + 2 * 1))


def test_shannon_tail_matches_its_series():
    for n in (2, 10, 300, 60_000):
        for a in (0.7, 0.05, 1e-3, 1e-5):
            k = np.arange(1, int(60 / a) + 10, dtype=np.float64)
            series = float((np.exp(k * math.log1p(-a)) / (k + n - 1)).sum())
            assert C._tail(a, n) == pytest.approx(series, rel=1e-9), (n, a)


def test_extrapolation_continues_the_curve_and_the_coverage_is_inverted():
    rng = np.random.default_rng(0)
    counts = rng.zipf(1.7, size=400)
    a = C.Abundance(counts)
    n = a.n
    for q in C.ORDERS:
        below, at, above = a.hill(n - 1, q), a.hill(n, q), a.hill(n + 1, q)
        assert below <= at <= above <= a.hill(2 * n, q) <= a.asymptotic(q), q
        assert above - at == pytest.approx(at - below, rel=0.5), q
    for target in (0.3, 0.6, a.coverage(n), (a.coverage(n) + a.coverage(2 * n)) / 2):
        m = a.size_for(target)
        lo, hi = math.floor(m), math.ceil(m)
        if m > n:
            assert a.coverage(m) == pytest.approx(target, abs=1e-12)
        else:
            assert a.coverage(lo) <= target + 1e-12 and a.coverage(hi) >= target - 1e-12


def test_a_sample_short_of_the_target_stands_at_the_coverage_it_reaches():
    """A release that names few entities is reported at its own coverage (twice its size),
    never dropped."""
    a = C.Abundance(np.array([1] * 12 + [2] * 2))
    reached = a.coverage(2 * a.n)
    assert reached < 0.5
    r = a.at_coverage(0.5)
    assert r.coverage == pytest.approx(reached) and r.m == 2 * a.n
    assert all(math.isfinite(v) and v > 1 for v in r.hill)


def test_leave_group_out_values_stand_at_the_same_coverage():
    rng = np.random.default_rng(1)
    p = 1.0 / np.arange(1, 2001) ** 1.1
    counts = rng.multinomial(100, p / p.sum(), size=20).T      # types x groups
    out = C.with_jackknife(counts, 0.5)
    value, loo = out["q0"]
    assert np.isfinite(loo).all() and loo.std() > 0
    # standardised to one coverage, a 95% subsample is about as rich as the whole; counted
    # raw it is poorer by the types only its left-out group held
    raw = np.array([(counts.sum(axis=1) - counts[:, g] > 0).sum() for g in range(20)])
    full = (counts.sum(axis=1) > 0).sum()
    assert abs(loo.mean() - value) / value < 0.2 * (full - raw.mean()) / full
    assert out["coverage"][0] == 0.5
