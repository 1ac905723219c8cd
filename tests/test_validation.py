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


def test_model_written_text_is_worse_than_human_on_every_verdict_signal():
    """On the shipped human- and model-written texts (9 files, 150 texts a side), every
    verdict signal that has a value on both sides moves the collapse way for the model in
    most files (measured: within-answer repetition and distinct-4 9/9, compression 8/9,
    distinct-2 7/9, entity richness at equal coverage 8/9, words at equal coverage (q=1) 6/9,
    unseen words 8/9; semantic dispersion is judged on WordLlama embeddings, not on the
    default's, and is measured in benchmarks/embedders.py)."""
    import json

    from collapse_otel.compare import window_of_answers
    from collapse_otel.registry import VERDICT_SIGNALS
    from collapse_otel.window import compute_window
    from tests.conftest import HUMAN_VS_LLM

    worse = {s.key: [] for s in VERDICT_SIGNALS}
    for path in sorted(HUMAN_VS_LLM.glob("*.json")):
        data = json.loads(path.read_text())
        human = compute_window(window_of_answers(data["original"]))
        model = compute_window(window_of_answers(data["sampled"]))
        for s in VERDICT_SIGNALS:
            a, b = human.get(s.key), model.get(s.key)
            if a is not None and b is not None and a != b:
                worse[s.key].append(s.worse(b - a))
    judged = {k: v for k, v in worse.items() if v}
    assert {"repeated_ngram_within_answer", "distinct_2", "entities_per_answer",
            "compression_ratio"} <= set(judged)
    for key, outcomes in judged.items():
        assert sum(outcomes) > len(outcomes) / 2, (key, outcomes)
