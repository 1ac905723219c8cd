"""Hill numbers of order 0, 1 and 2 at a given sample coverage (Chao & Jost 2012; iNEXT).

Counting distinct items (entities, words, n-grams) says as much about how many items a
sample holds as about the release: a bigger sample shows more of the rare ones. Rarefying
both samples to a fixed number of items fixes the size but not the completeness: far below
the sample size nearly every item is distinct on both sides. Sample coverage, the share of
the population's items that the sample's types account for, is the fair yardstick: two
samples are compared at the same coverage, interpolated (expected value in a random
subsample) or extrapolated (up to twice the sample size) to it.

Formulas are iNEXT's (Chao et al. 2014, Ecol. Monogr. 84:45; Hsieh, Ma & Chao 2016):
coverage C(m) = 1 - sum_i x_i / n * C(n - x_i, m) / C(n - 1, m) below n, 1 - f1 / n * A at
n, 1 - f1 / n * A^(m - n + 1) above; Hill numbers from the expected frequency counts below n
and the asymptotic estimators (Chao1, Chao-Wang-Jost Shannon, the unbiased Simpson) above.
numpy only: log binomials come from one table of log factorials. (hillrep, a Python port of
iNEXT, agrees with these to 1e-6 but needs scipy and pandas, costs 3-8 times as much per point,
and its bootstrap resamples tokens as if independent, where the answer is the unit sampled.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ORDERS = (0, 1, 2)
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(32)


@dataclass(frozen=True)
class AtCoverage:
    """Hill numbers of order 0, 1, 2 at ``coverage`` (the target, or the highest coverage
    the sample reaches within twice its size), and the sample size ``m`` they stand for."""

    coverage: float
    m: float
    hill: tuple[float, float, float]


class Abundance:
    """Per-type counts of one sample, kept as distinct counts and their multiplicities."""

    def __init__(self, counts: np.ndarray, log_factorials: np.ndarray | None = None) -> None:
        counts = np.asarray(counts, dtype=np.int64)
        counts = counts[counts > 0]
        self.n = int(counts.sum())
        # frequency counts f_x by counting, not sorting (10^5 bigram types, 21 times a refresh)
        freq = np.bincount(counts) if len(counts) else np.zeros(1, np.int64)
        self.x = np.flatnonzero(freq)
        self.f = freq[self.x].astype(np.float64)
        self.s_obs = float(self.f.sum())
        self.f1 = float(freq[1]) if len(freq) > 1 else 0.0
        self.f2 = float(freq[2]) if len(freq) > 2 else 0.0
        if log_factorials is None or len(log_factorials) <= self.n:
            log_factorials = log_factorial_table(self.n)
        self._lf = log_factorials                               # ln k!, k = 0..n at least

    def _lc(self, a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
        """ln C(a, b) for 0 <= b <= a <= n."""
        result: np.ndarray = self._lf[a] - self._lf[b] - self._lf[np.subtract(a, b)]
        return result

    # --- coverage -------------------------------------------------------------------------

    def deficit_factor(self) -> float:
        """A = (n - 1) f1 / ((n - 1) f1 + 2 f2) (f2 = 0: f1 - 1 for f1); 1 without singletons."""
        n, f1, f2 = self.n, self.f1, self.f2
        if f1 == 0:
            return 1.0
        if f2 > 0:
            return (n - 1) * f1 / ((n - 1) * f1 + 2 * f2)
        return (n - 1) * (f1 - 1) / ((n - 1) * (f1 - 1) + 2)

    def coverage(self, m: float) -> float:
        """Expected coverage of a sample of ``m`` items (integer below n)."""
        n = self.n
        if m >= n:
            result: float = 1.0 - self.f1 / n * self.deficit_factor() ** (m - n + 1)
            return result
        m = int(m)
        x, f = self.x, self.f
        ok = n - x >= m
        # C(n - x, m) / C(n - 1, m): the chance a sample of m misses a type seen x times
        miss = np.exp(self._lf[n - x[ok]] - self._lf[n - x[ok] - m]
                      - self._lf[n - 1] + self._lf[n - 1 - m])
        return float(1.0 - (f[ok] * x[ok] / n * miss).sum())

    def _coverages(self, ms: np.ndarray) -> np.ndarray:
        """coverage(m) for integer sizes 1 <= m <= n at once."""
        n, x, f = self.n, self.x[:, None], self.f[:, None]
        below = ms < n
        m = np.where(below, ms, 0)[None, :]
        ok = n - x >= m
        miss = np.exp(self._lf[n - x] - self._lf[np.maximum(n - x - m, 0)]
                      - self._lf[n - 1] + self._lf[np.maximum(n - 1 - m, 0)])
        out = 1.0 - np.where(ok, f * x / n * miss, 0.0).sum(axis=0)
        return np.where(below, out, 1.0 - self.f1 / n * self.deficit_factor())

    def size_for(self, target: float, near: float | None = None) -> float:
        """Sample size (real, in [1, 2n]) whose expected coverage is ``target``; 2n when the
        target lies beyond what twice the sample would reach. ``near``: a guess to search
        around first (the whole sample's size at that coverage, for a left-out sample of the
        same population)."""
        n = self.n
        if n < 2 or target <= self._simpson():        # coverage(1) is the Simpson sum
            return 1.0
        at_n = self.coverage(n)
        if target <= at_n:
            lo, hi = 1, n              # coverage(lo) < target <= coverage(hi)
            c_lo, c_hi = self._simpson(), at_n
            if near is not None and 1 < near < n - 1:
                a, b = max(1, int(near * 0.95)), min(n, int(near * 1.05) + 1)
                ca, cb = self._coverages(np.array([a, b]))
                if ca < target <= cb:
                    lo, hi, c_lo, c_hi = a, b, ca, cb
            while hi - lo > 1:         # a grid of 32 sizes at a time: one to four passes
                grid = np.unique(np.linspace(lo, hi, 34).astype(np.int64))
                cov = self._coverages(grid)
                below = np.flatnonzero(cov < target)
                if not len(below):     # rounding put coverage(lo) at the target already
                    return float(lo)
                i = int(below.max())
                lo, hi, c_lo, c_hi = int(grid[i]), int(grid[i + 1]), cov[i], cov[i + 1]
            return lo + (target - c_lo) / (c_hi - c_lo) if c_hi > c_lo else float(hi)
        factor = self.deficit_factor()
        if factor >= 1.0 or factor <= 0.0 or target >= self.coverage(2 * n):
            return float(2 * n)
        return float(min(2 * n, n - 1 + math.log((1.0 - target) * n / self.f1) / math.log(factor)))

    # --- Hill numbers ----------------------------------------------------------------------

    def observed(self, q: int) -> float:
        p = self.x / self.n
        if q == 0:
            return self.s_obs
        if q == 1:
            return float(math.exp(-(self.f * p * np.log(p)).sum()))
        return float(1.0 / (self.f * p ** 2).sum())

    def _simpson(self) -> float:
        n = self.n
        return float((self.f * self.x * (self.x - 1)).sum() / (n * (n - 1))) if n > 1 else 0.0

    def _rarefied(self, m: int, q: int) -> float:
        """Expected Hill number of a random subsample of m < n items."""
        n, x, f = self.n, self.x, self.f
        if q == 2:
            return 1.0 / (1.0 / m + (1.0 - 1.0 / m) * self._simpson())
        if q == 0:
            ok = n - x >= m
            miss = np.exp(self._lc(n - x[ok], m) - self._lc(n, m))
            return float(self.s_obs - (f[ok] * miss).sum())
        # q = 1: expected frequency counts f_k(m) = sum_i C(x_i, k) C(n - x_i, m - k) / C(n, m),
        # each type's k only where its hypergeometric weight is not negligible (9 sd)
        mean = m * x / n
        sd = np.sqrt(mean * (1 - x / n) * (n - m) / max(n - 1, 1))
        lo = np.maximum(np.maximum(1, m - (n - x)), np.floor(mean - 9 * sd - 2)).astype(np.int64)
        hi = np.minimum(np.minimum(x, m), np.ceil(mean + 9 * sd + 2)).astype(np.int64)
        width = np.maximum(hi - lo + 1, 0)
        row = np.repeat(np.arange(len(x)), width)
        ks = np.arange(int(width.sum())) - np.repeat(np.cumsum(width) - width, width) + lo[row]
        xs = x[row]
        weight = f[row] * np.exp(self._lc(xs, ks) + self._lc(n - xs, m - ks) - self._lc(n, m))
        a = ks / m
        return float(math.exp(-(weight * a * np.log(a)).sum()))

    def _shannon_asymptotic(self) -> float:
        """Chao, Wang & Jost (2013) entropy estimator, in nats."""
        n, x, f, f1, f2 = self.n, self.x, self.f, self.f1, self.f2
        harmonic = np.concatenate(([0.0], np.cumsum(1.0 / np.arange(1, n + 1))))
        ok = x < n
        # digamma(n) - digamma(x) = sum_{k=x}^{n-1} 1/k
        h = float((f[ok] * x[ok] / n * (harmonic[n - 1] - harmonic[x[ok] - 1])).sum())
        if f1 == 0:
            return h
        a = 2 * f2 / ((n - 1) * f1 + 2 * f2) if f2 > 0 else 2 / ((n - 1) * (f1 - 1) + 2)
        if a >= 1.0:
            return h
        return h + f1 / n * _tail(a, n)

    def asymptotic(self, q: int) -> float:
        n, f1, f2 = self.n, self.f1, self.f2
        if q == 0:
            f0 = (n - 1) / n * (f1 * f1 / (2 * f2) if f2 > 0 else f1 * (f1 - 1) / 2)
            return self.s_obs + f0
        if q == 1:
            return math.exp(self._shannon_asymptotic())
        s = self._simpson()
        return 1.0 / s if s > 0 else math.inf

    def _extrapolated(self, m: float, q: int) -> float:
        n, f1, f2 = self.n, self.f1, self.f2
        extra = m - n
        if q == 2:
            return 1.0 / (1.0 / m + (1.0 - 1.0 / m) * self._simpson())
        if q == 0:
            f0 = (n - 1) / n * (f1 * f1 / (2 * f2) if f2 > 0 else f1 * (f1 - 1) / 2)
            if f0 <= 0:
                return self.s_obs
            return float(self.s_obs + f0 * (1.0 - (1.0 - f1 / (n * f0 + f1)) ** extra))
        obs, asy = self.observed(1), self.asymptotic(1)
        rfd = self._rarefied(n - 1, 1) if n > 1 else obs
        beta = (obs - rfd) / (asy - rfd) if asy != rfd else 0.0
        return float(obs + (asy - obs) * (1.0 - (1.0 - beta) ** extra))

    def hill(self, m: float, q: int) -> float:
        """Hill number of order q at sample size m (1 <= m <= 2n): interpolated below n
        (linearly between the integers around m), observed at n, extrapolated above."""
        n = self.n
        if m > n:
            return self._extrapolated(m, q)
        lo, hi = int(math.floor(m)), int(math.ceil(m))

        def at(k: int) -> float:
            return self.observed(q) if k >= n else self._rarefied(max(k, 1), q)

        return at(lo) if lo == hi else (hi - m) * at(lo) + (m - lo) * at(hi)

    def at_coverage(self, target: float, near: float | None = None) -> AtCoverage | None:
        """Hill numbers of order 0, 1, 2 at coverage ``target``, or at the highest coverage
        reached within 2n when the target is beyond it; None for an empty sample."""
        if self.n == 0:
            return None
        m = self.size_for(target, near)
        reached = target if 1.0 < m < 2 * self.n else self.coverage(m)
        q0, q1, q2 = (self.hill(m, q) for q in ORDERS)
        return AtCoverage(reached, m, (q0, q1, q2))


def log_factorial_table(n: int) -> np.ndarray:
    """ln k! for k = 0..n."""
    return np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, n + 1, dtype=np.float64)))))


def deficit_se(counts: np.ndarray) -> float | None:
    """Standard error of the deficit f1 / n * A with f1 as a Poisson count: f1 sums many
    nearly independent rare events, so Var(f1) ~ f1 (1 - f1 / n); n hardly varies."""
    a = Abundance(counts)
    if not a.n:
        return None
    return a.deficit_factor() * math.sqrt(a.f1 * (1 - a.f1 / a.n)) / a.n


def _tail(a: float, n: int) -> float:
    """sum_{k>=1} b^k / (k + n - 1), b = 1 - A: the unseen types' term of the Shannon
    estimator, (1-A)^(1-n) (-ln A - sum_{r<n} (1-A)^r / r), without its cancellation.

    Summed term by term it needs ~30 / A terms (millions for words, where A ~ 1e-5); as the
    integral of b t^(n-1) / (1 - b t) over [0, 1], with t = 1 - s and s = A (e^u - 1), the
    integrand is smooth in u and 16 Gauss-Legendre panels of 32 nodes give 1e-10."""
    b, c = 1.0 - a, n - 1
    upper = math.log1p(min(1.0, 80.0 / max(c, 1)) / a)
    edges = np.linspace(0.0, upper, 17)
    half = (edges[1:] - edges[:-1])[:, None] / 2
    u = half * _NODES[None, :] + (edges[1:] + edges[:-1])[:, None] / 2
    s = np.minimum(a * np.expm1(u), 1.0)
    with np.errstate(divide="ignore"):
        f = b * np.exp(c * np.log1p(-s)) * a * np.exp(u) / (a + b * s)
    return float((half * _WEIGHTS[None, :] * f).sum())


def deficit(counts: np.ndarray) -> float | None:
    """Coverage deficit of the sample itself, f1 / n * A (None when empty): a Good-Turing
    tail mass with the small-sample correction of Chao & Jost."""
    a = Abundance(counts)
    return 1.0 - a.coverage(a.n) if a.n else None


def with_jackknife(counts: np.ndarray, target: float,
                   ) -> dict[str, tuple[float | None, np.ndarray]]:
    """Hill numbers of order 0, 1, 2 at coverage ``target`` and the sample's coverage
    deficit 1 - C, each with its leave-group-out values, from a types x groups count matrix.

    Every leave-group-out sample is standardised to the same coverage (its deficit to the
    same size), so its values differ from the full sample's by sampling alone, not by the
    smaller size (the delete-group jackknife of a count of distinct types follows the size
    instead).
    Keys: "q0", "q1", "q2", "deficit" and "coverage" (the coverage the values stand at)."""
    groups = counts.shape[1]
    by_group = np.ascontiguousarray(counts.T, dtype=np.int64)    # one row per group
    total = by_group.sum(axis=0)
    out: dict[str, tuple[float | None, np.ndarray]] = {}
    table = log_factorial_table(int(total.sum()))
    full = Abundance(total, table)
    at = full.at_coverage(target)
    if at is None:
        return out
    # a sample short of the target stands at the coverage it reaches: its leave-group-out
    # samples are taken there too
    target = at.coverage
    loo = np.full((groups, 4), np.nan)
    for g in range(groups):
        a = Abundance(total - by_group[g], table)
        r = a.at_coverage(target, near=at.m) if a.n else None
        if r is not None:
            # the deficit at the whole sample's size: a smaller sample has more types
            # still unseen (measured: the deficits of the smaller samples themselves gave
            # errors 30-40% too wide, covering 99-100%)
            loo[g] = (*r.hill, 1.0 - a.coverage(full.n))
    for i, q in enumerate(ORDERS):
        out[f"q{q}"] = (at.hill[i], loo[:, i])
    out["deficit"] = (1.0 - full.coverage(full.n), loo[:, 3])
    out["coverage"] = (at.coverage, np.full(groups, at.coverage))
    return out
