"""Rules and alerts on feedback and evaluation results (thumbs-down and evaluation fail rates).

Both rates are verdict signals, so the verdict rules already give each stream its change and
z-score against its previous release (the same cohort there when it has one). The alerts read
those: CollapseFeedbackRegression when a rate went up by at least ``feedback_min_increase``
with z beyond a Bonferroni bound of ``feedback_alpha`` over the two rates, on at least
``feedback_min_rated`` rated (or judged) answers in the window; CollapseHoldoutFails-
WhileSyntheticImproves when the human holdout cohort does so while a synthetic cohort of the
same service and release improves by as much (the pattern of a model trained on its own
output: better on what it was trained on, worse on what people wrote).
"""

from __future__ import annotations

from statistics import NormalDist

from .config import MixinConfig
from .promql import STREAM_BY, num, sel
from .verdict import change, zscore

RATED = "service_release_cohort_signal:collapse_window_rated:sum"
SIGNALS = ("thumbs_down_ratio", "evaluation_fail_ratio")
REF = "previous_release"
STREAM = "{{ $labels.service }} release {{ $labels.release }} (cohort {{ $labels.cohort }})"
WHAT = ('{{ if eq $labels.signal "thumbs_down_ratio" }}thumbs-down rate'
        "{{ else }}evaluation fail rate{{ end }}")


def feedback_z(cfg: MixinConfig) -> float:
    """Two-sided Bonferroni bound over the two rates: z = Phi^-1(1 - alpha / 4)."""
    return NormalDist().inv_cdf(1 - cfg.feedback_alpha / (2 * len(SIGNALS)))


def feedback_rules(cfg: MixinConfig) -> list[dict]:
    """Rated answers (thumbs up or down) and judged results (pass or fail) in the window,
    summed over the processes, under the signal each rate is."""
    rated = sel(cfg, 'rating=~"up|down"')
    judged = sel(cfg, 'result=~"pass|fail"')
    return [
        {"record": RATED, "labels": {"signal": "thumbs_down_ratio"},
         "expr": f"sum by ({STREAM_BY}) (collapse_window_feedback{rated})"},
        {"record": RATED, "labels": {"signal": "evaluation_fail_ratio"},
         "expr": f"sum by ({STREAM_BY}) (collapse_window_evaluations{judged})"},
    ]


def _worse(cfg: MixinConfig, cohort: str, sign: int) -> str:
    """Streams (of cohorts matching ``cohort``) whose rate moved by at least the floor, with
    z beyond the bound, ``sign`` +1 up (worse) / -1 down, on enough rated answers."""
    m = f'signal=~"{"|".join(SIGNALS)}"' + (f", {cohort}" if cohort else "")
    op, floor, z = (">=", num(cfg.feedback_min_increase), num(round(feedback_z(cfg), 4))) \
        if sign > 0 else ("<=", num(-cfg.feedback_min_increase),
                          num(-round(feedback_z(cfg), 4)))
    return (f"{change(REF)}{{{m}}} {op} {floor}\n"
            f"and on ({STREAM_BY}, signal, {REF})\n"
            f"{zscore(REF)}{{{m}}} {op} {z}\n"
            f"and on ({STREAM_BY}, signal)\n"
            f"{RATED}{{{m}}} >= {cfg.feedback_min_rated}")


def _alert(cfg: MixinConfig, name: str, expr: str, for_: str, severity: str, summary: str,
           description: str) -> dict:
    return {"alert": name, "expr": expr, "for": for_, "labels": {"severity": severity},
            "annotations": {"summary": summary, "description": description,
                            "runbook_url": cfg.runbook_url(name)}}


def _tail(cfg: MixinConfig) -> str:
    return (f"at least {cfg.feedback_min_increase * 100:g} points and z >= "
            f"{feedback_z(cfg):.2f} (Bonferroni over the two rates at {cfg.feedback_alpha:g}), "
            f"on at least {cfg.feedback_min_rated} rated answers or judged results in the window")


def feedback_regression(cfg: MixinConfig) -> dict:
    return _alert(
        cfg, "CollapseFeedbackRegression", _worse(cfg, "", +1), cfg.feedback_for,
        cfg.feedback_severity,
        f"Users or evaluators like {{{{ $labels.service }}}} release "
        f"{{{{ $labels.release }}}} less: {WHAT} up.",
        f"{STREAM}: the {WHAT} rose by {{{{ $value | humanizePercentage }}}} (points) "
        f"against release {{{{ $labels.{REF} }}}}: {_tail(cfg)}.")


def holdout_pattern(cfg: MixinConfig) -> dict:
    holdout = f'cohort="{cfg.holdout_cohort}"'
    synthetic = f'cohort=~"{cfg.synthetic_cohort_pattern}"'
    expr = (f"{_worse(cfg, holdout, +1)}\n"
            f"and on (service, release, signal)\n"
            f"count by (service, release, signal) (\n"
            + "\n".join(f"  {line}" for line in _worse(cfg, synthetic, -1).splitlines())
            + "\n)")
    return _alert(
        cfg, "CollapseHoldoutFailsWhileSyntheticImproves", expr, cfg.holdout_for,
        cfg.holdout_severity,
        f"{{{{ $labels.service }}}} release {{{{ $labels.release }}}} does worse on the "
        f"{cfg.holdout_cohort} cohort while a synthetic cohort improves.",
        f"{STREAM}: the {WHAT} rose by {{{{ $value | humanizePercentage }}}} (points) "
        f"against release {{{{ $labels.{REF} }}}} while a cohort matching {cfg.synthetic_cohort_pattern} of "
        f"the same release fell by at least as much: the pattern of a model trained on its own "
        f"output. Each move is {_tail(cfg)}.")


def feedback_alerts(cfg: MixinConfig) -> list[dict]:
    return [feedback_regression(cfg), holdout_pattern(cfg)]
