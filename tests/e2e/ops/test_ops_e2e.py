"""End to end: a real Prometheus scrapes the demo (v1 healthy and the pinned baseline, v2
templated, v3 collapsed) and a healthy canary v4 in another process, loads the generated
rules, and every dashboard query and the alerts behave on real data (tests/support/ops_stack.py).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from collapse_otel.mixin.render import ALERTS_PATH, RULES_PATH
from collapse_otel.signals.registry import VERDICT_SIGNALS
from tests.support.ops_stack import CANARY, ROOT, Stack, substitute, variable_values, wait

pytestmark = pytest.mark.e2e

# The Training data dashboard reads what collapse-otel audit pushes to a Pushgateway, not
# the demo: tests/e2e/test_audit_e2e.py runs its every panel against a real one.
DASHBOARDS = sorted(p for p in (ROOT / "grafana" / "dashboards").glob("*.json")
                    if p.name != "collapse-training-data.json")
# The comparison: A = v2 (the previous release of B), B = v3 (collapsed).
COMPARED = {"release_a": "v2", "cohort_a": "default", "release_b": "v3", "cohort_b": "default"}


def test_rules_load_and_evaluate_without_errors(ops_stack: Stack) -> None:
    import yaml

    rules = ops_stack.rules()
    expected = sum(len(g["rules"]) for path in (RULES_PATH, ALERTS_PATH)
                   for g in yaml.safe_load(ops_stack.files[path])["groups"])
    assert len(rules) == expected > 50
    broken = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
    assert not broken, broken


def _run_panels(stack: Stack, model: dict, chosen: dict[str, str]) -> dict:
    """Every target of the dashboard at one instant: {(panel title, refId): [(labels,
    value)]}; fails when no instant after steady scrapes gives every target data."""
    values = variable_values(stack, model, chosen)
    tried: list[float] = []
    outcome: dict = {}

    def attempt() -> bool:
        # one evaluation instant for every query of the dashboard, after steady scrapes; a
        # later one when a scrape failed inside the rule chain's reach of this one
        at = stack.clean_instant()
        if at is None or (tried and at <= tried[-1]):
            return False
        tried.append(at)
        outcome["empty"], outcome["results"] = _panels_at(stack, model, values, at)
        return not outcome["empty"] or len(tried) >= 10

    wait(attempt, 60, "an instant after steady scrapes of both targets", progress=stack.progress)
    assert not outcome["empty"], (f"targets without data at {len(tried)} instants; last:\n"
                                  + "\n".join(outcome["empty"]))
    return outcome["results"]


def _panels_at(stack: Stack, model: dict, values: dict[str, str],
               at: float) -> tuple[list[str], dict]:
    """The dashboard's targets evaluated at ``at``: (the empty ones, every result)."""
    empty, results = [], {}
    for panel in model["panels"]:
        for target in panel.get("targets", []):
            expr = substitute(target["expr"], values)
            rows = [(r["metric"], float(r["value"][1])) for r in stack.query(expr, at)]
            results[(panel["title"], target["refId"])] = rows
            if (not rows or all(math.isnan(v) for _, v in rows)) and \
                    not _no_z(results, panel["title"]) and \
                    not _reference_without_error(stack, expr, at):
                empty.append(f"{panel['title']} [{target['refId']}]: {expr}")
    return empty, results


def _no_z(results: dict, title: str) -> bool:
    """A z panel left empty on purpose: the reference's interval (A's ±, target B of the
    signal's value panel) is 0, so it shows "no z"."""
    signal = title.removesuffix(": z toward collapse")
    reference = results.get((signal, "B"))
    return signal != title and bool(reference) and reference[0][1] == 0


def _reference_without_error(stack: Stack, expr: str, at: float) -> bool:
    """A z target guarded by its reference's error (``stderr... > 0``) left empty on purpose:
    the guard's series exists and is 0 (e.g. a pinned baseline with no duplicate at all)."""
    guard = re.search(r"(\S*collapse_window_signal_stderr:avg_\w+\{[^}]*\}) > 0", expr)
    if not guard:
        return False
    rows = stack.query(guard.group(1), at)
    return bool(rows) and all(float(r["value"][1]) == 0 for r in rows)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_panel_target_returns_data(ops_stack: Stack, path: Path) -> None:
    model = json.loads(path.read_text())
    results = _run_panels(ops_stack, model, COMPARED)
    assert len(results) >= 10
    # a change never is infinite (a zero reference gives no value); a z-score may be, when
    # both standard errors are 0 (infinitely many errors wide, as compare's p = 0)
    infinite = [k for k, rows in results.items() if any(math.isinf(v) for _, v in rows)
                and not k[0].endswith(": z toward collapse")]
    assert not infinite, infinite


