"""The comparison engine: is a candidate release more collapsed than a baseline?

For every registered signal: both values at equal sample size, the change (relative, or
absolute for ratios that sit near 0: never +Inf), a 95% interval for it, a p-value
(permutation test for corpus statistics, Welch for per-answer means, a two-proportion test
for duplicate shares, a normal test on delta-method errors for the spread of lengths), Holm's
correction across the signals in the verdict, and the smallest change that matters. Then a
verdict per signal, per family of signals, and "collapse suspected" when at least K families
degrade (collapse is usually a pattern across families; Kayenta's judge scores metric groups
the same way) or when one signal degrades beyond its critical margin (a model trained on its
own output can lose lexical diversity alone, by 9% to 14% a release, long before a second
family moves). The rule and its measured operating characteristic: docs/verdict.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from statistics import NormalDist
from typing import Any, cast

import numpy as np

from ..engine.snapshot import WindowSignals
from ..engine.window import WindowInputs, WindowView, compute_window
from ..signals.accumulators import MomentStats
from ..signals.embedders import EMBEDDER_NAMES
from ..signals.registry import (
    BY_KEY,
    COVERAGE,
    FAMILIES,
    PERMUTATION,
    SIGNALS,
    TWO_PROPORTIONS,
    WELCH,
    Z_DELTA,
    Z_JACKKNIFE,
    Signal,
)
from .permutation import permutation_test
from .tail_coverage import TailCoverage, tail_coverage

DEGRADED, IMPROVED, NO_CHANGE, NOT_ENOUGH = (
    "degraded", "improved", "no significant change", "not enough data")
MIXED = "mixed"
Z95 = 1.959963984540054


@dataclass(frozen=True)
class CompareOptions:
    alpha: float = 0.05                 # family-wise error rate across the verdict signals
    min_families: int = 3               # K: degraded families that make "collapse suspected"
    correction: str = "holm"            # holm | bh (Benjamini-Hochberg)
    permutations: int = 200
    seed: int = 0
    sample_size: int = 1000             # answers per side for the corpus statistics
    floors: Mapping[str, float] = field(default_factory=dict)   # per-signal overrides
    criticals: Mapping[str, float | None] = field(default_factory=dict)   # likewise
    embedder: str = "hashed"            # what embeds answers read from files (see registry)

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError("alpha must be in (0, 1)")
        if self.min_families < 1:
            raise ValueError("min_families must be >= 1")
        if self.correction not in ("holm", "bh"):
            raise ValueError("correction must be 'holm' or 'bh'")
        if self.permutations < 20:
            raise ValueError("permutations must be >= 20")
        if self.embedder not in EMBEDDER_NAMES:
            raise ValueError(f"embedder must be one of {', '.join(EMBEDDER_NAMES)}")
        for name, overrides in (("floors", self.floors), ("criticals", self.criticals)):
            unknown = set(overrides) - {s.key for s in SIGNALS}
            if unknown:
                raise ValueError(f"unknown signals in {name}: {', '.join(sorted(unknown))}")
        if any(v is not None and v < 0 for v in self.criticals.values()):
            raise ValueError("critical margins must be >= 0")


@dataclass(frozen=True)
class SignalResult:
    signal: Signal
    baseline: float | None
    candidate: float | None
    baseline_se: float | None
    candidate_se: float | None
    change: float | None          # relative (fraction) or absolute, see signal.change
    low: float | None             # 95% interval of the change
    high: float | None
    p_value: float | None
    p_adjusted: float | None
    test: str
    floor: float
    verdict: str


@dataclass(frozen=True)
class FamilyResult:
    family: str
    verdict: str
    degraded: tuple[str, ...]
    improved: tuple[str, ...]


@dataclass(frozen=True)
class Comparison:
    baseline: str
    candidate: str
    answers: tuple[int, int]         # answers behind each side's window
    sample_size: int                 # answers per side for the corpus statistics
    signals: tuple[SignalResult, ...]
    families: tuple[FamilyResult, ...]
    options: CompareOptions
    tail: tuple[TailCoverage, ...] = ()   # the baseline's rare items the candidate produces

    @property
    def degraded_families(self) -> tuple[str, ...]:
        return tuple(f.family for f in self.families if f.verdict == DEGRADED)

    def margin(self, key: str) -> float | None:
        """The critical margin of a signal here (options override the registry)."""
        if key in self.options.criticals:
            return self.options.criticals[key]
        return BY_KEY[key].critical if key in BY_KEY else None

    @property
    def critical_bounds(self) -> dict[str, float]:
        """Per verdict signal with a critical margin that degraded: the near end of the
        interval of its change, widened for the number of signals judged (Bonferroni,
        family-wise ``alpha``), in the collapse direction (how far collapse surely went)."""
        judged = [r for r in self.signals if r.signal.verdict and r.p_adjusted is not None]
        if not judged:
            return {}
        z = NormalDist().inv_cdf(1 - self.options.alpha / (2 * len(judged)))
        # a degraded verdict has a change (NOT_ENOUGH is the verdict without one)
        return {r.signal.key: cast(float, r.change) * r.signal.collapse
                - z * (r.high - r.low) / (2 * Z95)
                for r in judged if self.margin(r.signal.key) is not None
                and r.verdict == DEGRADED and r.low is not None and r.high is not None}

    @property
    def critical_signals(self) -> tuple[str, ...]:
        """Verdict signals that degraded beyond their critical margin: the widened interval
        of the change lies wholly beyond the margin the collapse way."""
        # critical_bounds holds only the signals with a margin
        return tuple(k for k, bound in self.critical_bounds.items()
                     if bound > cast(float, self.margin(k)))

    @property
    def collapse_suspected(self) -> bool:
        """At least K families degraded, or one signal degraded beyond its critical margin."""
        return (len(self.degraded_families) >= self.options.min_families
                or bool(self.critical_signals))

    @property
    def score(self) -> float:
        """Kayenta-style score, 0-100: per family with data, the share of its judged signals
        that did not degrade, averaged over families."""
        shares = []
        for fam in FAMILIES:
            judged = [r for r in self.signals if r.signal.family == fam and r.signal.verdict
                      and r.verdict != NOT_ENOUGH]
            if judged:
                shares.append(sum(r.verdict != DEGRADED for r in judged) / len(judged))
        return 100.0 * sum(shares) / len(shares) if shares else 100.0

    @property
    def verdict(self) -> str:
        """collapse suspected / degraded / pass; "not enough data" when no family could be
        judged (no answers, or too few on a side for any test)."""
        if not any(f.verdict != NOT_ENOUGH for f in self.families):
            return NOT_ENOUGH
        return "collapse suspected" if self.collapse_suspected else (
            "degraded" if self.degraded_families else "pass")

    def result(self, key: str) -> SignalResult:
        return next(r for r in self.signals if r.signal.key == key)


def rule_text(options: CompareOptions) -> str:
    """The decision rule in words, for the reports."""
    return (f"collapse suspected when >= {options.min_families} families degrade or one signal "
            "degrades beyond its critical margin")


def equal_size(w: WindowInputs, size: int, texts: int, questions: int) -> WindowInputs:
    """The same window with its sample cut to ``size`` answers (slot order is random), its
    answer-text hashes to the first ``texts`` and its question hashes to the first
    ``questions`` (a repeat share grows with the count). Cross-question duplicates are a
    share of the answers with a question, as the aggregator counts them."""
    hashes = w.text_hashes[:texts] if w.text_hashes is not None else None
    asked = w.question_hashes[:questions] if w.question_hashes is not None else None
    return WindowInputs(w.answers, w.with_text, w.exact, w.near, w.seq, w.completion,
                        w.sample[:size], hashes, w.with_question, w.cross_question, asked,
                        feedback=w.feedback, evaluations=w.evaluations, embedder=w.embedder)


def compare_windows(baseline: WindowInputs, candidate: WindowInputs,
                    options: CompareOptions | None = None, *, baseline_name: str = "baseline",
                    candidate_name: str = "candidate") -> Comparison:
    opts = options or CompareOptions()
    m = min(len(baseline.sample), len(candidate.sample), opts.sample_size)
    texts = min(len(w.text_hashes) if w.text_hashes is not None else 0
                for w in (baseline, candidate))
    questions = min(len(w.question_hashes) if w.question_hashes is not None else 0
                    for w in (baseline, candidate))
    a, b = (equal_size(w, m, texts, questions) for w in (baseline, candidate))
    # Hill numbers at the smaller of the two samples' coverages, per kind of type: that
    # sample as observed, the other interpolated down to it
    view_a, view_b = WindowView(a), WindowView(b)   # each side's sample work, done once
    coverage = common_coverage(compute_window(a, view=view_a), compute_window(b, view=view_b))
    wa = compute_window(a, view=view_a.at(coverage))
    wb = compute_window(b, view=view_b.at(coverage))
    perm = permutation_test(a.sample, b.sample, opts.permutations, opts.seed) if m >= 4 else {}
    raw: list[tuple[Signal, dict]] = []
    # judged under the embedder of both samples; embeddings of two spaces are never compared
    embedder = a.embedder if a.embedder == b.embedder else "mixed"
    for s in SIGNALS:
        s = s if s.judged(embedder) == s.verdict else replace(s, verdict=False)
        va, vb = wa.values.get(s.key), wb.values.get(s.key)
        sa, sb = wa.stderr.get(s.key), wb.stderr.get(s.key)
        p, test = _p_value(s, a, b, va, vb, sa, sb, perm)
        if test and s.order is not None and s.species in coverage:
            test = f"{test} at coverage {coverage[s.species]:.2f}"
        raw.append((s, dict(baseline=va, candidate=vb, baseline_se=sa, candidate_se=sb,
                            p_value=p, test=test)))
    adjusted = _adjust([r["p_value"] if s.verdict else None for s, r in raw],
                       opts.correction)
    results = []
    for (s, r), p_adj in zip(raw, adjusted, strict=True):
        change, low, high = _change(s, r["baseline"], r["candidate"], r["baseline_se"],
                                    r["candidate_se"])
        floor = opts.floors.get(s.key, s.floor)
        results.append(SignalResult(
            signal=s, change=change, low=low, high=high, p_adjusted=p_adj, floor=floor,
            verdict=_verdict(s, change, p_adj if s.verdict else r["p_value"], opts.alpha,
                             floor), **r))
    return Comparison(baseline_name, candidate_name, (baseline.answers, candidate.answers), m,
                      tuple(results), tuple(_families(results)), opts,
                      tuple(tail_coverage(a.sample, b.sample)))


def common_coverage(wa: WindowSignals, wb: WindowSignals) -> dict[str, float]:
    """Per kind of type: the smaller of the two samples' own coverages (1 - deficit)."""
    out = {}
    for kind in COVERAGE:
        deficits = [w.values.get(s.key) for w in (wa, wb) for s in SIGNALS
                    if s.species == kind and s.order is None]
        if len(deficits) == 2 and None not in deficits:
            out[kind] = 1.0 - max(cast("list[float]", deficits))
    return out


