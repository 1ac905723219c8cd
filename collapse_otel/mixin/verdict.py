"""Recording rules of the release verdict, generated from the signal registry.

The same judgement as ``collapse-otel compare``, in PromQL: per signal, the value of a
(service, release, cohort) averaged over the instances that serve it, its standard error (of
that average: sqrt(sum se^2) / n, the replicas' windows being independent samples of one
release), the change against the previous and against the pinned baseline release (the same
cohort there when it has one, else that release across its cohorts), its z-score, and
"degraded" when the change goes the collapse way by at least the signal's floor and z passes a
Bonferroni bound over the verdict signals. A family degrades when one of its signals does;
the alerts count degraded families.
"""

from __future__ import annotations

from statistics import NormalDist

from ..registry import verdict_signals
from .config import MixinConfig
from .promql import num, sel

STREAM = "service, release, cohort"
VALUE = "service_release_cohort_signal:collapse_window_signal:avg"
STDERR = "service_release_cohort_signal:collapse_window_signal_stderr:avg"
RELEASE_VALUE = "service_release_signal:collapse_window_signal:avg"
RELEASE_STDERR = "service_release_signal:collapse_window_signal_stderr:avg"
WINDOW = "service_release_cohort:collapse_window_answers:sum"
DIRECTION = "signal:collapse_signal_direction:constant"
FLOOR = "signal:collapse_signal_floor:constant"
LINEAGE = "service_release:collapse_release_info:max"
REFERENCES = ("previous_release", "baseline_release")


def base_value(ref: str) -> str:
    return f"service_release_cohort_signal:collapse_window_signal:avg_{ref}"


def base_stderr(ref: str) -> str:
    return f"service_release_cohort_signal:collapse_window_signal_stderr:avg_{ref}"


def change(ref: str) -> str:
    return f"service_release_cohort_signal:collapse_window_signal:change_{ref}"


def zscore(ref: str) -> str:
    return f"service_release_cohort_signal:collapse_window_signal:zscore_{ref}"


def degraded(ref: str) -> str:
    return f"service_release_cohort_signal:collapse_signal_degraded:{ref}"


def family_degraded(ref: str) -> str:
    return f"service_release_cohort_family:collapse_family_degraded:{ref}"


def families_degraded(ref: str) -> str:
    return f"service_release_cohort:collapse_degraded_families:count_{ref}"


def judged(ref: str) -> str:
    """How many verdict signals of a stream were judged against ``ref`` (a change or a
    z-score, both windows full):
    the dashboards and rollout gates tell "no change" (0 families degraded) from "not judged"
    (no series) with it."""
    return f"service_release_cohort:collapse_judged_signals:count_{ref}"


def z_critical(cfg: MixinConfig) -> float:
    """Two-sided Bonferroni bound over the verdict signals (Holm's first step, which the
    offline comparison uses): z = Phi^-1(1 - alpha / (2 m))."""
    return NormalDist().inv_cdf(1 - cfg.verdict_alpha / (2 * len(verdict_signals(cfg.embedder))))


def _signal_series(cfg: MixinConfig) -> list[dict]:
    """One rule per verdict signal for its value (all under one name, labelled ``signal``),
    and one for every standard error (their family already carries ``signal``)."""
    rules = []
    for s in verdict_signals(cfg.embedder):
        extra = (s.selector,) if s.selector else ()
        rules.append({"record": VALUE, "expr": f"avg by ({STREAM}) ({s.metric}{sel(cfg, *extra)})",
                      "labels": {"signal": s.key}})
    se = f"collapse_window_signal_stderr{sel(cfg)}"
    rules.append({"record": STDERR, "expr": (
        f"sqrt(sum by ({STREAM}, signal) ({se} ^ 2))\n/ count by ({STREAM}, signal) ({se})")})
    return rules


def _constants(cfg: MixinConfig) -> list[dict]:
    """Each verdict signal's collapse direction (+1 / -1, labelled with its family) and its
    floor, as series the generic rules join on."""
    rules = []
    for s in verdict_signals(cfg.embedder):
        rules.append({"record": DIRECTION, "expr": f"vector({s.collapse})",
                      "labels": {"signal": s.key, "family": s.family.replace(" ", "_")}})
        rules.append({"record": FLOOR, "expr": f"vector({num(s.floor)})",
                      "labels": {"signal": s.key}})
    return rules


def _reference(cfg: MixinConfig, ref: str, cohort_series: str, release_series: str) -> str:
    """``cohort_series`` of the reference release (same service and cohort), else
    ``release_series`` of it (that release across its cohorts), moved onto the release that
    points to it; the reference's last value within the lookback (it may be retired)."""
    lookback = cfg.previous_release_lookback
    anchor = (f"0 * {VALUE}\n"
              f"  * on (service, release) group_left ({ref})\n"
              f"  {LINEAGE}")
    same_cohort = (f"max without (release) (label_replace(last_over_time({cohort_series}"
                   f'[{lookback}]), "{ref}", "$1", "release", "(.+)"))')
    any_cohort = (f"max without (release) (label_replace(last_over_time({release_series}"
                  f'[{lookback}]), "{ref}", "$1", "release", "(.+)"))')
    return (f"(\n  {anchor}\n  + on (service, cohort, signal, {ref}) group_left ()\n"
            f"  {same_cohort}\n)\nor\n(\n  {anchor}\n"
            f"  + on (service, signal, {ref}) group_left ()\n  {any_cohort}\n)")


