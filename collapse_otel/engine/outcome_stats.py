"""Feedback and evaluation counts of one stream: cumulative totals and per-pane window counts.

Totals (exported as counters and histograms): thumbs up / down, the feedback score histogram,
and per evaluator its pass / fail / unknown counts and score histogram. Evaluator names are
label values, so a stream keeps at most ``max_evaluators`` of them; later ones count under
``__other__``. Window counts (per pane, so the window's ratios slide with its answers): thumbs
up / down and evaluation pass / fail / unknown. Agent turns (collapse_otel.turns.loops) count the
same way: totals of turns, looping turns, loops by kind and the loop length histogram, and per
pane the turns and looping turns. Everything adds (``merge``), for the multiprocess merge, and
has a versioned codec (version 2 adds the agent turns; version 1 still loads, with none).
"""

from __future__ import annotations

import bisect
from types import MappingProxyType

import numpy as np

from ..records.outcomes import DOWN, FAIL, OTHER_EVALUATOR, PASS, RESULTS, UNKNOWN, UP
from ..signals.codec import Reader, Writer
from ..turns.loops import KINDS as LOOP_KINDS
from .snapshot import LOOP_LENGTH_BUCKETS as LENGTH_BUCKETS
from .snapshot import SCORE_BUCKETS, HistogramSnapshot

TAG_TOTALS, TAG_WINDOW = 42, 43
EVALUATOR_BYTES = 600   # an evaluator's entry: name, counts, 21-bucket histogram (430 measured)


class ScoreHistogram:
    """Scores per SCORE_BUCKETS bucket (the last counts scores above the last bound) and
    their sum (``bounds``: LENGTH_BUCKETS for loop lengths)."""

    __slots__ = ("counts", "total", "bounds")

    def __init__(self, bounds: tuple[float, ...] = SCORE_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def add(self, score: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, score)] += 1
        self.total += score

    def merge(self, other: ScoreHistogram) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.total += other.total

    def snapshot(self) -> HistogramSnapshot:
        return HistogramSnapshot(tuple(self.counts), self.total, sum(self.counts),
                                 self.bounds)

    def write(self, w: Writer) -> None:
        w.array(np.array(self.counts), "<i8").f64(self.total)

    @classmethod
    def read(cls, r: Reader, bounds: tuple[float, ...] = SCORE_BUCKETS) -> ScoreHistogram:
        out = cls(bounds)
        counts = r.array("<i8").tolist()
        if len(counts) != len(out.counts):
            raise ValueError("score histogram buckets do not match this version")
        out.counts, out.total = counts, r.f64()
        return out


