"""Diversity of a dataset version per source, at equal sample size, and synthetic vs human.

Every source with at least ``min_rows`` rows is measured on the same number of rows: the
smallest such source's count, capped at ``sample_size`` (1,000), drawn at random (seeded, per
version and source). Each sample goes through the aggregator's own analysis
(``window_of_answers`` + ``compute_window``), so the figures are the registry's signals as
production computes them. Then the synthetic rows (pooled) are judged against the human rows
(every other source, pooled) by the comparison engine (``compare_windows``): the families in
which the synthetic rows are narrower are the families it calls degraded.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from ..compare.engine import DEGRADED, IMPROVED, CompareOptions, compare_windows
from ..compare.sides import window_of_answers
from ..engine.window import compute_window
from ..signals.registry import BY_KEY, SIGNALS

# The registry signals pushed as metrics (every signal is in the JSON report).
PUSHED_SIGNALS = tuple(s.key for s in SIGNALS if s.audit)
MIN_SAMPLE = 4   # compare_windows' own minimum for corpus statistics


@dataclass(frozen=True)
class SourceDiversity:
    source: str
    rows: int
    values: dict[str, float]          # registry key -> value (signals without data left out)


@dataclass(frozen=True)
class SignalChange:
    key: str
    human: float | None
    synthetic: float | None
    change: float | None
    verdict: str                      # the engine's: degraded = synthetic narrower


@dataclass(frozen=True)
class Narrowing:
    """Synthetic rows against human rows, through the comparison engine."""

    sample_size: int
    narrower: tuple[str, ...]         # families the engine calls degraded
    broader: tuple[str, ...]          # families it calls improved
    collapse_suspected: bool
    signals: tuple[SignalChange, ...]


@dataclass(frozen=True)
class Diversity:
    sample_size: int                  # rows per measured source (0: none measured)
    sources: tuple[SourceDiversity, ...]
    too_small: tuple[str, ...]        # sources under min_rows, not measured
    narrowing: Narrowing | None       # None without enough synthetic and human rows


@dataclass(frozen=True)
class DiversityOptions:
    sample_size: int = 1000
    min_rows: int = 30
    permutations: int = 200
    seed: int = 0


def _pick(n: int, size: int, *seed_parts: object) -> list[int]:
    """The positions drawn from ``n`` rows: all of them up to ``size``, else a seeded sample
    in row order (the positions alone decide the draw, so partitions can serve the rows)."""
    if n <= size:
        return list(range(n))
    rng = random.Random(":".join(map(str, seed_parts)))
    return sorted(rng.sample(range(n), size))


@dataclass(frozen=True)
class SamplePlan:
    """The rows a version's diversity needs, as (source, position among the source's rows):
    decided by the rows per source alone (in order of first appearance)."""

    size: int
    measured: tuple[str, ...]
    too_small: tuple[str, ...]
    per_source: dict[str, list[int]]
    narrowing_size: int                       # 0: no synthetic-vs-human comparison
    human: list[tuple[str, int]]
    synthetic: list[tuple[str, int]]

    def wanted(self) -> dict[str, set[int]]:
        out: dict[str, set[int]] = {s: set(p) for s, p in self.per_source.items()}
        for source, i in (*self.human, *self.synthetic):
            out.setdefault(source, set()).add(i)
        return out


def _pooled(counts: dict[str, int], names: list[str], picks: list[int]) -> list[tuple[str, int]]:
    bounds, start = [], 0
    for s in names:
        bounds.append((start, s))
        start += counts[s]
    out, k = [], 0
    for p in picks:   # sorted: walk the sources once
        while k + 1 < len(bounds) and bounds[k + 1][0] <= p:
            k += 1
        out.append((bounds[k][1], p - bounds[k][0]))
    return out


def plan(label: str, counts: dict[str, int], synthetic: frozenset[str],
         options: DiversityOptions) -> SamplePlan:
    floor = max(options.min_rows, MIN_SAMPLE)
    measured = tuple(sorted(s for s, n in counts.items() if n >= floor))
    too_small = tuple(sorted(s for s in counts if s not in measured))
    size = min([counts[s] for s in measured] + [options.sample_size]) if measured else 0
    per_source = {s: _pick(counts[s], size, options.seed, label, s) for s in measured}
    humans = [s for s in counts if s not in synthetic]
    synths = [s for s in counts if s in synthetic]
    n_h, n_s = sum(counts[s] for s in humans), sum(counts[s] for s in synths)
    pooled = min(n_h, n_s, options.sample_size)
    human, synth = [], []
    if pooled >= floor:
        human = _pooled(counts, humans, _pick(n_h, pooled, options.seed, label, "human"))
        synth = _pooled(counts, synths, _pick(n_s, pooled, options.seed, label, "synthetic"))
    return SamplePlan(size, measured, too_small, per_source,
                      pooled if pooled >= floor else 0, human, synth)


def measure_plan(label: str, p: SamplePlan, rows: dict[tuple[str, int], str],
                 options: DiversityOptions) -> Diversity:
    """The diversity from the planned rows (``rows`` maps (source, position) to its text)."""
    results = []
    for source in p.measured:
        sample = [rows[source, i] for i in p.per_source[source]]
        window = compute_window(window_of_answers(sample, sample_size=p.size))
        values = {k: float(v) for k, v in window.values.items()
                  if k in BY_KEY and v is not None}
        results.append(SourceDiversity(source, 0, values))
    return Diversity(p.size, tuple(results), p.too_small, _narrowing(label, p, rows, options))


def measure(label: str, texts: Sequence[str], sources: Sequence[str],
            synthetic: frozenset[str], options: DiversityOptions) -> Diversity:
    by_source: dict[str, list[str]] = {}
    for text, source in zip(texts, sources, strict=True):
        by_source.setdefault(source, []).append(text)
    counts = {s: len(r) for s, r in by_source.items()}
    p = plan(label, counts, synthetic, options)
    rows = {(s, i): by_source[s][i] for s, picks in p.wanted().items() for i in picks}
    return with_counts(measure_plan(label, p, rows, options), counts)


def with_counts(d: Diversity, counts: dict[str, int]) -> Diversity:
    """The measured sources' row counts filled in (the plan's figures know only samples)."""
    return Diversity(d.sample_size, tuple(SourceDiversity(r.source, counts[r.source], r.values)
                                          for r in d.sources), d.too_small, d.narrowing)


def _narrowing(label: str, p: SamplePlan, rows: dict[tuple[str, int], str],
               options: DiversityOptions) -> Narrowing | None:
    size = p.narrowing_size
    if not size:
        return None
    a = window_of_answers([rows[k] for k in p.human], sample_size=size)
    b = window_of_answers([rows[k] for k in p.synthetic], sample_size=size)
    c = compare_windows(a, b, CompareOptions(sample_size=size, seed=options.seed,
                                             permutations=options.permutations),
                        baseline_name="human", candidate_name="synthetic")
    signals = tuple(SignalChange(r.signal.key, r.baseline, r.candidate, r.change, r.verdict)
                    for r in c.signals if r.signal.verdict)
    return Narrowing(size, c.degraded_families,
                     tuple(f.family for f in c.families if f.verdict == IMPROVED),
                     c.collapse_suspected, signals)


def narrower_signals(n: Narrowing) -> list[str]:
    return [s.key for s in n.signals if s.verdict == DEGRADED]