def _comparisons(cfg: MixinConfig, ref: str) -> list[dict]:
    signals = verdict_signals(cfg.embedder)
    relative = "|".join(s.key for s in signals if s.change == "relative")
    absolute = "|".join(s.key for s in signals if s.change != "relative")
    keep = f"service, release, cohort, signal, {ref}"
    diff = f"{VALUE} - on ({STREAM}, signal) group_right {base_value(ref)}"
    # both windows hold enough answers for a verdict (the reference's last one, if retired)
    full = (f"and on ({STREAM}) ({WINDOW} >= {cfg.verdict_min_window_answers})\n"
            f"and on (service, {ref}) (\n"
            f"  max without (release) (label_replace(last_over_time({WINDOW}"
            f'[{cfg.previous_release_lookback}]), "{ref}", "$1", "release", "(.+)"))\n'
            f"    >= {cfg.verdict_min_window_answers}\n)")
    se = (f"sqrt(\n    {STDERR} ^ 2\n"
          f"    + on ({STREAM}, signal) group_right {base_stderr(ref)} ^ 2\n  )")
    rules = [
        {"record": base_value(ref), "expr": _reference(cfg, ref, VALUE, RELEASE_VALUE)},
        {"record": base_stderr(ref), "expr": _reference(cfg, ref, STDERR, RELEASE_STDERR)},
        # relative change for signals judged relatively (a zero base gives no series, never
        # +Inf), absolute change (in the signal's own units) for ratios that sit near 0
        {"record": change(ref), "labels": {"change": "relative"}, "expr": (
            f'(\n  {VALUE}{{signal=~"{relative}"}}\n'
            f"  - on ({STREAM}, signal) group_right {base_value(ref)}\n)\n"
            f"/ on ({keep}) (abs({base_value(ref)}) > 0)")},
        {"record": change(ref), "labels": {"change": "absolute"}, "expr": (
            f'{VALUE}{{signal=~"{absolute}"}}\n'
            f"- on ({STREAM}, signal) group_right {base_value(ref)}")},
        # both errors 0 (a release without duplicates and one repeating a few canned
        # replies: every jackknife replicate equal): a change is infinitely many errors wide,
        # +-Inf (compare: p = 0), and no change is no z-score (compare: p = 1), never dropped
        {"record": zscore(ref), "expr": (
            f"(\n  {diff}\n)\n/ on ({keep}) (\n  {se} > 0\n)\n"
            f"or\n(\n  {diff}\n  != 0\n)\n/ on ({keep}) (\n  {se} == 0\n)")},
        {"record": degraded(ref), "expr": (
            f"0 * (\n"
            f"  {change(ref)} * on (signal) group_left (family) {DIRECTION}\n"
            f"    >= on (signal) group_left () {FLOOR}\n"
            f")\n+ 1\n"
            f"and on ({keep}) (\n"
            f"  {zscore(ref)} * on (signal) group_left () {DIRECTION}\n"
            f"    >= {num(round(z_critical(cfg), 4))}\n)\n{full}")},
        {"record": family_degraded(ref), "expr": (
            f"count by ({STREAM}, family, {ref}) ({degraded(ref)})")},
        {"record": families_degraded(ref), "expr": (
            f"count by ({STREAM}, {ref}) ({family_degraded(ref)})")},
        # a signal is judged when it has a change or a z-score (no change with no error has
        # no z-score; a relative change against 0 has no change) and both windows are full
        {"record": judged(ref), "expr": (
            f"count by ({STREAM}, {ref}) (\n"
            f"  count by ({STREAM}, signal, {ref}) ({change(ref)} or {zscore(ref)})\n"
            + "\n".join(f"  {line}" for line in full.splitlines()) + "\n)")},
    ]
    return rules


def verdict_rules(cfg: MixinConfig) -> list[dict]:
    """Every recording rule of the verdict, in evaluation order."""
    rules = [
        {"record": LINEAGE, "expr": (
            "topk by (service, release) (1,\n"
            "  max by (service, release, previous_release, baseline_release) "
            f"(collapse_release_info{sel(cfg)})\n)")},
        {"record": WINDOW, "expr": f"sum by ({STREAM}) (collapse_window_answers{sel(cfg)})"},
        *_constants(cfg),
        *_signal_series(cfg),
        {"record": RELEASE_VALUE, "expr": f"avg by (service, release, signal) ({VALUE})"},
        {"record": RELEASE_STDERR, "expr": (
            f"sqrt(sum by (service, release, signal) ({STDERR} ^ 2))\n"
            f"/ count by (service, release, signal) ({STDERR})")},
    ]
    for ref in REFERENCES:
        rules += _comparisons(cfg, ref)
    return rules
