"""The statistics of the comparison engine against independent references: Holm and
Benjamini-Hochberg (textbook formulas, scipy), the pooled two-proportion z-test (scipy's 2x2
chi-square: z^2 = chi^2), Welch (scipy's t-test); the permutation test's determinism, its
false-positive rate under the null and its power; tiny and empty inputs; ``compare_streams``
against ``compare_answers`` on the same answers."""

from __future__ import annotations

import math
from itertools import accumulate

import numpy as np
import pytest
from scipy import stats

from collapse_otel.compare import (
    NOT_ENOUGH,
    CompareOptions,
    Comparison,
    compare_answers,
    compare_streams,
    compare_windows,
    window_of_answers,
)
from collapse_otel.compare.engine import _adjust, _two_proportions, _welch
from collapse_otel.compare.permutation import normal_p_value, permutation_test
from collapse_otel.config import CollapseConfig
from collapse_otel.engine import Aggregator
from collapse_otel.engine.feeding import observe_all
from collapse_otel.records import AnswerRecord, StreamKey
from collapse_otel.signals.accumulators import MomentStats
from tests.support.compare_data import pool, templated

ALPHA = 0.05


def holm_reference(p: list[float]) -> list[float]:
    """Holm (1979): sorted ascending, adj_(k) = min(1, max_{j<=k} (m-j+1) p_(j))."""
    order = sorted(range(len(p)), key=lambda i: p[i])
    steps = accumulate(((len(p) - k) * p[i] for k, i in enumerate(order)), max)
    return [min(1.0, v) for _, v in sorted(zip(order, steps, strict=True))]


def bh_reference(p: list[float]) -> list[float]:
    """Benjamini-Hochberg (1995): adj_(k) = min(1, min_{j>=k} m p_(j) / j), brute force."""
    m, ranked = len(p), sorted(p)
    return [min(1.0, min(m * ranked[j] / (j + 1) for j in range(m) if ranked[j] >= v))
            for v in p]


def random_p_values(rng: np.random.Generator) -> list[float | None]:
    m = int(rng.integers(1, 30))
    p = rng.uniform(0, 1, m) ** 3                     # many small ones
    if rng.random() < 0.5:
        p = np.round(p, 2)                             # ties (and exact zeros)
    p[rng.random(m) < 0.1] = 1.0
    return [None if rng.random() < 0.15 else float(v) for v in p]


def test_adjust_worked_example() -> None:
    # by hand: sorted 0.005, 0.01, 0.03, 0.04 (m = 4)
    # Holm: 4*0.005=0.02, 3*0.01=0.03, 2*0.03=0.06, max(0.06, 1*0.04)=0.06
    # BH: 0.04*4/4=0.04, min(0.04, 0.03*4/3)=0.04, 0.01*4/2=0.02, min(0.02, 0.005*4)=0.02
    p = [0.01, 0.04, 0.03, 0.005]
    assert _adjust(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02], abs=1e-15)
    assert _adjust(p, "bh") == pytest.approx([0.02, 0.04, 0.04, 0.02], abs=1e-15)
    assert _adjust([0.5, 0.9], "holm") == [1.0, 1.0]    # capped at 1
    assert _adjust([None, None], "holm") == [None, None] and _adjust([], "bh") == []


