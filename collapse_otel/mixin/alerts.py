"""Alert rules: each has summary, description, runbook_url, severity and a for: duration."""

from __future__ import annotations

from .config import MixinConfig
from .promql import STREAM_BY, num
from .rules import ENTITY_GAUGE, VENDI_GAUGE, RuleNames, rule_file, rule_names

STREAM = "{{ $labels.service }} release {{ $labels.release }} (cohort {{ $labels.cohort }})"

# (alert name, gauge, what it measures, what a drop means) for the previous-release comparisons.
_DROPS = (
    ("CollapseEntityDiversityDrop", ENTITY_GAUGE, "entity diversity ratio",
     "answers name fewer distinct entities (people, places, products) than before"),
    ("CollapseEmbeddingNarrowing", VENDI_GAUGE, "embedding Vendi score",
     "answers cover fewer semantic modes: the effective number of distinct answers shrank"),
)


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
    """Above a threshold and well above the release's own baseline or its predecessor's.

    A steady high ratio (an FAQ bot) is its own baseline, so it never fires; the own
    baseline ends ``baseline_offset`` ago so an ongoing spike does not raise it.
    """
    n = rule_names(cfg)
    on = f"on ({STREAM_BY})"
    factor = num(cfg.duplicate_spike_factor)
    expr = (
        f"{n.duplicate_ratio_short} > {num(cfg.duplicate_ratio_threshold)}\n"
        f"and {on}\n"
        "(\n"
        f"  {n.duplicate_ratio_short}\n"
        f"    > {on}\n"
        f"    {factor} * avg_over_time({n.duplicate_ratio_long}[{cfg.baseline_window}]"
        f" offset {cfg.baseline_offset})\n"
        f"  or {on}\n"
        f"  {n.duplicate_ratio_short}\n"
        f"    > {on}\n"
        f"    {factor} * {n.duplicate_baseline_previous}\n"
        ")\n"
        f"and {on}\n"
        f"{n.answers_rate} >= {num(cfg.duplicate_min_answers_per_second)}"
    )
    return _alert(
        cfg, "CollapseDuplicateAnswerSpike", expr, cfg.duplicate_for, cfg.duplicate_severity,
        "Duplicate answers spiked for {{ $labels.service }} release "
        "{{ $labels.release }}.",
        f"{STREAM}: {{{{ $value | humanizePercentage }}}} of answers over the last "
        f"{cfg.rate_window_short} repeat an earlier answer: above "
        f"{cfg.duplicate_ratio_threshold:.0%} and more than {factor}x the release's own "
        f"{cfg.baseline_window} baseline (ending {cfg.baseline_offset} ago) or {factor}x the "
        f"previous release's {cfg.baseline_window} average, with at least "
        f"{num(cfg.duplicate_min_answers_per_second)} answers/s.",
    )


def repetition_high(cfg: MixinConfig) -> dict:
    n = rule_names(cfg)
    expr = (
        f'{n.repetition}{{scope="within_answer"}} > {num(cfg.repetition_threshold)}\n'
        f"and on ({STREAM_BY})\n"
        f"{n.window_answers} >= {cfg.repetition_min_window_answers}"
    )
    return _alert(
        cfg, "CollapseRepetitionHigh", expr, cfg.repetition_for, cfg.repetition_severity,
        "Answers of {{ $labels.service }} release {{ $labels.release }} "
        "repeat themselves (generation loops).",
        f"{STREAM}: the mean within-answer repeated 4-gram rate (seq-rep-4) is "
        f"{{{{ $value | humanizePercentage }}}}, above {cfg.repetition_threshold:.0%}, "
        f"over at least {cfg.repetition_min_window_answers} answers in the window.",
    )


def diversity_drop(cfg: MixinConfig, name: str, metric: str, what: str, meaning: str) -> dict:
    n = rule_names(cfg)
    keep = 1.0 - cfg.diversity_drop_fraction
    on = f"on ({STREAM_BY})"
    expr = (
        f"{RuleNames.gauge(metric)}\n"
        f"  < {on} group_left (previous_release)\n"
        f"  {num(keep)} * {RuleNames.gauge_previous(metric)}\n"
        f"and {on}\n"
        f"{n.window_answers} >= {cfg.min_window_answers}\n"
        f"and {on}\n"
        f"{n.window_answers_previous} >= {cfg.min_window_answers}"
    )
    return _alert(
        cfg, name, expr, cfg.diversity_for, cfg.diversity_severity,
        f"{what[0].upper()}{what[1:]} of {{{{ $labels.service }}}} release {{{{ $labels.release }}}} "
        f"dropped below release {{{{ $labels.previous_release }}}}.",
        f"{STREAM}: {what} is {{{{ $value | printf \"%.3g\" }}}}, more than "
        f"{cfg.diversity_drop_fraction:.0%} below the previous release "
        f"{{{{ $labels.previous_release }}}} (its last value within "
        f"{cfg.previous_release_lookback}); {meaning}. Both windows hold at least "
        f"{cfg.min_window_answers} answers.",
    )


def telemetry_dropping(cfg: MixinConfig) -> dict:
    n = rule_names(cfg)
    return _alert(
        cfg, "CollapseTelemetryDropping", f"{n.dropped_rate} > 0", cfg.dropping_for,
        cfg.dropping_severity,
        "collapse-otel on {{ $labels.instance }} drops records ({{ $labels.reason }}).",
        "{{ $labels.job }}/{{ $labels.instance }} dropped {{ $value | printf \"%.3g\" }} "
        "records/s with reason {{ $labels.reason }} over the last "
        f"{cfg.rate_window_short}; collapse signals of that process undercount its traffic.",
    )


def alert_rules(cfg: MixinConfig) -> list[dict]:
    alerts = [duplicate_spike(cfg), repetition_high(cfg)]
    for name, metric, what, meaning in _DROPS:
        alerts.append(diversity_drop(cfg, name, metric, what, meaning))
    alerts.append(diversity_drop(
        cfg, "CollapseLexicalDiversityDrop", cfg.lexical_metric, "lexical diversity",
        "answers use a narrower vocabulary and more of the same phrases"))
    alerts.append(telemetry_dropping(cfg))
    return alerts


def alerts_file(cfg: MixinConfig) -> dict:
    return rule_file(cfg, "collapse-otel.alerts", alert_rules(cfg))
