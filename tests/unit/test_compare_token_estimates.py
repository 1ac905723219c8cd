"""compare on plain texts sees the token counts capture would have given the same texts.

Every capture path estimates a missing completion count from the text (``make_record``), so
online the length family is judged for answers without usage; offline ``compare_answers`` on
the same texts judged it "not enough data" until it applied the same estimate (found by
tests/e2e/test_verdict_e2e.py: a templated canary, online 6 degraded families, offline 5).
"""

from __future__ import annotations

from statistics import mean, pstdev

from collapse_otel.compare import NOT_ENOUGH, compare_answers, window_of_answers
from collapse_otel.config import CollapseConfig
from collapse_otel.engine.window import compute_window
from collapse_otel.records import AnswerRecord
from collapse_otel.spans.build import make_record

VARIED = [" ".join(f"word{i}-{j}" for j in range(5 + (i * 7) % 40)) for i in range(300)]
UNIFORM = [" ".join(f"word{i}-{j}" for j in range(20)) for i in range(300)]


def test_plain_texts_get_captures_estimate():
    captured = [make_record(CollapseConfig(), t) for t in VARIED]
    assert all(r.tokens_estimated and r.completion_tokens for r in captured)
    offline = compute_window(window_of_answers(VARIED))
    online = compute_window(window_of_answers(captured))
    assert offline.get("completion_tokens_cv") is not None
    assert offline.get("completion_tokens_cv") == online.get("completion_tokens_cv")


def test_reported_counts_are_kept_and_answers_without_text_stay_unknown():
    exact = [AnswerRecord(t, completion_tokens=10 + i % 3) for i, t in enumerate(VARIED)]
    cv = compute_window(window_of_answers(exact)).get("completion_tokens_cv")
    counts = [10 + i % 3 for i in range(len(VARIED))]   # the reported counts, not estimates
    assert abs(cv - pstdev(counts) / mean(counts)) < 1e-9
    assert compute_window(window_of_answers([AnswerRecord(None)] * 50)).get(
        "completion_tokens_cv") is None


def test_length_family_is_judged_on_plain_texts():
    c = compare_answers(VARIED, UNIFORM)
    length = c.result("completion_tokens_cv")
    assert length.verdict != NOT_ENOUGH and length.verdict == "degraded", length
    assert "length and variance" in c.degraded_families
