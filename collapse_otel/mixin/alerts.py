"""Alert rules: each has summary, description, runbook_url, severity and a for: duration."""

from __future__ import annotations

from ..worker.health import INVALID_EVALUATION, INVALID_FEEDBACK
from .audit import audit_alert_group
from .config import MixinConfig
from .feedback import feedback_alerts
from .loops import loop_alerts
from .promql import STREAM_BY, num
from .rules import (
    REPETITION,
    answers_increase,
    dropped_rate,
    duplicate_baseline,
    duplicates_increase,
    rule_file,
)
from .verdict import (
    WINDOW,
    families_degraded,
    family_degraded,
    rule_text,
    suspected,
    tightest,
)

# unreadable feedback or evaluation input is the caller's data, not lost telemetry: counted
# and graphed (plugin health dashboard), never paged on
NOT_USER_INPUT = f'reason!~"{INVALID_FEEDBACK}|{INVALID_EVALUATION}"'
STREAM = "{{ $labels.service }} release {{ $labels.release }} (cohort {{ $labels.cohort }})"
ON = f"on ({STREAM_BY})"


def _alert(cfg: MixinConfig, name: str, expr: str, for_: str, severity: str,
           summary: str, description: str) -> dict:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": cfg.runbook_url(name),
        },
    }


def duplicate_spike(cfg: MixinConfig) -> dict:
    """The duplicate share of the last duplicate_window well above the release's own
    baseline (or its predecessor's), by a binomial z-test on the window's counts: a steady
    FAQ bot is its own baseline; a burst of 20 answers is judged by 20 answers' evidence.
    Where capture knows the questions, only cross-question duplicates count (the rules)."""
    w = cfg.duplicate_window
    share = (f"{duplicates_increase(cfg)}\n  / {ON}\n  "
             f"({answers_increase(cfg)} >= {cfg.duplicate_min_answers})")
    base = f"max by ({STREAM_BY}) ({duplicate_baseline(cfg)})"
    clamped = f"clamp(max by ({STREAM_BY}) ({duplicate_baseline(cfg)}), 0.01, 0.99)"
    expr = (
        f"(\n  {share}\n  - {ON} {base}\n) >= {num(cfg.duplicate_min_increase)}\n"
        f"and {ON}\n"
        f"(\n  (\n    {share}\n    - {ON} {base}\n  )\n"
        f"  / {ON} sqrt({clamped} * (1 - {clamped}) / {ON} {answers_increase(cfg)})\n"
        f") >= {num(cfg.duplicate_z)}"
    )
    return _alert(
        cfg, "CollapseDuplicateAnswerSpike", expr, cfg.duplicate_for, cfg.duplicate_severity,
        "Duplicate answers spiked for {{ $labels.service }} release {{ $labels.release }}.",
        f"{STREAM}: the share of answers repeating an earlier one (given to another "
        f"question, where capture knows the questions) over the last {w} is "
        "{{ $value | humanizePercentage }} above the release's own "
        f"{cfg.baseline_window} baseline (ending {cfg.baseline_offset} ago; the previous "
        f"release's when it has none): at least {cfg.duplicate_min_increase:.0%} more and "
        f"beyond z = {num(cfg.duplicate_z)} of binomial noise, over at least "
        f"{cfg.duplicate_min_answers} answers.",
    )


def repetition_high(cfg: MixinConfig) -> dict:
    expr = (
        f'{REPETITION}{{scope="within_answer"}} > {num(cfg.repetition_threshold)}\n'
        f"and {ON}\n"
        f"{WINDOW} >= {cfg.repetition_min_window_answers}"
    )
    return _alert(
        cfg, "CollapseRepetitionHigh", expr, cfg.repetition_for, cfg.repetition_severity,
        "Answers of {{ $labels.service }} release {{ $labels.release }} "
        "repeat themselves (generation loops).",
        f"{STREAM}: the mean within-answer repeated 4-gram rate (seq-rep-4) is "
        f"{{{{ $value | humanizePercentage }}}}, above {cfg.repetition_threshold:.0%}, "
        f"over at least {cfg.repetition_min_window_answers} answers in the window.",
    )