def _one(results: dict, title: str, ref: str = "A") -> float:
    (row,) = results[(title, ref)]
    return row[1]


def test_comparison_reads_the_verdict_consistently(ops_stack: Stack) -> None:
    """A = v2 is B = v3's previous release: each change panel is B - A (or (B - A) / A),
    each z-score (B - A) / sqrt(se_A^2 + se_B^2) the collapse way, from the value panels'
    intervals; collapse is suspected for v3."""
    model = json.loads((ROOT / "grafana/dashboards/collapse-release-comparison.json").read_text())
    results = _run_panels(ops_stack, model, COMPARED)
    assert _one(results, "Collapse suspected") == 1
    families = {row[0]["previous_release"]: row[1]
                for row in results[("Families degraded", "A")]}
    assert families["v2"] >= ops_stack.cfg.verdict_min_families
    checked = 0
    for s in VERDICT_SIGNALS:
        a, a95, b, b95 = (_one(results, s.title, ref) for ref in "ABCD")
        change = _one(results, f"{s.title}: change vs previous")
        expected = (b - a) / a if s.change == "relative" else b - a
        assert change == pytest.approx(expected, rel=1e-6, abs=1e-9), s.key
        z_rows = results.get((f"{s.title}: z toward collapse", "A"), [])
        if a95 == 0:   # a reference without error: no z (it would be over B's error alone)
            assert z_rows == [], s.key
            continue
        (_, z), = z_rows
        se = math.hypot(a95 / 1.96, b95 / 1.96)
        assert z == pytest.approx(s.collapse * (b - a) / se, rel=1e-6, abs=1e-6), s.key
        checked += 1
    assert checked >= len(VERDICT_SIGNALS) - 2
    verdicts = [r for (title, _), r in results.items() if title.endswith(": verdict")]
    assert len(verdicts) == 2 * len({s.family for s in VERDICT_SIGNALS})
    assert all(rows[0][1] >= 0 for rows in verdicts)


def test_comparison_of_the_healthy_canary_says_no_change(ops_stack: Stack) -> None:
    """B = v4 (healthy, another process, lineage from its configuration): judged against v3
    and v1, nothing degraded: every family verdict 0 ("no change"), not suspected."""
    model = json.loads((ROOT / "grafana/dashboards/collapse-release-comparison.json").read_text())
    chosen = {"release_a": "v1", "cohort_a": "default", "release_b": CANARY,
              "cohort_b": "default"}
    results = _run_panels(ops_stack, model, chosen)
    assert _one(results, "Collapse suspected") == 0
    assert {row[0]["previous_release"]: row[1]
            for row in results[("Families degraded", "A")]} == {"v3": 0}
    assert {row[0]["baseline_release"]: row[1]
            for row in results[("Families degraded", "B")]} == {"v1": 0}
    verdicts = {k: rows for k, rows in results.items() if k[0].endswith(": verdict")}
    assert verdicts and all([v for _, v in rows] == [0] for rows in verdicts.values())