@pytest.mark.parametrize("seed", range(4))
def test_adjust_matches_references_with_ties_and_none(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(50):
        p = random_p_values(rng)
        given = [i for i, v in enumerate(p) if v is not None]
        vals = [p[i] for i in given]
        holm, bh = _adjust(p, "holm"), _adjust(p, "bh")
        assert [v is None for v in holm] == [v is None for v in bh] == [v is None for v in p]
        holm_v, bh_v = [holm[i] for i in given], [bh[i] for i in given]
        assert holm_v == pytest.approx(holm_reference(vals), rel=1e-12, abs=1e-15)
        assert bh_v == pytest.approx(bh_reference(vals), rel=1e-12, abs=1e-15)
        assert bh_v == pytest.approx(stats.false_discovery_control(vals, method="bh"),
                                     rel=1e-12, abs=1e-15)
        eps = 1e-12                                    # rounding of m * p / k
        for i, pi in enumerate(vals):
            # adjusted >= raw; Holm is never less strict than BH ((k-1)(m-k) >= 0)
            assert pi - eps <= bh_v[i] <= holm_v[i] + eps and holm_v[i] <= 1.0
            for j, pj in enumerate(vals):              # monotone; ties adjust alike
                if pi <= pj:
                    assert holm_v[i] <= holm_v[j] and bh_v[i] <= bh_v[j]


def test_two_proportions_is_the_pooled_z_test() -> None:
    for x1, n1, x2, n2 in [(12, 300, 30, 310), (0, 50, 4, 60), (45, 100, 40, 100),
                           (1, 1000, 3, 900), (7, 20, 19, 25), (50, 50, 49, 50)]:
        # the pooled z statistic squared is Pearson's chi-square of the 2x2 table
        table = [[x1, n1 - x1], [x2, n2 - x2]]
        chi2 = stats.chi2_contingency(table, correction=False)
        pooled = (x1 + x2) / (n1 + n2)
        z = (x2 / n2 - x1 / n1) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        assert _two_proportions(x1, n1, x2, n2) == pytest.approx(chi2.pvalue, rel=1e-9)
        assert _two_proportions(x1, n1, x2, n2) == pytest.approx(2 * stats.norm.sf(abs(z)),
                                                                 rel=1e-9)
    assert _two_proportions(0, 80, 0, 90) == 1.0       # nothing on either side: no evidence
    assert _two_proportions(80, 80, 90, 90) == 1.0
    assert _two_proportions(3, 0, 1, 10) is None and _two_proportions(1, 10, 0, 0) is None


def moments(values) -> MomentStats:
    (m := MomentStats()).update_many([float(v) for v in values])
    return m


def test_welch_matches_scipy() -> None:
    rng = np.random.default_rng(11)
    for shift in (0.0, 0.1, 0.2):
        a = rng.normal(5.0, 1.0, 400)
        b = rng.normal(5.0 + shift, 2.5, 650)           # unequal sizes and variances
        t = stats.ttest_ind(b, a, equal_var=False)
        p = _welch(moments(a), moments(b))
        # the same statistic with a normal tail (the docstring: n is large here) ...
        assert p == pytest.approx(2 * stats.norm.sf(abs(t.statistic)), rel=1e-9)
        # ... so close to Welch's t tail at ~900 degrees of freedom (p down to 0.002)
        assert p == pytest.approx(t.pvalue, rel=0.05)
    counts = rng.poisson(3, 500), rng.poisson(3.4, 500)   # integer data as in entities_per_answer
    t = stats.ttest_ind(counts[1], counts[0], equal_var=False)
    assert _welch(moments(counts[0]), moments(counts[1])) == pytest.approx(t.pvalue, rel=0.05)
    assert _welch(moments([3.0]), moments([1.0, 2.0])) is None   # one value: no spread


def test_normal_p_value_of_a_permutation_distribution() -> None:
    null = np.random.default_rng(3).normal(0.2, 0.05, 200)
    null[:5] = np.nan                                  # splits with no value are left out
    finite = null[5:]
    z = (0.31 - finite.mean()) / finite.std(ddof=1)
    assert normal_p_value(0.31, null) == pytest.approx(2 * stats.norm.sf(z), rel=1e-9)
    mirror = 2 * finite.mean() - 0.31                  # two-sided
    assert normal_p_value(mirror, null) == pytest.approx(normal_p_value(0.31, null), rel=1e-9)
    assert normal_p_value(0.31, null[:24]) is None     # fewer than 20 usable splits
    # every split the same (0.5: its mean is exact, so its spread is exactly 0)
    assert normal_p_value(0.5, np.full(30, 0.5)) == 1.0
    assert normal_p_value(0.6, np.full(30, 0.5)) == 0.0


@pytest.fixture(scope="module")
def items():
    """The window sample of 1,500 answers of one distribution (human and model text)."""
    return window_of_answers(pool()[:1500], sample_size=1500).sample


def test_permutation_test_is_deterministic(items) -> None:
    a, b = items[:40], items[40:80]
    first = permutation_test(a, b, 60, seed=5)
    assert first and permutation_test(a, b, 60, seed=5) == first
    assert permutation_test(a, b, 60, seed=6) != first   # the seed is what drives the splits
    opts, texts = CompareOptions(permutations=40, seed=2), pool()
    one, two = (compare_answers(texts[:60], texts[60:120], opts) for _ in range(2))
    assert [r.p_value for r in one.signals] == [r.p_value for r in two.signals]
    assert [r.p_adjusted for r in one.signals] == [r.p_adjusted for r in two.signals]


def test_permutation_false_positive_rate_under_the_null(items) -> None:
    reps, m = 48, 40
    rng = np.random.default_rng(2024)
    ps: dict[str, list[float]] = {}
    for rep in range(reps):        # two disjoint random halves of one population
        pick = rng.choice(len(items), 2 * m, replace=False)
        a, b = [items[i] for i in pick[:m]], [items[i] for i in pick[m:]]
        for key, p in permutation_test(a, b, 80, seed=rep).items():
            if p is not None:
                ps.setdefault(key, []).append(p)
    assert {"distinct_2", "self_repetition_score", "compression_ratio",
            "embedding_vendi_score"} <= set(ps)
    # per signal, the number of p < alpha in `reps` repetitions is Binomial(reps, alpha)
    # when the test is calibrated: bound it at the 0.001 quantile, Bonferroni over signals
    limit = stats.binom.isf(0.001 / len(ps), reps, ALPHA)
    for key, values in ps.items():
        assert len(values) == reps, key
        assert sum(v < ALPHA for v in values) <= limit, (key, sorted(values)[:12])
    # pooled over signals: even perfectly correlated signals spread no more than one
    # Binomial(reps, alpha) rate, and no more than one mean of `reps` uniforms
    rate = np.mean([np.mean(np.array(v) < ALPHA) for v in ps.values()])
    assert rate <= stats.binom.isf(0.001, reps, ALPHA) / reps
    mean_p = np.mean([np.mean(v) for v in ps.values()])   # centred like uniform p-values
    assert abs(mean_p - 0.5) <= 3.3 * math.sqrt(1 / 12 / reps)


def test_permutation_detects_a_collapsed_candidate(items) -> None:
    texts = pool()
    collapsed = window_of_answers(templated(texts[1500:1540])).sample
    p = permutation_test(items[:40], collapsed, 100, seed=0)
    for key in ("distinct_1", "distinct_2", "distinct_3", "distinct_4",
                "self_repetition_score", "word_coverage_deficit", "embedding_mean_cosine_similarity"):
        assert p[key] is not None and p[key] < 1e-6, (key, p[key])


def test_small_and_empty_inputs_are_not_enough_data(items) -> None:
    empty = compare_answers([], [])
    assert empty.sample_size == 0 and empty.answers == (0, 0)
    assert all(r.verdict == NOT_ENOUGH and r.p_value is None for r in empty.signals)
    assert empty.families == () and not empty.collapse_suspected
    assert empty.verdict == NOT_ENOUGH          # never "pass" on nothing
    one_sided = compare_answers([], pool()[:50])
    assert all(r.verdict == NOT_ENOUGH for r in one_sided.signals)
    assert {f.verdict for f in one_sided.families} == {NOT_ENOUGH}
    assert not one_sided.degraded_families
    texts = pool()
    for n in (1, 2, 3):                  # below the permutation test's 4 answers a side
        c = compare_answers(texts[:n], texts[10:10 + n])
        assert c.sample_size == n
        assert all(r.test != "permutation" for r in c.signals)
        for r in c.signals:              # no p-value or change: not enough data, never a guess
            if r.p_value is None or r.change is None:
                assert r.verdict == NOT_ENOUGH, r.signal.key
    same = ["the same short answer"] * 3      # no spread on either side: no test, no verdict
    other = ["a different and somewhat longer short answer, repeated"] * 3
    assert compare_answers(same, other).result("compression_ratio").verdict == NOT_ENOUGH
    assert permutation_test(items[:3], items[3:6], 50, 0) == {}
    assert permutation_test(items[:10], items[10:15], 50, 0) == {}   # unequal sizes


def test_verdict_signals_are_holm_adjusted_together() -> None:
    texts = pool()
    base = window_of_answers(texts[:200])
    cand = window_of_answers(texts[200:300] + templated(texts[300:400]))
    c = compare_windows(base, cand, CompareOptions(permutations=40))
    judged = [r for r in c.signals if r.signal.verdict and r.p_value is not None]
    assert len(judged) >= 10
    expected = holm_reference([r.p_value for r in judged])
    assert [r.p_adjusted for r in judged] == pytest.approx(expected, rel=1e-12, abs=1e-300)
    assert all(r.p_adjusted is None for r in c.signals if not r.signal.verdict)
    near = c.result("near_duplicate_ratio")          # wired to the window's counts
    table = [[base.near, base.with_text - base.near], [cand.near, cand.with_text - cand.near]]
    assert near.test == "two-proportion z" and near.p_value == pytest.approx(
        stats.chi2_contingency(table, correction=False).pvalue, rel=1e-9)


def test_compare_streams_equals_compare_answers() -> None:
    texts = pool()
    sides = {"v1": texts[:120], "v2": texts[120:200] + templated(texts[200:240])}
    agg = Aggregator(CollapseConfig(window_answers=10_000, window_seconds=1e15,
                                    refresh_seconds=3600, memory_budget_mb=1 << 20))
    observe_all(agg, [AnswerRecord(t, completion_tokens=len(t.split()), service="bot",
                                   release=release) for release, ts in sides.items()
                      for t in ts])
    opts = CompareOptions(permutations=50, seed=3)
    streams = compare_streams(agg, StreamKey("bot", "v1", "default"),
                              StreamKey("bot", "v2", "default"), opts)
    answers = compare_answers(*([AnswerRecord(t, completion_tokens=len(t.split())) for t in ts]
                                for ts in sides.values()), opts)
    assert streams.baseline == "bot/v1/default" and streams.answers == answers.answers
    assert any(r.p_value is not None and 1e-3 < r.p_value < 0.999 for r in streams.signals)
    fields = ("signal", "baseline", "candidate", "baseline_se", "candidate_se", "change",
              "low", "high", "p_value", "p_adjusted", "test", "verdict")
    assert [[getattr(r, f) for f in fields] for r in streams.signals] == \
        [[getattr(r, f) for f in fields] for r in answers.signals]
    assert streams.families == answers.families and streams.verdict == answers.verdict
    with pytest.raises(KeyError):
        compare_streams(agg, StreamKey("bot", "v1", "default"), StreamKey("bot", "v9", "x"))


def _decided(changes: dict[str, tuple[float, float]], **options) -> Comparison:
    """A comparison whose verdict signals all have p-values: ``changes`` gives some of them a
    change and its standard error (the rest: no change); families follow from the verdicts."""
    from collapse_otel.compare.engine import Z95, SignalResult, _families, _verdict
    from collapse_otel.signals.registry import SIGNALS

    opts = CompareOptions(**options)
    results = []
    for s in SIGNALS:
        change, se = changes.get(s.key, (0.0, 0.01))
        p = math.erfc(abs(change) / se / math.sqrt(2)) * 13 if s.verdict else None
        p = min(p, 1.0) if p is not None else None
        results.append(SignalResult(
            s, 1.0, 1.0 + change, 0.0, se, change, change - Z95 * se, change + Z95 * se, p,
            p, "z", s.floor, _verdict(s, change, p, opts.alpha, s.floor)))
    return Comparison("a", "b", (1000, 1000), 1000, tuple(results),
                      tuple(_families(results)), opts)


def test_one_signal_surely_past_its_critical_margin_is_collapse() -> None:
    """distinct-2 down 10% with a 1% error: one family, but the interval widened for the 22
    judged signals (z 3.05: [-13%, -7%]) lies wholly past the 5% margin."""
    c = _decided({"distinct_2": (-0.10, 0.01)})
    assert c.degraded_families == ("lexical diversity",)
    assert c.critical_signals == ("distinct_2",)
    assert c.collapse_suspected and c.verdict == "collapse suspected"
    # the same change with a 2% error: degraded (p 4e-7), but the widened interval reaches -4%
    c = _decided({"distinct_2": (-0.10, 0.02)})
    assert c.degraded_families == ("lexical diversity",) and c.critical_signals == ()
    assert c.verdict == "degraded"
    # the margin is the registry's unless overridden; none removes it
    assert _decided({"distinct_2": (-0.10, 0.01)}, criticals={"distinct_2": 0.08}).verdict \
        == "degraded"
    assert _decided({"distinct_2": (-0.10, 0.01)}, criticals={"distinct_2": None}).verdict \
        == "degraded"


def test_signals_without_a_margin_and_improvements_never_fire_alone() -> None:
    # answer lengths much less varied: degraded, never critical (no margin)
    assert _decided({"completion_tokens_cv": (-0.5, 0.01)}).verdict == "degraded"
    # distinct-2 up 10%: improved, not collapse
    c = _decided({"distinct_2": (0.10, 0.01)})
    assert c.critical_signals == () and c.verdict == "pass"


def test_three_families_make_collapse_two_do_not() -> None:
    """Point estimates just past the floors (6% with a 2% error: degraded, never critical)."""
    two = {"distinct_2": (-0.06, 0.02), "embedding_vendi_score": (-0.06, 0.02)}
    assert _decided(two).verdict == "degraded"
    assert _decided(two, min_families=2).verdict == "collapse suspected"
    three = {**two, "entities_per_answer": (-0.06, 0.02)}
    c = _decided(three)
    assert len(c.degraded_families) == 3 and c.critical_signals == ()
    assert c.verdict == "collapse suspected"


def test_every_mean_is_tested_on_its_own_moments() -> None:
    """A per-answer mean is Welch-tested on the moments its declaration names: a new mean
    without them falls back to the z-test on its errors, never onto another signal's."""
    from collapse_otel.signals.registry import SIGNALS

    for s in SIGNALS:
        assert (s.statistic == "mean") == (s.per_answer is not None), s.key
        assert s.proportion is None or s.statistic == "proportion", s.key