def _p_value(s: Signal, a: WindowInputs, b: WindowInputs, va, vb, sa, sb,
             perm: Mapping[str, float | None]) -> tuple[float | None, str]:
    """The signal's declared test; a z-test on the two windows' errors when that test
    cannot run on this pair (too few answers to permute, a side without counts)."""
    if va is None or vb is None:
        return None, ""
    if s.test == PERMUTATION and perm.get(s.key) is not None:
        return perm[s.key], s.test
    if s.test == TWO_PROPORTIONS:
        # the registry checks that a signal declaring this test has its counts
        proportion = cast("Callable[[Any], tuple[int, int] | None]", s.proportion)
        pa, pb = proportion(a), proportion(b)
        if pa is not None and pb is not None:
            return _two_proportions(*pa, *pb), s.test
    if s.test == WELCH:
        per_answer = cast("Callable[[Any], MomentStats]", s.per_answer)   # likewise
        return _welch(per_answer(a), per_answer(b)), s.test
    if sa is None or sb is None:
        return None, ""
    return _normal(vb - va, math.hypot(sa, sb)), s.test if s.test == Z_DELTA else Z_JACKKNIFE


def _normal(diff: float, se: float) -> float | None:
    if not math.isfinite(se):
        return None
    if se <= 0:   # no spread estimated (a handful of identical values): no test, unless equal
        return 1.0 if diff == 0 else None
    return math.erfc(abs(diff) / se / math.sqrt(2))


