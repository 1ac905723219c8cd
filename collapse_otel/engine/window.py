"""Every window gauge of one stream, with its standard error, from the window's sketches.

Runs on the worker outside the aggregator's lock (``Aggregator.refresh``). Each signal is
computed as its registry entry declares (``Signal.estimate``), on a view of the window: its
counts and moments (``inputs``), its reservoir sample prepared once for the corpus
statistics (``sample``), and the window-level computations below (duplicate shares over the
window's text hashes, distinct questions). Keys are those of ``collapse_otel.signals.registry``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from ..forksafe import cached_property
from ..signals import resampling as R
from ..signals.accumulators import MomentStats, agresti_coull_se
from ..signals.answer_sample import SampledAnswer
from ..signals.registry import COVERAGE, SIGNALS, Estimate
from ..signals.sample_view import SampleView
from .snapshot import WindowSignals

STREAMING_GZIP_LEVEL = 6
proportion_se = agresti_coull_se   # the error of a share of the window's answers


@dataclass(frozen=True)
class WindowInputs:
    answers: int
    with_text: int
    exact: int
    near: int
    seq: MomentStats              # seq-rep-4 of the window's answers
    completion: MomentStats       # completion tokens of the window's answers
    sample: list[SampledAnswer]   # the reservoir sample of the window
    text_hashes: np.ndarray | None = None   # every window answer's text hash, in order
    with_question: int = 0        # answers with text whose question is known
    cross_question: int = 0       # of which duplicate an answer to another question
    question_hashes: np.ndarray | None = None   # their question hashes
    feedback: tuple[int, int] | None = None     # thumbs (up, down); None: the stream has none
    evaluations: tuple[int, int, int] | None = None   # (pass, fail, unknown) results
    loops: tuple[int, int] | None = None   # (looping, all) agent turns; None: the stream has none
    embedder: str = "hashed"      # what embedded the sample (hashed, a bundled model, custom)


class WindowView:
    """One window as the registry's computations read it: ``inputs``, its counts and
    moments, and ``sample``, its reservoir sample prepared once for every corpus statistic
    (Hill numbers at the registry's coverage per kind of type, or at ``coverage``)."""

    def __init__(self, inputs: WindowInputs, coverage: Mapping[str, float] | None = None,
                 groups: int = R.GROUPS) -> None:
        self.inputs = inputs
        self.sample = SampleView(inputs.sample, {**COVERAGE, **(coverage or {})}, groups,
                                 STREAMING_GZIP_LEVEL)

    def at(self, coverage: Mapping[str, float]) -> WindowView:
        """The same window with its Hill numbers at ``coverage`` (a comparison's common
        coverage), sharing the work done so far."""
        other = copy.copy(self)
        other.sample = self.sample.at({**COVERAGE, **coverage})
        return other

    @cached_property
    def _exact(self) -> tuple[Estimate | None, float]:
        """The exact duplicate share with its error, and the duplicates' design effect
        (variance of the share / its binomial variance, at least 1)."""
        w = self.inputs
        if w.text_hashes is not None and len(w.text_hashes) >= 2:
            # repeats cluster (one canned reply repeated many times), so not binomial: the
            # jackknife over the window's text hashes (measured: binomial errors covered 89%)
            value, loo = R.repeated_share(w.text_hashes)
            se = R.jackknife_se(loo)
            n = len(w.text_hashes)
            binomial = proportion_se(round(value * n), n) if value is not None else None
            clustering = max(1.0, (se / binomial) ** 2) if se is not None and binomial else 1.0
            return (value, se), clustering
        if w.with_text:
            return (w.exact / w.with_text, proportion_se(w.exact, w.with_text)), 1.0
        return None, 1.0

    def exact_duplicates(self) -> Estimate | None:
        return self._exact[0]

    def cross_question_duplicates(self) -> Estimate | None:
        """The same clusters of repeats make these duplicates: the binomial error widened by
        the exact duplicates' design effect (measured: the binomial error alone covered
        87-96%)."""
        w = self.inputs
        if not w.with_question:
            return None
        return (w.cross_question / w.with_question,
                proportion_se(w.cross_question, w.with_question) * math.sqrt(self._exact[1]))

    def distinct_questions(self) -> Estimate | None:
        hashes = self.inputs.question_hashes
        if hashes is None or len(hashes) < 2:
            return None
        repeated, loo = R.repeated_share(hashes)
        return None if repeated is None else (1.0 - repeated, R.jackknife_se(1.0 - loo))


def compute_window(w: WindowInputs, coverage: Mapping[str, float] | None = None,
                   view: WindowView | None = None) -> WindowSignals:
    """Every signal of the window; the Hill numbers at the registry's coverage per kind of
    type, or at ``coverage`` (a comparison's common coverage). ``view``: the window's view
    when the caller keeps one (its work is shared; ``coverage`` is then the view's)."""
    values: dict[str, float] = {}
    stderr: dict[str, float] = {}
    view = view or WindowView(w, coverage)
    for s in SIGNALS:
        estimate = s.estimate(view)
        value, se = estimate if estimate is not None else (None, None)
        # + 0.0 turns -0.0 (a cosine or a difference that rounds to nothing) into 0.0: the
        # exposition would print "-0.0"
        if value is not None and math.isfinite(value):
            values[s.key] = float(value) + 0.0
            if se is not None and math.isfinite(se):
                stderr[s.key] = float(se) + 0.0
    feedback, evaluations = _outcomes(w)
    turns = {} if w.loops is None else {"true": w.loops[0], "false": w.loops[1] - w.loops[0]}
    return WindowSignals(
        window_answers=w.answers, window_answers_with_text=w.with_text,
        sample_answers=len(w.sample), values=MappingProxyType(values),
        stderr=MappingProxyType(stderr), feedback=feedback, evaluations=evaluations,
        agent_turns=MappingProxyType(turns))


def _outcomes(w: WindowInputs,
              ) -> tuple[MappingProxyType[str, int], MappingProxyType[str, int]]:
    """The counts behind the window's thumbs-down and evaluation fail rates."""
    feedback: dict[str, int] = {}
    evaluations: dict[str, int] = {}
    if w.feedback is not None:
        up, down = w.feedback
        feedback = {"up": up, "down": down}
    if w.evaluations is not None:
        passed, failed, unknown = w.evaluations
        evaluations = {"pass": passed, "fail": failed, "unknown": unknown}
    return MappingProxyType(feedback), MappingProxyType(evaluations)


def sample_statistics(sample: list[SampledAnswer], groups: int = R.GROUPS,
                      coverage: Mapping[str, float] | None = None,
                      ) -> dict[str, Estimate]:
    """Every corpus statistic of ``sample`` alone, (value, standard error) by registry key."""
    view = WindowView(WindowInputs(len(sample), len(sample), 0, 0, MomentStats(),
                                   MomentStats(), sample), coverage, groups)
    out = {}
    for s in SIGNALS:
        if s.statistic == "corpus" and (e := s.estimate(view)) is not None and e[0] is not None:
            out[s.key] = e
    return out
