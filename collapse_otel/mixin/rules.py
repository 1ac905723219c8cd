"""Recording rules (level:metric:operations, the level listing the aggregation labels) that
the alerts, dashboards and rollout gates read.

The duplicate-spike rules count, for a stream whose capture knows the questions, only the
answers with a question and their cross-question duplicates (an FAQ bot repeating the right
answer to the same question is not a spike); otherwise every answer and duplicate."""

from __future__ import annotations

from .config import MixinConfig
from .feedback import feedback_rules
from .loops import loop_rules
from .promql import STREAM_BY, sel
from .verdict import LINEAGE, verdict_rules

REPETITION_GAUGE = "collapse_repeated_ngram_ratio"


def answers_increase(cfg: MixinConfig) -> str:
    return f"service_release_cohort:collapse_answers:increase{cfg.duplicate_window}"


def duplicates_increase(cfg: MixinConfig) -> str:
    return f"service_release_cohort:collapse_duplicate_answers:increase{cfg.duplicate_window}"


def duplicate_ratio_long(cfg: MixinConfig) -> str:
    return f"service_release_cohort:collapse_duplicate_answers:ratio_rate{cfg.rate_window_long}"


def duplicate_baseline(cfg: MixinConfig) -> str:
    """The release's own duplicate share over baseline_window, ending baseline_offset ago
    (so an ongoing spike does not raise it), else its previous release's."""
    return (f"service_release_cohort:collapse_duplicate_answers:ratio_rate{cfg.rate_window_long}"
            f"_avg{cfg.baseline_window}")


REPETITION = f"service_release_cohort_scope:{REPETITION_GAUGE}:avg"
DROPPED = "job_instance_reason:collapse_records_dropped:rate{}"


def dropped_rate(cfg: MixinConfig) -> str:
    return DROPPED.format(cfg.rate_window_short)


WITH_QUESTION = "collapse_answers_with_question_total"
CROSS_QUESTION = "collapse_cross_question_duplicates_total"


def _sum(cfg: MixinConfig, fn: str, metric: str, window: str) -> str:
    return f"sum by ({STREAM_BY}) ({fn}({metric}{sel(cfg)}[{window}]))"


def _judged_answers(cfg: MixinConfig, fn: str, window: str) -> str:
    """Answers with a known question where there are any, else every answer."""
    return (f"(\n  {_sum(cfg, fn, WITH_QUESTION, window)} > 0\n)\n"
            f"or on ({STREAM_BY})\n{_sum(cfg, fn, 'collapse_answers_total', window)}")


def _judged_duplicates(cfg: MixinConfig, fn: str, window: str) -> str:
    """Cross-question duplicates where answers had a known question, else every duplicate."""
    return (f"(\n  {_sum(cfg, fn, CROSS_QUESTION, window)}\n"
            f"  and on ({STREAM_BY}) {_sum(cfg, fn, WITH_QUESTION, window)} > 0\n)\n"
            f"or on ({STREAM_BY})\n"
            f"{_sum(cfg, fn, 'collapse_duplicate_answers_total', window)}")


def _ratio_long(cfg: MixinConfig) -> str:
    """Judged duplicates / judged answers over rate_window_long; 0 without a duplicate series
    yet, absent when idle (an idle stream must not poison the baseline that averages it)."""
    answers = _judged_answers(cfg, "rate", cfg.rate_window_long)
    return (
        "(\n"
        f"  {_judged_duplicates(cfg, 'rate', cfg.rate_window_long)}\n"
        f"  or 0 * ({answers})\n"
        ")\n"
        f"/ (({answers}) > 0)"
    )


def _baseline(cfg: MixinConfig) -> str:
    own = (f"avg_over_time({duplicate_ratio_long(cfg)}[{cfg.baseline_window}] "
           f"offset {cfg.baseline_offset})")
    previous = (
        "(\n"
        f"  0 * {duplicate_ratio_long(cfg)}\n"
        f"  * on (service, release) group_left (previous_release) {LINEAGE}\n"
        ")\n"
        "+ on (service, cohort, previous_release) group_left ()\n"
        "max without (release) (\n"
        f"  label_replace(avg_over_time({duplicate_ratio_long(cfg)}[{cfg.baseline_window}]),\n"
        '    "previous_release", "$1", "release", "(.+)")\n'
        ")"
    )
    return f"{own}\nor on ({STREAM_BY})\n{previous}"


def recording_rules(cfg: MixinConfig) -> list[dict]:
    """Every recording rule, in evaluation order (later rules read earlier ones)."""
    rules = verdict_rules(cfg)
    rules += feedback_rules(cfg)
    rules += loop_rules(cfg)
    rules += [
        {"record": answers_increase(cfg),
         "expr": _judged_answers(cfg, "increase", cfg.duplicate_window)},
        {"record": duplicates_increase(cfg),
         "expr": _judged_duplicates(cfg, "increase", cfg.duplicate_window)},
        {"record": duplicate_ratio_long(cfg), "expr": _ratio_long(cfg)},
        {"record": duplicate_baseline(cfg), "expr": _baseline(cfg)},
        {"record": REPETITION,
         "expr": f"avg by ({STREAM_BY}, scope) ({REPETITION_GAUGE}{sel(cfg)})"},
        {"record": dropped_rate(cfg),
         "expr": "sum by (job, instance, reason) "
                 f"(rate(collapse_records_dropped_total{sel(cfg)}[{cfg.rate_window_short}]))"},
    ]
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
