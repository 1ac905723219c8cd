"""The verdict against ground truth, small and fast (``make bench`` prints the full table):
a model trained on its own samples is "collapse suspected" from generation 2 on; the control
that keeps the human data never is; generation 1 differs significantly from the human text in
both regimes."""

from __future__ import annotations

import pytest

from benchmarks.validation import judge, meets_requirement
from collapse_otel.compare import CompareOptions

OPTIONS = CompareOptions(permutations=100)


@pytest.fixture(scope="module", params=["replace", "accumulate"])
def regime(request):
    return request.param, judge(request.param, generations=3, answers=1000, seed=0,
                                options=OPTIONS)


def test_verdicts_follow_the_ground_truth(regime):
    name, comparisons = regime
    verdicts = [c.verdict for c in comparisons]
    if name == "replace":
        assert all(c.collapse_suspected for c in comparisons[1:]), verdicts
    else:
        assert not any(c.collapse_suspected for c in comparisons[1:]), verdicts
    first = comparisons[0]
    assert any(r.p_adjusted is not None and r.p_adjusted < 0.05 for r in first.signals)
    assert meets_requirement(name, comparisons)


def test_collapse_is_found_in_families_not_one_number():
    for c in judge("replace", generations=3, answers=1000, seed=1, options=OPTIONS)[1:]:
        assert {"lexical diversity", "semantic dispersion"} <= set(c.degraded_families) or \
            len(c.degraded_families) >= 2
        lexical = c.result("distinct_2")
        assert lexical.verdict == "degraded" and lexical.high < 0   # the interval excludes 0