def _states(stack: Stack, alertname: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for a in stack.alerts():
        if a["labels"]["alertname"] == alertname:
            out.setdefault(a["labels"].get("release"), set()).add(a["state"])
    return out


def test_release_regression_fires_for_the_collapsed_release(ops_stack: Stack) -> None:
    """CollapseReleaseRegression (for: shortened to 3s) for v3: warning against v2, critical
    against the baseline v1, naming the degraded families; never for v1 (nothing to compare
    with) nor for the healthy canary v4."""
    seen: dict[str, set[str]] = {}
    expected = {("warning", "v2"), ("critical", "v2"), ("critical", "v1")}

    def v3_fires() -> list[dict]:
        for release, states in _states(ops_stack, "CollapseReleaseRegression").items():
            seen.setdefault(release, set()).update(states)
        return [a for a in ops_stack.alerts()
                if a["labels"]["alertname"] == "CollapseReleaseRegression"
                and a["labels"].get("release") == "v3" and a["state"] == "firing"]

    def both_severities() -> dict[tuple[str, str], dict]:
        firing = {(a["labels"]["severity"], a["labels"].get("previous_release", "")
                   + a["labels"].get("baseline_release", "")): a for a in v3_fires()}
        # all three: the baseline's critical may follow the previous release's by a rule
        # evaluation
        return firing if set(firing) >= expected else {}

    alerts = wait(both_severities, 60, "CollapseReleaseRegression warning and critical for v3",
                  progress=ops_stack.progress)
    # warning: K families against v2; critical: K+1 against v2, and K against the baseline v1
    assert set(alerts) == expected
    description = alerts[("warning", "v2")]["annotations"]["description"]
    assert "lexical_diversity" in description and "duplication" in description
    assert "v1" not in seen and CANARY not in seen


def test_duplicate_spike_alert_fires_for_the_collapsed_release(ops_stack: Stack) -> None:
    """v3 duplicates far more than v2's baseline, over enough answers: the binomial z-test
    fires; v1 (its own steady baseline) and the canary (below its predecessor) never do."""
    seen: dict[str, set[str]] = {}

    def v3_active() -> bool:
        for release, states in _states(ops_stack, "CollapseDuplicateAnswerSpike").items():
            seen.setdefault(release, set()).update(states)
        return bool(seen.get("v3", set()) & {"pending", "firing"})

    wait(v3_active, 60, "CollapseDuplicateAnswerSpike for v3", progress=ops_stack.progress)
    assert "v1" not in seen and CANARY not in seen


def test_feedback_regression_fires_for_the_collapsed_release(ops_stack: Stack) -> None:
    """The demo's users and judges rate v3 far worse than v2 (thumbs down 35% vs 12%, failed
    groundedness 40% vs 10%): CollapseFeedbackRegression fires for v3 on both rates; never for
    v1 (nothing to compare with) nor for the canary (rated like v1, better than v3)."""
    seen: dict[str, set[str]] = {}

    def v3_fires() -> set[str]:
        for release, states in _states(ops_stack, "CollapseFeedbackRegression").items():
            seen.setdefault(release, set()).update(states)
        return {a["labels"]["signal"] for a in ops_stack.alerts()
                if a["labels"]["alertname"] == "CollapseFeedbackRegression"
                and a["labels"].get("release") == "v3" and a["state"] == "firing"}

    wait(lambda: v3_fires() == {"thumbs_down_ratio", "evaluation_fail_ratio"}, 60,
         "CollapseFeedbackRegression for v3 on both rates", progress=ops_stack.progress)
    assert "v1" not in seen and CANARY not in seen



def test_agent_loop_spike_fires_for_the_release_whose_agents_loop(ops_stack: Stack) -> None:
    """The demo's booking agents of v3 loop on a failing tool in half their turns, v1's and
    v2's in 2%: CollapseAgentLoopSpike fires for v3 against v2, with the change in points as
    its value; never for v1 (nothing to compare with), v2 (as loopy as v1) nor the canary
    (no agent turns)."""
    seen: dict[str, set[str]] = {}

    def v3_fires() -> list[dict]:
        for release, states in _states(ops_stack, "CollapseAgentLoopSpike").items():
            seen.setdefault(release, set()).update(states)
        return [a for a in ops_stack.alerts()
                if a["labels"]["alertname"] == "CollapseAgentLoopSpike"
                and a["labels"].get("release") == "v3" and a["state"] == "firing"]

    (alert,) = wait(v3_fires, 60, "CollapseAgentLoopSpike for v3", progress=ops_stack.progress)
    assert alert["labels"]["previous_release"] == "v2"
    assert alert["labels"]["signal"] == "agent_loop_ratio"
    assert 0.3 < float(alert["value"]) < 0.7   # about 50% against 2%, in points
    rate = ops_stack.query('collapse_agent_loop_ratio{job="collapse-otel", release="v3"}')
    assert rate and 0.35 < float(rate[0]["value"][1]) < 0.65
    assert seen.keys() == {"v3"}
