"""Recording rules (level:metric:operations) that the alerts and the comparison views read."""

from __future__ import annotations

from dataclasses import dataclass

from .config import MixinConfig
from .promql import RELEASE_INFO_RULE, STREAM_BY, previous_release_value, release_info_dedup, sel

# Gauges compared with the previous release by the diversity alerts.
ENTITY_GAUGE = "collapse_entity_diversity_ratio"
VENDI_GAUGE = "collapse_embedding_vendi_score"
WINDOW_GAUGE = "collapse_window_answers"
REPETITION_GAUGE = "collapse_repeated_ngram_ratio"


@dataclass(frozen=True)
class RuleNames:
    """Names of the recorded series; windows are part of the names, as the convention wants."""

    answers_rate: str
    duplicate_ratio_short: str
    duplicate_ratio_long: str
    duplicate_baseline_previous: str
    window_answers: str
    window_answers_previous: str
    repetition: str
    dropped_rate: str

    @staticmethod
    def gauge(metric: str) -> str:
        return f"release:{metric}:avg"

    @staticmethod
    def gauge_previous(metric: str) -> str:
        return f"release:{metric}:avg_previous_release"


def rule_names(cfg: MixinConfig) -> RuleNames:
    s, lw, b = cfg.rate_window_short, cfg.rate_window_long, cfg.baseline_window
    return RuleNames(
        answers_rate=f"release:collapse_answers:rate{s}",
        duplicate_ratio_short=f"release:collapse_duplicate_answers:ratio_rate{s}",
        duplicate_ratio_long=f"release:collapse_duplicate_answers:ratio_rate{lw}",
        duplicate_baseline_previous=(
            f"release:collapse_duplicate_answers:ratio_rate{lw}_avg{b}_previous_release"),
        window_answers=f"release:{WINDOW_GAUGE}:min",
        window_answers_previous=f"release:{WINDOW_GAUGE}:min_previous_release",
        repetition=f"release_scope:{REPETITION_GAUGE}:avg",
        dropped_rate=f"instance_reason:collapse_records_dropped:rate{s}",
    )


def compared_gauges(cfg: MixinConfig) -> tuple[str, ...]:
    """The gauges each compared with the previous release (entity, embedding, lexical)."""
    return (ENTITY_GAUGE, VENDI_GAUGE, cfg.lexical_metric)


def _ratio(cfg: MixinConfig, window: str) -> str:
    """Duplicates / answers; 0 when a stream has no duplicate series yet, absent when idle.

    An idle stream (no answers in the window) yields no sample instead of NaN, so a quiet
    night cannot poison the one-day baseline that the spike alert averages.
    """
    answers = f"sum by ({STREAM_BY}) (rate(collapse_answers_total{sel(cfg)}[{window}]))"
    return (
        "(\n"
        f"  sum by ({STREAM_BY}) (rate(collapse_duplicate_answers_total{sel(cfg)}[{window}]))\n"
        f"  or 0 * {answers}\n"
        ")\n"
        f"/ ({answers} > 0)"
    )


def recording_rules(cfg: MixinConfig) -> list[dict]:
    """Every recording rule, in evaluation order (later rules read earlier ones)."""
    n = rule_names(cfg)
    rules: list[dict] = [
        {"record": RELEASE_INFO_RULE, "expr": release_info_dedup(cfg)},
        {"record": n.answers_rate,
         "expr": f"sum by ({STREAM_BY}) (rate(collapse_answers_total{sel(cfg)}"
                 f"[{cfg.rate_window_short}]))"},
        {"record": n.duplicate_ratio_short, "expr": _ratio(cfg, cfg.rate_window_short)},
        {"record": n.duplicate_ratio_long, "expr": _ratio(cfg, cfg.rate_window_long)},
        {"record": n.duplicate_baseline_previous,
         "expr": previous_release_value(n.duplicate_ratio_long, "avg_over_time",
                                        cfg.baseline_window)},
        {"record": n.window_answers,
         "expr": f"min by ({STREAM_BY}) ({WINDOW_GAUGE}{sel(cfg)})"},
        {"record": n.window_answers_previous,
         "expr": previous_release_value(n.window_answers, "last_over_time",
                                        cfg.previous_release_lookback)},
        {"record": n.repetition,
         "expr": f"avg by ({STREAM_BY}, scope) ({REPETITION_GAUGE}{sel(cfg)})"},
    ]
    for metric in compared_gauges(cfg):
        rules.append({"record": RuleNames.gauge(metric),
                      "expr": f"avg by ({STREAM_BY}) ({metric}{sel(cfg)})"})
        rules.append({"record": RuleNames.gauge_previous(metric),
                      "expr": previous_release_value(RuleNames.gauge(metric), "last_over_time",
                                                     cfg.previous_release_lookback)})
    rules.append({"record": n.dropped_rate,
                  "expr": "sum by (job, instance, reason) "
                          f"(rate(collapse_records_dropped_total{sel(cfg)}"
                          f"[{cfg.rate_window_short}]))"})
    return rules


def rule_file(cfg: MixinConfig, name: str, rules: list[dict]) -> dict:
    """A Prometheus rule file of one group (the configured evaluation interval, if any)."""
    group: dict = {"name": name}
    if cfg.rule_interval:
        group["interval"] = cfg.rule_interval
    group["rules"] = rules
    return {"groups": [group]}


def rules_file(cfg: MixinConfig) -> dict:
    return rule_file(cfg, "collapse-otel.rules", recording_rules(cfg))
