"""One rolling deploy of the recursive-training simulation judged release by release by a real
Prometheus running the generated rules (``make validate``'s online side, small)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.validation_online import CRITICAL, judge_online
from benchmarks.verdict_stack import VerdictStack
from collapse_otel.signals.registry import verdict_signals
from tests.support.requires import require_binary

pytestmark = pytest.mark.e2e


def test_a_rolling_deploy_of_the_simulation_is_judged_release_by_release(
        tmp_path: Path) -> None:
    """Two generations of the replace regime (collapse): each release is flagged against its
    predecessor, its alert fires, every signal with a critical margin has a bound, and no
    process is left."""
    stack = VerdictStack(tmp_path, binary=require_binary("prometheus"))
    try:
        stack.start_prometheus()
        rows = judge_online(stack, "wikitext", "replace", 0, generations=2, answers=1000)
    finally:
        stack.stop()
    assert [(j.generation, j.suspected, j.alerted) for j in rows] == [(1, True, True),
                                                                      (2, True, True)]
    # every signal with a critical margin judged here (the simulated answers have no
    # questions, so no cross-question duplicates)
    judged_critical = set(CRITICAL) & {s.key for s in verdict_signals(stack.cfg.embedder)}
    judged_critical.discard("cross_question_duplicate_ratio")
    missing = [sorted(judged_critical - set(j.bounds)) for j in rows]
    assert missing == [[], []] and all(j.families for j in rows), rows
    assert len(stack.procs) == 3 and all(p.process.poll() is not None
                                         for p in stack.procs.values())
    assert not list(tmp_path.glob("*.json"))   # the answers files went with their releases
