"""Recording rules of the release verdict, generated from the signal registry.

The same judgement as ``collapse-otel compare``, in PromQL: per signal, the value of a
(service, release, cohort) averaged over the instances that serve it, its standard error (of
that average: sqrt(sum se^2) / n, the replicas' windows being independent samples of one
release), the change against the previous and against the pinned baseline release (the same
cohort there when it has one, else that release across its cohorts), its z-score, and the
change's standard error.

Prometheus re-evaluates the verdict every 30 s while the windows fill and slide, so a
fixed-horizon test checked at every evaluation would inflate its false alarms. Each signal's
change toward collapse gets an anytime-valid one-sided lower confidence bound instead, the
normal-mixture confidence sequence of Howard et al. (2021), in the standard-error form
GrowthBook uses for sequential A/B tests (Lindon et al. 2022 for canaries): with s the
change's standard error (intrinsic time 1/s^2, the information of the samples behind it) and
tau the mixture's scale,

    bound = change - s * sqrt((1 + s^2/tau^2) * (ln(1 + tau^2/s^2) + 2 ln(m / alpha)))

holds for every evaluation at once with probability 1 - alpha/m (m verdict signals,
Bonferroni). tau is the signal's margin (its floor): the mixture weighs changes of the size
that matters, and the bound is tightest where s = tau / sqrt(2 ln(m/alpha) + ln(1 +
2 ln(m/alpha))) (tau / 3.83 for 21 signals at 0.05: 3.98 standard errors wide, against 2.82 for
a one-look test). That choice comes from the noise of the default windows (1,000-answer
samples): on the recursive-training simulation the change's relative error runs from 0.6%
(distinct-2) to 2.5% (Vendi score), tau / s from 2 to 8 against a 5% floor, where the width
stays within 4% of its best (4.14 and 4.06 standard errors).

As compare judges it: a signal degrades when its change toward collapse reaches its floor and
its bound is above 0; a family when one of its signals does; collapse is suspected when K
families degrade, or when a signal's bound passes its larger ``critical`` margin (where the
registry declares one). Margins come from the registry, so the rules follow it.
"""

from __future__ import annotations

import math
from statistics import NormalDist

from ..signals.registry import Signal, verdict_signals
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
CRITICAL = "signal:collapse_signal_critical:constant"
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


def change_stderr(ref: str) -> str:
    """Standard error of the change, in the change's units (relative or absolute)."""
    return f"service_release_cohort_signal:collapse_window_signal:change_stderr_{ref}"


def bound(ref: str) -> str:
    """The anytime-valid lower confidence bound of the change toward collapse."""
    return f"service_release_cohort_signal:collapse_signal_change_bound:{ref}"


def degraded(ref: str) -> str:
    return f"service_release_cohort_signal:collapse_signal_degraded:{ref}"


def degraded_critical(ref: str) -> str:
    """Signals whose bound passed their larger (critical) margin."""
    return f"service_release_cohort_signal:collapse_signal_degraded_critical:{ref}"


def families_critical(ref: str) -> str:
    return f"service_release_cohort:collapse_critical_families:count_{ref}"


def suspected(ref: str) -> str:
    """1 when collapse is suspected against ``ref``, 0 when judged and not: what the alert,
    the dashboards and the canary gates read."""
    return f"service_release_cohort:collapse_suspected:{ref}"


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


def margins(s: Signal) -> tuple[float, float | None]:
    """The signal's margin (its floor) and its larger critical margin, if the registry
    declares one: a family degrading beyond it suspects collapse alone."""
    critical = getattr(s, "critical", None)
    return s.floor, (float(critical) if critical is not None else None)


def critical_signals(cfg: MixinConfig) -> tuple[Signal, ...]:
    return tuple(s for s in verdict_signals(cfg.embedder) if margins(s)[1] is not None)


def mixture_scale(s: Signal) -> float:
    """tau of the normal mixture: the signal's margin (the change that matters)."""
    return s.floor


def log_term(cfg: MixinConfig) -> float:
    """2 ln(m / alpha) of the one-sided bound, Bonferroni over the m verdict signals."""
    return 2 * math.log(len(verdict_signals(cfg.embedder)) / cfg.verdict_alpha)