class OutcomeTotals:
    """Cumulative feedback and evaluation counts of one stream (bounded evaluators)."""

    def __init__(self) -> None:
        self.feedback = {UP: 0, DOWN: 0}
        self.feedback_scores = ScoreHistogram()
        self.results: dict[str, dict[str, int]] = {}       # evaluator -> result -> count
        self.scores: dict[str, ScoreHistogram] = {}        # evaluator -> scores
        self.turns = self.looping = 0                      # agent turns, of which loop
        self.loops = dict.fromkeys(LOOP_KINDS, 0)          # looping turns by kind of loop
        self.lengths = ScoreHistogram(LENGTH_BUCKETS)      # loop length of every agent turn

    @property
    def has_feedback(self) -> bool:
        return bool(self.feedback[UP] or self.feedback[DOWN] or any(self.feedback_scores.counts))

    def add_feedback(self, rating: str | None, score: float | None) -> None:
        if rating in self.feedback:
            self.feedback[rating] += 1
        if score is not None:
            self.feedback_scores.add(score)

    def add_turn(self, length: int, kinds: tuple[str, ...]) -> None:
        self.turns += 1
        self.looping += bool(kinds)
        for kind in kinds:
            if kind in self.loops:
                self.loops[kind] += 1
        self.lengths.add(float(max(1, length)))

    def add_evaluation(self, evaluator: str, result: str, score: float | None,
                       max_evaluators: int) -> None:
        name = self._slot(evaluator, max_evaluators)
        counts = self.results.get(name)
        if counts is None:
            counts = self.results[name] = dict.fromkeys(RESULTS, 0)
        counts[result if result in counts else UNKNOWN] += 1
        if score is not None:
            hist = self.scores.get(name)
            if hist is None:
                hist = self.scores[name] = ScoreHistogram()
            hist.add(score)

    def _slot(self, evaluator: str, max_evaluators: int) -> str:
        if evaluator in self.results or evaluator == OTHER_EVALUATOR:
            return evaluator
        named = len(self.results) - (OTHER_EVALUATOR in self.results)
        return evaluator if named < max_evaluators else OTHER_EVALUATOR

    def merge(self, other: OutcomeTotals, max_evaluators: int) -> None:
        for rating, n in other.feedback.items():
            self.feedback[rating] += n
        self.feedback_scores.merge(other.feedback_scores)
        for name, counts in other.results.items():
            slot = self._slot(name, max_evaluators)
            mine = self.results.setdefault(slot, dict.fromkeys(RESULTS, 0))
            for result, n in counts.items():
                mine[result] += n
        for name, hist in other.scores.items():
            slot = self._slot(name, max_evaluators)
            self.scores.setdefault(slot, ScoreHistogram()).merge(hist)
        self.turns += other.turns
        self.looping += other.looping
        for kind, n in other.loops.items():
            self.loops[kind] += n
        self.lengths.merge(other.lengths)

    def nbytes(self) -> int:
        """Approximate memory held (what the memory budget counts)."""
        return EVALUATOR_BYTES * (1 + len(self.results))

    def exported(self) -> tuple:
        """(feedback by rating, feedback score histogram or None, evaluations by (evaluator,
        result), score histogram by evaluator): read-only copies for a snapshot; empty until
        the stream gets feedback (evaluations), so other streams export no such series."""
        fb = self.feedback_scores
        return (MappingProxyType(dict(self.feedback) if self.has_feedback else {}),
                fb.snapshot() if any(fb.counts) else None,
                MappingProxyType({(name, result): n for name, counts in self.results.items()
                                  for result, n in counts.items()}),
                MappingProxyType({name: h.snapshot() for name, h in self.scores.items()}))

    def loops_exported(self) -> tuple:
        """(agent turns by looping true / false, looping turns by kind, loop length
        histogram or None): empty until the stream has an agent turn."""
        if not self.turns:
            return MappingProxyType({}), MappingProxyType({}), None
        return (MappingProxyType({"true": self.looping, "false": self.turns - self.looping}),
                MappingProxyType(dict(self.loops)), self.lengths.snapshot())

    def to_bytes(self) -> bytes:
        w = Writer(TAG_TOTALS, 2).u64(self.feedback[UP]).u64(self.feedback[DOWN])
        self.feedback_scores.write(w)
        w.u64(len(self.results))
        for name in sorted(self.results):
            counts = self.results[name]
            w.text(name)
            for result in RESULTS:
                w.u64(counts[result])
            hist = self.scores.get(name)
            w.u64(hist is not None)
            if hist is not None:
                hist.write(w)
        w.u64(self.turns).u64(self.looping)
        for kind in LOOP_KINDS:
            w.u64(self.loops[kind])
        self.lengths.write(w)
        return w.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> OutcomeTotals:
        r = Reader(data, TAG_TOTALS, versions=(1, 2))
        out = cls()
        out.feedback[UP], out.feedback[DOWN] = r.u64(), r.u64()
        out.feedback_scores = ScoreHistogram.read(r)
        for _ in range(r.u64()):
            name = r.text()
            out.results[name] = {result: r.u64() for result in RESULTS}
            if r.u64():
                out.scores[name] = ScoreHistogram.read(r)
        if r.version >= 2:
            out.turns, out.looping = r.u64(), r.u64()
            out.loops = {kind: r.u64() for kind in LOOP_KINDS}
            out.lengths = ScoreHistogram.read(r, LENGTH_BUCKETS)
        r.done()
        return out


class WindowOutcomes:
    """One pane's counts: thumbs up / down, evaluation pass / fail / unknown, agent turns
    and looping ones."""

    __slots__ = ("up", "down", "passed", "failed", "unknown", "turns", "looping")

    def __init__(self) -> None:
        self.up = self.down = self.passed = self.failed = self.unknown = 0
        self.turns = self.looping = 0

    def add_turn(self, looping: bool) -> None:
        self.turns += 1
        self.looping += looping

    def add(self, rating: str | None, result: str | None) -> None:
        if rating == UP:
            self.up += 1
        elif rating == DOWN:
            self.down += 1
        if result == PASS:
            self.passed += 1
        elif result == FAIL:
            self.failed += 1
        elif result == UNKNOWN:
            self.unknown += 1

    def merge(self, other: WindowOutcomes) -> WindowOutcomes:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self

    def as_tuple(self) -> tuple[int, ...]:
        return (self.up, self.down, self.passed, self.failed, self.unknown, self.turns,
                self.looping)

    def to_bytes(self) -> bytes:
        w = Writer(TAG_WINDOW, 2)
        for value in self.as_tuple():
            w.u64(value)
        return w.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> WindowOutcomes:
        r = Reader(data, TAG_WINDOW, versions=(1, 2))
        out = cls()
        out.up, out.down, out.passed, out.failed, out.unknown = (r.u64() for _ in range(5))
        if r.version >= 2:
            out.turns, out.looping = r.u64(), r.u64()
        r.done()
        return out


__all__ = ["FAIL", "PASS", "OutcomeTotals", "ScoreHistogram", "WindowOutcomes"]