def _two_proportions(x1: int, n1: int, x2: int, n2: int) -> float | None:
    if not n1 or not n2:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return _normal(x2 / n2 - x1 / n1, se)


def _welch(a: MomentStats, b: MomentStats) -> float | None:
    """Two-sided Welch test from counts and moments (normal tail: n is large here)."""
    sa, sb = a.mean_se(), b.mean_se()
    if sa is None or sb is None or not (math.isfinite(sa) and math.isfinite(sb)):
        return None
    # an error of the mean needs two values, so both means exist
    return _normal(cast(float, b.mean()) - cast(float, a.mean()), math.hypot(sa, sb))


def _change(s: Signal, va, vb, sa, sb) -> tuple[float | None, float | None, float | None]:
    if va is None or vb is None:
        return None, None, None
    sa = sa if sa is not None else float("nan")
    sb = sb if sb is not None else float("nan")
    if s.change == "relative" and va != 0:
        change = (vb - va) / abs(va)
        se = math.sqrt(sb * sb + (vb / va) ** 2 * sa * sa) / abs(va)
    else:
        change, se = vb - va, math.hypot(sa, sb)
    if not math.isfinite(se):
        return change, None, None
    return change, change - Z95 * se, change + Z95 * se


def _verdict(s: Signal, change, p, alpha: float, floor: float) -> str:
    if change is None or p is None:
        return NOT_ENOUGH
    if p >= alpha or abs(change) < floor:
        return NO_CHANGE
    return DEGRADED if s.worse(change) else IMPROVED