def half_width(se: float, tau: float, cfg: MixinConfig) -> float:
    """The confidence sequence's half-width at standard error ``se`` (as the rules compute
    it; 0 for an error of 0)."""
    if se <= 0:
        return 0.0
    x = se * se / (tau * tau)
    return se * math.sqrt((1 + x) * (math.log(1 + 1 / x) + log_term(cfg)))


def tightest(cfg: MixinConfig) -> tuple[float, float]:
    """(tau / s where the bound is tightest, its width there in standard errors)."""
    lt = log_term(cfg)
    r = math.sqrt(lt + math.log(1 + lt))
    return r, half_width(1 / r, 1.0, cfg) * r


def rule_text(cfg: MixinConfig) -> str:
    """When collapse is suspected, in words (alert, runbook, dashboards)."""
    k = cfg.verdict_min_families
    beyond = (", or when the bound of one signal passes its larger critical margin"
              if critical_signals(cfg) else "")
    return f"{k} or more families degrade{beyond}"


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
        floor, critical = margins(s)
        rules.append({"record": FLOOR, "expr": f"vector({num(floor)})",
                      "labels": {"signal": s.key}})
        if critical is not None:
            rules.append({"record": CRITICAL, "expr": f"vector({num(critical)})",
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

    def se_of(signals: str) -> str:
        return (f"sqrt(\n  {STDERR}{{signal=~\"{signals}\"}} ^ 2\n"
                f"  + on ({STREAM}, signal) group_right {base_stderr(ref)} ^ 2\n)")

    # s^2 / tau^2: the change's variance in units of the mixture's (tau: the margin)
    positive = f"({change_stderr(ref)} > 0)"
    x = f"(\n      {positive} ^ 2\n      / on (signal) group_left () {FLOOR} ^ 2\n    )"
    rules: list[dict] = [
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
        # the change's error in its own units: relative changes over the reference's value
        {"record": change_stderr(ref), "labels": {"change": "relative"}, "expr": (
            f"{se_of(relative)}\n/ on ({keep}) (abs({base_value(ref)}) > 0)")},
        {"record": change_stderr(ref), "labels": {"change": "absolute"},
         "expr": se_of(absolute)},
        # the lower bound of the change toward collapse, valid at every evaluation at once;
        # an error of 0 (every jackknife replicate equal) leaves the change itself
        {"record": bound(ref), "expr": (
            f"{change(ref)} * on (signal) group_left (family) {DIRECTION}\n"
            f"- on ({keep}, change) group_left () (\n"
            f"  sqrt(\n    {positive} ^ 2 * (1 + {x})\n"
            f"    * (ln(1 + 1 / {x}) + {num(round(log_term(cfg), 6))})\n  )\n"
            f"  or\n  0 * ({change_stderr(ref)} == 0)\n)")},
        # degraded: the change toward collapse reaches the floor (it matters) and its bound
        # is above 0 (it is real, however often it is looked at), as compare judges it
        {"record": degraded(ref), "expr": (
            f"0 * (\n  {bound(ref)} > 0\n)\n+ 1\n"
            f"and on ({keep}) (\n"
            f"  {change(ref)} * on (signal) group_left () {DIRECTION}\n"
            f"    >= on (signal) group_left () {FLOOR}\n)\n{full}")},
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
    k = cfg.verdict_min_families
    judged_zero = f"0 * {judged(ref)}"
    alone = f"(\n  {families_degraded(ref)}\n  or\n  {judged_zero}\n) >= bool {k}"
    if critical_signals(cfg):
        rules[-1:-1] = [
            {"record": degraded_critical(ref), "expr": (
                f"0 * (\n  {bound(ref)}\n    > on (signal) group_left () {CRITICAL}\n)\n"
                f"+ 1\n{full}")},
            {"record": families_critical(ref), "expr": (
                f"count by ({STREAM}, {ref}) (\n"
                f"  count by ({STREAM}, family, {ref}) ({degraded_critical(ref)})\n)")},
        ]
        beyond = f"(\n  {families_critical(ref)}\n  or\n  {judged_zero}\n) >= bool 1"
        expr = f"clamp_max(\n  (\n{alone}\n  )\n  +\n  (\n{beyond}\n  ),\n  1\n)"
    else:
        expr = alone
    rules.append({"record": suspected(ref), "expr": expr})
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
