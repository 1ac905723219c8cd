"""The release-vs-release dashboard: two release pickers, values side by side, deltas.

Values are taken over the whole selected time range (``$__range``) so a comparison is
not one noisy minute; the delta panels show (B - A) / A.
"""

from __future__ import annotations

from ..registry import SIGNALS
from .config import MixinConfig
from .grafana import Panel, Row, dashboard, query_variable, stat, target, timeseries
from .promql import sel

SIDES = (("a", "$release_a"), ("b", "$release_b"))

# The compared signals: (title, metric, extra matcher, unit); duplicates have their own pair.
COMPARED: tuple[tuple[str, str, str, str], ...] = tuple(
    (s.title, s.metric, s.selector, s.unit) for s in SIGNALS if s.family != "duplication")


def side_sel(cfg: MixinConfig, side: str, *extra: str) -> str:
    return sel(cfg, 'service=~"$service"', f'release="$release_{side}"', 'cohort=~"$cohort"',
               *extra)


def _pair(title: str, expr_a: str, expr_b: str, unit: str) -> list[Panel]:
    values = stat(title, [(expr_a, "$release_a"), (expr_b, "$release_b")], unit, width=8)
    delta = stat(f"{title}: change", [(f"(\n({expr_b})\n-\n({expr_a})\n)\n/ ({expr_a})",
                                       "B vs A")],
                 "percentunit", "(B - A) / A over the selected range.", width=4)
    return [values, delta]


def _dup_ratio(cfg: MixinConfig, side: str) -> str:
    s = side_sel(cfg, side)
    return (f"sum(increase(collapse_duplicate_answers_total{s}[$__range]))\n"
            f"/ sum(increase(collapse_answers_total{s}[$__range]))")


def _quantile(cfg: MixinConfig, metric: str, side: str, q: float) -> str:
    return (f"histogram_quantile({q}, sum by (le) "
            f"(increase({metric}_bucket{side_sel(cfg, side)}[$__range])))")


def comparison(cfg: MixinConfig) -> dict:
    headline = _pair("Duplicate answer ratio", _dup_ratio(cfg, "a"), _dup_ratio(cfg, "b"),
                     "percentunit")
    for title, metric, extra, unit in COMPARED:
        a, b = (f"avg(avg_over_time({metric}{side_sel(cfg, side, extra)}[$__range]))"
                for side, _ in SIDES)
        headline += _pair(title, a, b, unit)
    tokens: list[Panel] = []
    for name, metric in (("Completion tokens", "collapse_completion_tokens"),
                         ("Prompt tokens", "collapse_prompt_tokens")):
        tokens.append(stat(f"{name} per answer: p50 / p90 / p99", [
            (_quantile(cfg, metric, side, q), f"p{int(q * 100)} {label}")
            for side, label in SIDES for q in (0.5, 0.9, 0.99)], "short", width=12, height=6))
    for name, metric in (("Completion tokens", "collapse_completion_tokens"),
                         ("Prompt tokens", "collapse_prompt_tokens")):
        tokens.append(timeseries(f"{name} per answer over time (p50, p90)", [
            (f"histogram_quantile({q}, sum by (le) "
             f"(rate({metric}_bucket{side_sel(cfg, side)}[$__rate_interval])))",
             f"p{int(q * 100)} {label}")
            for side, label in SIDES for q in (0.5, 0.9)], "short", width=12))
    over_time = [timeseries("Duplicate answer ratio over time", [
        (f"sum(rate(collapse_duplicate_answers_total{side_sel(cfg, side)}[$__rate_interval]))\n"
         f"/ sum(rate(collapse_answers_total{side_sel(cfg, side)}[$__rate_interval]))", label)
        for side, label in SIDES], "percentunit", width=12)]
    svc = sel(cfg, 'service=~"$service"')
    order = Panel("Release order (collapse_release_info)", "table", [target(
        f"max by (service, release, previous_release) "
        f"(collapse_release_info{svc})",
        instant=True, fmt="table")], description=(
        "Which release each release is compared with by the diversity alerts: configured "
        "order, else first-seen time."), width=12)
    over_time.append(order)
    rel_q = f"label_values(collapse_answers_total{svc}, release)"
    variables = [
        query_variable("service", "Service",
                       f"label_values(collapse_answers_total{sel(cfg)}, service)"),
        query_variable("release_a", "Release A", rel_q),
        query_variable("release_b", "Release B", rel_q),
        query_variable("cohort", "Cohort",
                       f"label_values(collapse_answers_total{svc}, cohort)",
                       multi=True, include_all=True),
    ]
    return dashboard(cfg, "release-comparison", "collapse-otel / Release comparison",
                     "Release A vs release B: every signal side by side, with relative change.",
                     variables, [Row("Signals: A vs B", headline),
                                 Row("Token-count distributions", tokens),
                                 Row("Over time", over_time)])