def _adjust(p_values: list[float | None], method: str) -> list[float | None]:
    """Holm (family-wise error) or Benjamini-Hochberg (false discovery rate) adjusted
    p-values over the ones given (None stays None)."""
    idx = [i for i, p in enumerate(p_values) if p is not None]
    out: list[float | None] = [None] * len(p_values)
    if not idx:
        return out
    p = np.array([p_values[i] for i in idx])
    order = np.argsort(p, kind="stable")
    m = len(p)
    adj = np.empty(m)
    if method == "holm":
        running = 0.0
        for rank, j in enumerate(order):
            running = max(running, (m - rank) * p[j])
            adj[j] = min(running, 1.0)
    else:
        running = 1.0
        for rank in range(m - 1, -1, -1):
            j = order[rank]
            running = min(running, p[j] * m / (rank + 1))
            adj[j] = running
    for i, v in zip(idx, adj.tolist(), strict=True):
        out[i] = v
    return out


def _families(results: list[SignalResult]) -> list[FamilyResult]:
    out = []
    for fam in FAMILIES:
        judged = [r for r in results if r.signal.family == fam and r.signal.verdict]
        if not judged or all(r.baseline is None and r.candidate is None for r in judged):
            continue   # measured on neither side (no feedback in either file): not a family here
        bad = tuple(r.signal.key for r in judged if r.verdict == DEGRADED)
        good = tuple(r.signal.key for r in judged if r.verdict == IMPROVED)
        if bad and good:
            verdict = MIXED
        elif bad:
            verdict = DEGRADED
        elif good:
            verdict = IMPROVED
        elif all(r.verdict == NOT_ENOUGH for r in judged):
            verdict = NOT_ENOUGH
        else:
            verdict = NO_CHANGE
        out.append(FamilyResult(fam, verdict, bad, good))
    return out
