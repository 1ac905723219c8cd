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
from ..registry import BY_KEY, SIGNALS
from ..window import compute_window

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


def _draw(texts: Sequence[str], size: int, *seed_parts: object) -> list[str]:
    if len(texts) <= size:
        return list(texts)
    rng = random.Random(":".join(map(str, seed_parts)))
    return [texts[i] for i in sorted(rng.sample(range(len(texts)), size))]


def measure(label: str, texts: Sequence[str], sources: Sequence[str],
            synthetic: frozenset[str], options: DiversityOptions) -> Diversity:
    by_source: dict[str, list[str]] = {}
    for text, source in zip(texts, sources, strict=True):
        by_source.setdefault(source, []).append(text)
    floor = max(options.min_rows, MIN_SAMPLE)
    measured = sorted(s for s, rows in by_source.items() if len(rows) >= floor)
    too_small = tuple(sorted(s for s in by_source if s not in measured))
    size = min([len(by_source[s]) for s in measured] + [options.sample_size]) \
        if measured else 0
    results = []
    for source in measured:
        sample = _draw(by_source[source], size, options.seed, label, source)
        window = compute_window(window_of_answers(sample, sample_size=size))
        values = {k: float(v) for k, v in window.values.items()
                  if k in BY_KEY and v is not None}
        results.append(SourceDiversity(source, len(by_source[source]), values))
    human = [t for s, rows in by_source.items() if s not in synthetic for t in rows]
    synth = [t for s, rows in by_source.items() if s in synthetic for t in rows]
    return Diversity(size, tuple(results), too_small,
                     _narrowing(label, human, synth, floor, options))


def _narrowing(label: str, human: list[str], synth: list[str], floor: int,
               options: DiversityOptions) -> Narrowing | None:
    size = min(len(human), len(synth), options.sample_size)
    if size < floor:
        return None
    a = window_of_answers(_draw(human, size, options.seed, label, "human"), sample_size=size)
    b = window_of_answers(_draw(synth, size, options.seed, label, "synthetic"),
                          sample_size=size)
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

