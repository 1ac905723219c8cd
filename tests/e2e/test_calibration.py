"""Every window signal's 95% interval (value +- 1.96 standard errors) covers the value it
estimates between 90% and 99% of the time, on repeated release windows drawn from one fixed
population (``benchmarks/calibration.py``; ``make bench`` runs it at full size)."""

from __future__ import annotations

import pytest

from benchmarks.calibration import coverage
from collapse_otel.signals.registry import SIGNALS

REPLICATES = 150


@pytest.fixture(scope="module")
def table():
    return coverage(replicates=REPLICATES, answers=1200, pool_size=12_000, seed=0)


# Known defects, each a strict xfail: the test fails once the signal is calibrated again.
TOO_WIDE = {
    "entity_coverage_deficit": "its jackknife covers 149 of 150 windows since the entity "
                               "extractor's rules changed: conservative; not judged",
}


def test_every_signal_has_a_value_and_an_error_in_every_window(table):
    # the population retrieves documents, repeats canned replies, loops, and runs agent
    # turns: every signal has a value and an error in every window
    assert set(table) == {s.key for s in SIGNALS}
    for key, (_, windows, _) in table.items():
        assert windows == REPLICATES, key


@pytest.mark.parametrize("key", [
    pytest.param(s.key, marks=pytest.mark.xfail(strict=True, reason=TOO_WIDE[s.key]))
    if s.key in TOO_WIDE else s.key for s in SIGNALS])
def test_every_signal_with_a_standard_error_is_calibrated(table, key):
    covered = table[key][0]
    assert 0.90 <= covered <= 0.99, (key, covered)


def test_errors_are_neither_tiny_nor_huge(table):
    """Coverage alone hides an error that is right on average by luck; the mean error must
    be of the order of the real spread of the values."""
    for key, (_, _, ratio) in table.items():
        assert 0.75 < ratio < 1.4, (key, ratio)
