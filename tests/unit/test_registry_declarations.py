"""A signal is its registry entry and its computation: a test-only signal declared here flows
through the window gauges and the comparison engine with its own test, and nothing outside
the registry dispatches on a signal's key. Declarations that could not be computed or tested
as declared are refused."""

from __future__ import annotations

import ast
import math
import sys
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest

from collapse_otel.compare import CompareOptions, compare_windows, window_of_answers
from collapse_otel.compare.engine import DEGRADED
from collapse_otel.compare.permutation import Permuted, normal_p_value
from collapse_otel.engine.window import compute_window
from collapse_otel.signals import registry
from collapse_otel.signals.accumulators import MomentStats
from collapse_otel.signals.registry import PERMUTATION, WELCH, Z_JACKKNIFE, Signal
from tests.support.compare_data import pool, templated

PKG = Path(__file__).resolve().parents[2] / "collapse_otel"
N = 120
# Mixin rules and alerts about the two feedback rates and the agent loop rate: each rate is
# paired with the series that counts what it rests on (rated answers, evaluation results,
# agent turns), which only those have.
KEYS_ALLOWED_IN = {"signals/registry.py", "mixin/feedback.py", "mixin/loops.py"}


def _moments(values) -> MomentStats:
    m = MomentStats()
    m.update_many([float(v) for v in values])
    return m


def _words(items) -> np.ndarray:
    return np.array([len(i.text.split()) for i in items], dtype=np.float64)


def _mean_words(half_items) -> tuple[float, float]:
    v = _words(half_items)
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v)))


def _permuted_mean_words(p) -> Permuted:
    lengths = _words(p.items)
    return Permuted(lambda half: (float(lengths[half > 0].mean()),
                                  float(lengths[half == 0].mean())))


# A per-answer mean (Welch on its own moments) and a corpus statistic with a permuted form.
CHARS = registry._s(
    "test_answer_chars", "collapse_test_answer_chars", (), "help", "Answer characters",
    "Characters per sampled answer.", "length and variance", -1, "mean",
    per_answer=lambda w: _moments(len(i.text) for i in w.sample))
WORDS = registry._s(
    "test_mean_words", "collapse_test_mean_words", (), "help", "Words per answer",
    "Mean words per sampled answer, as a corpus statistic.", "length and variance", -1,
    "corpus", compute=lambda v: _mean_words(v.sample.items), permuted=_permuted_mean_words)


@pytest.fixture
def declare(monkeypatch):
    """Add signals to the registry as a new entry would: every module reading the
    registry's list (and its index by key) reads the longer one."""
    signals, by_key = registry.SIGNALS, registry.BY_KEY

    def install(*extra: Signal) -> None:
        longer = signals + extra
        index = MappingProxyType({s.key: s for s in longer})
        for name, module in list(sys.modules.items()):
            if name.startswith("collapse_otel"):
                if getattr(module, "SIGNALS", None) is signals:
                    monkeypatch.setattr(module, "SIGNALS", longer)
                if getattr(module, "BY_KEY", None) is by_key:
                    monkeypatch.setattr(module, "BY_KEY", index)

    return install


def _sides():
    texts = pool()
    a = window_of_answers(texts[:N], sample_size=N)
    b = window_of_answers(templated(texts[N:2 * N]), sample_size=N)
    return a, b


def test_a_declared_signal_is_computed_and_tested_as_declared(declare) -> None:
    declare(CHARS, WORDS)
    a, b = _sides()
    window = compute_window(a)
    assert window.values["test_answer_chars"] == pytest.approx(
        np.mean([len(i.text) for i in a.sample]), rel=1e-12)
    mean, se = _mean_words(a.sample)
    assert window.values["test_mean_words"] == pytest.approx(mean, rel=1e-12)
    assert window.stderr["test_mean_words"] == pytest.approx(se, rel=1e-12)

    c = compare_windows(a, b, CompareOptions(permutations=60, seed=3, sample_size=N))
    chars, words = c.result("test_answer_chars"), c.result("test_mean_words")
    # Welch on the per-answer values (normal tail, as for every mean)
    ma, mb = _moments(len(i.text) for i in a.sample), _moments(len(i.text) for i in b.sample)
    z = (mb.mean() - ma.mean()) / math.hypot(ma.mean_se(), mb.mean_se())
    assert chars.test == WELCH
    assert chars.p_value == pytest.approx(math.erfc(abs(z) / math.sqrt(2)), rel=1e-9)
    # the permutation test on the declared permuted form: the same halvings of the same
    # generator as the engine (answer splits first, one per permutation)
    assert words.test == PERMUTATION
    lengths = np.r_[_words(a.sample[:N]), _words(b.sample[:N])]
    rng = np.random.default_rng(3)
    null = np.empty(60)
    for i in range(60):
        half = np.zeros(2 * N)
        half[rng.permutation(2 * N)[:N]] = 1.0
        null[i] = lengths[half == 0].mean() - lengths[half > 0].mean()
    observed = lengths[N:].mean() - lengths[:N].mean()
    assert words.p_value == pytest.approx(normal_p_value(observed, null), rel=1e-9)
    # templated answers are shorter: both judged, both degraded, in their family's verdict
    assert {chars.verdict, words.verdict} == {DEGRADED}
    family = next(f for f in c.families if f.family == "length and variance")
    assert {"test_answer_chars", "test_mean_words"} <= set(family.degraded)


def test_a_corpus_signal_without_a_permuted_form_is_tested_on_its_errors(declare) -> None:
    declare(replace(WORDS, key="test_mean_words_z", permuted=None, test=""))
    a, b = _sides()
    c = compare_windows(a, b, CompareOptions(permutations=20, sample_size=N))
    r = c.result("test_mean_words_z")
    assert r.test == Z_JACKKNIFE
    diff = r.candidate - r.baseline
    assert r.p_value == pytest.approx(
        math.erfc(abs(diff) / math.hypot(r.baseline_se, r.candidate_se) / math.sqrt(2)))


@pytest.mark.parametrize("bad, message", [
    (dict(statistic="mean", per_answer=None), "per_answer"),
    (dict(test=PERMUTATION, permuted=None), "lacks"),
    (dict(test="chi-square"), "not one of"),
    (dict(statistic="median"), "statistic"),
    (dict(compute=None), "no computation"),
])
def test_declarations_that_cannot_be_computed_or_tested_are_refused(bad, message) -> None:
    with pytest.raises(ValueError, match=message):
        replace(WORDS, **bad)


def test_every_entry_says_how_its_error_is_estimated_and_how_it_is_tested() -> None:
    for s in registry.SIGNALS:
        assert s.uncertainty and s.test in registry.TESTS, s.key
        assert s.compute is not None or s.proportion is not None or s.per_answer is not None


def _literals(path: Path) -> set[str]:
    return {node.value for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def test_no_module_dispatches_on_a_signal_key() -> None:
    """Outside the registry no string in the package is a signal's key: window gauges,
    tests, docs and exporters all read the entries."""
    keys = set(registry.BY_KEY)
    found = {}
    for path in PKG.rglob("*.py"):
        name = path.relative_to(PKG).as_posix()
        if name not in KEYS_ALLOWED_IN and (hits := keys & _literals(path)):
            found[name] = sorted(hits)
    assert not found
