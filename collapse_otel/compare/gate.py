"""The release gate behind ``collapse-otel compare``: both sides analysed, compared as a
whole and cohort by cohort, the cohort pattern found, and the exit status decided.

Cohorts: when both sides have cohorts, each cohort present on both is compared; when only one
side has them, each of its cohorts is compared with the whole other side (a pinned baseline
without cohorts still judges every candidate cohort). The gate fails when the comparison of
all answers or any cohort's comparison meets ``fail_on``: a cohort that collapses is not
forgiven because the others hide it in the total.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from ..engine.window import WindowInputs
from ..text.normalize import tokenize
from .engine import DEGRADED, IMPROVED, CompareOptions, Comparison, compare_windows
from .inputs import Side, merge_windows
from .sides import window_of_answers

FAIL_ON = ("collapse", "degraded")
ALL = "all answers"


@dataclass(frozen=True)
class Section:
    """One comparison: all answers (``cohort`` None) or one cohort."""

    cohort: str | None
    comparison: Comparison
    lengths: tuple[list[int], list[int]]   # completion tokens per TOKEN_BUCKETS bucket
    note: str = ""

    @property
    def label(self) -> str:
        return ALL if self.cohort is None else f"cohort {self.cohort}"

    def fails(self, fail_on: str) -> bool:
        c = self.comparison
        return c.collapse_suspected if fail_on == "collapse" else bool(c.degraded_families)


@dataclass(frozen=True)
class Pattern:
    """One cohort improved while another degraded: the mark of a candidate that fits
    synthetic (or otherwise favoured) traffic at the expense of the rest."""

    improved_cohort: str
    improved_families: tuple[str, ...]
    degraded_cohort: str
    degraded_families: tuple[str, ...]

    @property
    def message(self) -> str:
        return (f"cohort {self.improved_cohort!r} improved ({', '.join(self.improved_families)})"
                f" while cohort {self.degraded_cohort!r} degraded "
                f"({', '.join(self.degraded_families)})")


@dataclass(frozen=True)
class Phrase:
    text: str
    candidate: int    # candidate answers that contain it
    baseline: int     # baseline answers that contain it


@dataclass(frozen=True)
class GateResult:
    baseline: Side
    candidate: Side
    overall: Section
    cohorts: tuple[Section, ...]
    only_in_baseline: tuple[str, ...]
    only_in_candidate: tuple[str, ...]
    patterns: tuple[Pattern, ...]
    phrases: tuple[Phrase, ...] | None     # only with --show-text
    fail_on: str

    @property
    def sections(self) -> tuple[Section, ...]:
        return (self.overall, *self.cohorts)

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(s.label for s in self.sections if s.fails(self.fail_on))

    @property
    def exit_status(self) -> int:
        return 1 if self.failed else 0


Progress = Callable[..., Callable[[int], object]]   # ProgressBar(label, total, ...)


def run_gate(baseline: Side, candidate: Side, options: CompareOptions, *,
             fail_on: str = "collapse", show_text: bool = False,
             progress: Progress | None = None) -> GateResult:
    if fail_on not in FAIL_ON:
        raise ValueError(f"fail_on must be one of {FAIL_ON}")
    pairs, only_b, only_c = cohort_pairs(baseline, candidate)
    windows = {}
    for role, side in (("baseline", baseline), ("candidate", candidate)):
        needed = sorted({p[1] if role == "baseline" else p[2] for p in pairs} - {None})
        windows[role] = _windows(side, role, needed, options.sample_size, progress,
                                 options.embedder)

    size = max(baseline.count(), candidate.count())
    tick = progress("comparing", len(pairs) + 1, "comparisons", size) if progress else None

    def section(cohort: str | None, b: str | None, c: str | None, note: str = "") -> Section:
        comparison = compare_windows(windows["baseline"][b], windows["candidate"][c], options,
                                     baseline_name=baseline.name, candidate_name=candidate.name)
        if tick:
            tick(1)
        return Section(cohort, comparison, (_lengths(baseline, b), _lengths(candidate, c)), note)

    overall = section(None, None, None)
    cohorts = tuple(section(name, b, c, note) for name, b, c, note in pairs)
    phrases = None
    if show_text:
        phrases = tuple(repeated_phrases(texts(baseline), texts(candidate)))
    return GateResult(baseline, candidate, overall, cohorts, only_b, only_c,
                      tuple(find_patterns(cohorts)), phrases, fail_on)


def cohort_pairs(baseline: Side, candidate: Side):
    """(cohort, baseline cohort or None for all, candidate cohort or None, note) to compare,
    and the cohorts only one side has."""
    b = set(baseline.cohorts) if baseline.has_cohorts else set()
    c = set(candidate.cohorts) if candidate.has_cohorts else set()
    if len(b) <= 1 and len(c) <= 1:   # one cohort at most: the same as all answers
        return [], (), ()
    if b and c:
        pairs = [(name, name, name, "") for name in sorted(b & c)]
        return pairs, tuple(sorted(b - c)), tuple(sorted(c - b))
    if c:
        return [(name, None, name, "against all baseline answers") for name in sorted(c)], (), ()
    return [(name, name, None, "against all candidate answers") for name in sorted(b)], (), ()


def _windows(side: Side, role: str, cohorts: list[str], sample_size: int,
             progress: Progress | None, embedder: str = "hashed",
             ) -> dict[str | None, WindowInputs]:
    if side.windows:   # a state file: the streams' windows
        out: dict[str | None, WindowInputs] = {c: side.windows[c] for c in cohorts}
        out[None] = side.whole if side.whole is not None else \
            merge_windows(list(side.windows.values()))
        return out
    total = side.count() + sum(len(side.records[c]) for c in cohorts)
    tick = progress(f"analysing {role}", total) if progress else None
    everything = [r for c in side.cohorts for r in side.records[c]]
    rated = [o for c in side.cohorts for o in side.outcomes.get(c, ())]
    out = {None: window_of_answers(everything, sample_size=sample_size, progress=tick,
                                   outcomes=rated, embedder=embedder)}
    if len(side.records) == 1 and cohorts:   # the only cohort is all answers
        out[cohorts[0]] = out[None]
        if tick:
            tick(total - len(everything))
        return out
    for c in cohorts:
        out[c] = window_of_answers(side.records[c], sample_size=sample_size, progress=tick,
                                   outcomes=side.outcomes.get(c, ()), embedder=embedder)
    return out


def _lengths(side: Side, cohort: str | None) -> list[int]:
    if cohort is not None:
        return list(side.lengths.get(cohort, ()))
    return [sum(col) for col in zip(*side.lengths.values(), strict=True)]


def find_patterns(cohorts: tuple[Section, ...]) -> list[Pattern]:
    """Every (improved cohort, degraded cohort) pair among the cohort comparisons."""
    out = []
    for good in cohorts:
        up = tuple(f.family for f in good.comparison.families if f.verdict == IMPROVED)
        if not up:
            continue
        for bad in cohorts:
            down = tuple(f.family for f in bad.comparison.families if f.verdict == DEGRADED)
            if bad is not good and down:
                out.append(Pattern(str(good.cohort), up, str(bad.cohort), down))
    return out


def texts(side: Side) -> list[str]:
    """The side's answer texts: every answer of a file, the window samples of a state file
    (normalised and cut to the sample's length)."""
    if side.records:
        return [r.answer for c in side.cohorts for r in side.records[c] if r.answer]
    return [item.text for w in side.windows.values() for item in w.sample]


def repeated_phrases(baseline: list[str], candidate: list[str], top: int = 10,
                     n: int = 4) -> list[Phrase]:
    """The candidate's word n-grams found in the most candidate answers that appear in at
    most one baseline answer (what the candidate repeats and the baseline did not)."""
    def document_frequency(answers: list[str]) -> Counter:
        counts: Counter = Counter()
        for text in answers:
            words = tokenize(text)
            counts.update({" ".join(words[i:i + n]) for i in range(len(words) - n + 1)})
        return counts

    cand = document_frequency(candidate)
    base = document_frequency(baseline)
    found = [Phrase(g, k, base.get(g, 0)) for g, k in cand.items()
             if k >= 2 and base.get(g, 0) <= 1]
    found.sort(key=lambda p: (-p.candidate, p.text))
    return found[:top]

