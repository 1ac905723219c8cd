"""Rules and the alert on agent loops (collapse_otel.turns.loops): CollapseAgentLoopSpike.

The agent loop rate is a verdict signal, so the verdict rules already give each stream its
change and z-score against its previous release (the same cohort there when it has one). The
alert reads those: the share of agent turns that loop went up by at least
``loop_min_increase`` (absolute, in points), with z beyond the two-sided bound of
``loop_alpha``, on at least ``loop_min_turns`` agent turns in the window. A release whose agents
retry near-identical answers, call a failing tool again and again, or run into their step
limit pages before its users give up.
"""

from __future__ import annotations

from statistics import NormalDist

from .config import MixinConfig
from .promql import STREAM_BY, num, sel
from .verdict import change, zscore

SIGNAL = "agent_loop_ratio"
TURNS = "service_release_cohort:collapse_window_agent_turns:sum"
REF = "previous_release"
STREAM = "{{ $labels.service }} release {{ $labels.release }} (cohort {{ $labels.cohort }})"


def loop_z(cfg: MixinConfig) -> float:
    """Two-sided bound of loop_alpha: z = Phi^-1(1 - alpha / 2)."""
    return NormalDist().inv_cdf(1 - cfg.loop_alpha / 2)


def loop_rules(cfg: MixinConfig) -> list[dict]:
    """Agent turns in the window, summed over the processes (the rate's denominator)."""
    return [{"record": TURNS,
             "expr": f"sum by ({STREAM_BY}) (collapse_window_agent_turns{sel(cfg)})"}]


def loop_spike(cfg: MixinConfig) -> dict:
    m = f'signal="{SIGNAL}"'
    expr = (f"{change(REF)}{{{m}}} >= {num(cfg.loop_min_increase)}\n"
            f"and on ({STREAM_BY}, signal, {REF})\n"
            f"{zscore(REF)}{{{m}}} >= {num(round(loop_z(cfg), 4))}\n"
            f"and on ({STREAM_BY})\n"
            f"{TURNS} >= {cfg.loop_min_turns}")
    return {
        "alert": "CollapseAgentLoopSpike", "expr": expr, "for": cfg.loop_for,
        "labels": {"severity": cfg.loop_severity},
        "annotations": {
            "summary": "Agents of {{ $labels.service }} release {{ $labels.release }} loop "
                       "more often.",
            "description": (
                f"{STREAM}: the share of agent turns that loop (3 near-identical answers in a "
                "row, 3 calls of one tool with the same arguments, or a step limit) rose by "
                f"{{{{ $value | humanizePercentage }}}} (points) against release "
                f"{{{{ $labels.{REF} }}}}: at least {cfg.loop_min_increase * 100:g} points and "
                f"z >= {loop_z(cfg):.2f} (two-sided, {cfg.loop_alpha:g}), on at least "
                f"{cfg.loop_min_turns} agent turns in the window."),
            "runbook_url": cfg.runbook_url("CollapseAgentLoopSpike")}}


def loop_alerts(cfg: MixinConfig) -> list[dict]:
    return [loop_spike(cfg)]