def _families(ref: str) -> str:
    """Template text naming the degraded families of the alert's stream."""
    rule = family_degraded(ref)
    return (
        '{{ with printf "' + rule + '{service=%q, release=%q, cohort=%q}" '
        '$labels.service $labels.release $labels.cohort | query | sortByLabel "family" }}'
        '{{ range $i, $s := . }}{{ if $i }}, {{ end }}{{ $s.Labels.family }}{{ end }}'
        '{{ end }}'
    )


def _suspected(ref: str) -> str:
    """The degraded families' count of the streams where collapse is suspected against
    ``ref`` (the alert's value)."""
    return (f"{families_degraded(ref)}\nand on (service, release, cohort, {ref})\n"
            f"{suspected(ref)} == 1")


def bound_text(cfg: MixinConfig) -> str:
    """What a signal's bound is, in words (alert, runbook, dashboards)."""
    r, width = tightest(cfg)
    return (
        "A signal degrades when its change toward collapse reaches its floor (5% relative, or "
        "0.02 for ratios near 0) and the lower bound of that change is above 0. The bound is "
        "an anytime-valid confidence sequence (a normal mixture scaled to the floor, "
        f"one-sided, Bonferroni over the verdict signals at {cfg.verdict_alpha:g}): it holds "
        "at every evaluation at once, so re-evaluating sliding windows every 30 s adds no "
        f"false alarms; at best it sits {width:.2f} standard errors below the change (where "
        f"the error is the floor / {r:.2f})")


def release_regression(cfg: MixinConfig, critical: bool) -> dict:
    kc = cfg.verdict_critical_families
    previous, baseline = "previous_release", "baseline_release"
    if critical:
        expr = (f"{families_degraded(previous)} >= {kc}\nor\n{_suspected(baseline)}")
        tier = (f"{kc} or more families against the previous release, or collapse suspected "
                "against the pinned baseline release")
    else:
        expr = _suspected(previous)
        tier = "collapse suspected against the previous release"
    return _alert(
        cfg, "CollapseReleaseRegression", expr, cfg.verdict_for,
        "critical" if critical else "warning",
        "Collapse suspected: {{ $labels.service }} release {{ $labels.release }} lost "
        "diversity in {{ $value }} signal families.",
        f"{STREAM} against release {{{{ $labels.previous_release }}}}"
        f"{{{{ $labels.baseline_release }}}}: degraded families: "
        f"{_families(previous)}{_families(baseline)}. {bound_text(cfg)}. Collapse is "
        f"suspected when {rule_text(cfg)}; this fires for {tier}, both windows holding at "
        f"least {cfg.verdict_min_window_answers} answers. The same judgement as "
        "collapse-otel compare.",
    )


def telemetry_dropping(cfg: MixinConfig) -> dict:
    return _alert(
        cfg, "CollapseTelemetryDropping", f"{dropped_rate(cfg)}{{{NOT_USER_INPUT}}} > 0",
        cfg.dropping_for,
        cfg.dropping_severity,
        "collapse-otel on {{ $labels.instance }} drops records ({{ $labels.reason }}).",
        "{{ $labels.job }}/{{ $labels.instance }} dropped {{ $value | printf \"%.3g\" }} "
        "records/s with reason {{ $labels.reason }} over the last "
        f"{cfg.rate_window_short}; collapse signals of that process undercount its traffic.",
    )


def alert_rules(cfg: MixinConfig) -> list[dict]:
    return [release_regression(cfg, critical=False), release_regression(cfg, critical=True),
            duplicate_spike(cfg), repetition_high(cfg), telemetry_dropping(cfg),
            *feedback_alerts(cfg), *loop_alerts(cfg)]


def alerts_file(cfg: MixinConfig) -> dict:
    out = rule_file(cfg, "collapse-otel.alerts", alert_rules(cfg))
    out["groups"].append(audit_alert_group(cfg))   # collapse-otel audit (Pushgateway)
    return out
