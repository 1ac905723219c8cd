"""The release comparison dashboard, read from the verdict's recording rules.

Release A (the reference side) and release B (the candidate), each with its own cohort. A
headline says whether collapse is suspected for B (the verdict series the alert reads); then one row
per signal family: for every verdict signal, A's and B's values with their 95% intervals
(value +- 1.96 standard errors), B's change against its previous and against its baseline
release (relative, or absolute for ratios near 0, as the registry judges it: the change rules
give no value for a zero reference, never +Inf), B's z-score the collapse way (one look's
bound), and the family's verdict (the rules' anytime-valid bound). Everything is generated from the registry.

The verdict rules average a release over the instances serving it, so they carry no ``job`` or
``instance``: the ``$job`` / ``$instance`` variables keep the streams those processes serve.
"""

from __future__ import annotations

from ..signals.registry import FAMILIES, Signal, verdict_signals
from .config import MixinConfig
from .dashboards import scope_variables
from .grafana import Panel, Row, dashboard, query_variable, stat, table, value_text
from .promql import dash_sel
from .verdict import (
    REFERENCES,
    STDERR,
    VALUE,
    base_stderr,
    change,
    families_degraded,
    family_degraded,
    judged,
    rule_text,
    suspected,
    z_critical,
    zscore,
)

SIDES = {"a": "A", "b": "B"}
REF_NAME = {"previous_release": "previous", "baseline_release": "baseline"}
STREAM_ON = "on (service, release, cohort)"
SERVICE = 'service="$service"'
Z95 = 1.96


def side(which: str, *extra: str) -> str:
    """Matchers of one side's stream (for the recording rules: no job / instance there)."""
    return "{" + ", ".join((*raw_side(which), *extra)) + "}"


def raw_side(which: str) -> tuple[str, ...]:
    """Matchers of one side's stream on the exported series (with job / instance)."""
    return (SERVICE, f'release="$release_{which}"', f'cohort="$cohort_{which}"')


def served(cfg: MixinConfig, expr: str) -> str:
    """``expr`` (a rule per stream) kept for streams the selected jobs and instances serve."""
    return f"{expr}\nand {STREAM_ON}\ncollapse_window_answers{dash_sel(cfg, SERVICE)}"


def _judged(cfg: MixinConfig, ref: str, signals: tuple[Signal, ...] = ()) -> str:
    """0 (per reference) when B was judged against ``ref`` (the judged-signals rule: a
    reference exists and both windows are full), restricted to ``signals`` if given."""
    judged_b = served(cfg, f"{judged(ref)}{side('b')}")
    if not signals:
        return f"0 * max by ({ref}) (\n{judged_b}\n)"
    keys = f'signal=~"{"|".join(s.key for s in signals)}"'
    compared = served(cfg, f"({change(ref)}{side('b', keys)} or {zscore(ref)}{side('b', keys)})")
    return (f"0 * max by ({ref}) (\n{judged_b}\n)\nand on ({ref})\n"
            f"count by ({ref}) (\n{compared}\n)")


def signal_line(cfg: MixinConfig, s: Signal) -> list[Panel]:
    """Values with intervals, change vs previous and baseline, z-scores: 24 columns."""
    matcher = f'signal="{s.key}"'
    values = []
    for which, name in SIDES.items():
        values += [(served(cfg, f"{VALUE}{side(which, matcher)}"),
                    f"{name}: $release_{which} / $cohort_{which}"),
                   (served(cfg, f"{Z95} * {STDERR}{side(which, matcher)}"), f"{name} ± (95%)")]
    way = "up" if s.collapse > 0 else "down"
    panels = [stat(s.title, values, s.unit,
                   f"{s.description} Collapse moves it {way}. Each value is averaged over the "
                   "instances serving the stream; ± is 1.96 standard errors (a 95% interval).",
                   width=8)]
    unit = "percentunit" if s.change == "relative" else s.unit
    how = ("(B - reference) / reference: no value when the reference is 0" if
           s.change == "relative" else "B - reference, in the signal's own units (a ratio near "
           "0 is judged by its absolute change)")
    for ref in REFERENCES:
        panels.append(stat(
            f"{s.title}: change vs {REF_NAME[ref]}",
            [(served(cfg, f"{change(ref)}{side('b', matcher)}"), f"vs {{{{{ref}}}}} ({s.change})")],
            unit, f"B against its {REF_NAME[ref]} release ({ref} on collapse_release_info): "
            f"{how}. It matters from {s.floor:g}{' (relative)' if s.change == 'relative' else ''}"
            f" the collapse way ({way}).", width=5))
    zc = z_critical(cfg)
    panels.append(stat(
        f"{s.title}: z toward collapse",
        [(served(cfg, z_toward_collapse(s, ref, matcher)), f"vs {{{{{ref}}}}}")
         for ref in REFERENCES], "none",
        f"(B - reference) / sqrt(se_B^2 + se_ref^2), signed so that positive is the collapse "
        f"way; significant from {zc:.2f} (Bonferroni over the "
        f"{len(verdict_signals(cfg.embedder))} verdict signals at alpha {cfg.verdict_alpha:g})"
        " for one look; the verdict, re-evaluated every 30 s, uses the anytime-valid bound "
        "instead (about 4 standard errors below the change). No z when the reference's "
        "standard error is 0 (its window showed no spread, e.g. not one duplicate): a z over "
        "B's error alone would read as thousands; the change and its floor tell the size.",
        width=6, thresholds=[(None, "green"), (round(zc, 2), "red")], no_value="no z"))
    return panels


def z_toward_collapse(s: Signal, ref: str, matcher: str) -> str:
    """B's z-score against ``ref``, positive the collapse way, only where the reference has
    a standard error (a reference error of 0 makes z the change over B's error alone)."""
    sign = "" if s.collapse > 0 else "-"
    return (f"{sign}{zscore(ref)}{side('b', matcher)}\n"
            f"and on (service, release, cohort, signal, {ref})\n"
            f"{base_stderr(ref)}{side('b', matcher)} > 0")


def family_verdict(cfg: MixinConfig, family: str, signals: tuple[Signal, ...]) -> Panel:
    matcher = 'family="{}"'.format(family.replace(" ", "_"))
    targets = []
    for ref in REFERENCES:
        rule = f"{family_degraded(ref)}{side('b', matcher)}"
        targets.append((f"max by ({ref}) (\n{served(cfg, rule)}\n)\nor\n"
                        f"{_judged(cfg, ref, signals)}", f"vs {{{{{ref}}}}}"))
    return stat(
        f"{family.capitalize()}: verdict", targets, "short",
        "Degraded when one of the family's signals moved the collapse way by at least its floor "
        "and the anytime-valid lower bound of that change is above 0 (about 4 standard "
        "errors below it, valid at every evaluation at once), both windows holding at least "
        f"{cfg.verdict_min_window_answers} answers (the value is how many of its signals did); "
        "no change: judged, none did; not judged: B has no such reference release, or a "
        f"window holds fewer than {cfg.verdict_min_window_answers} answers.",
        width=24, height=3, mappings=value_text({0: ("no change", "green")},
                                                (1, "degraded", "red")),
        no_value="not judged")


def headline(cfg: MixinConfig) -> list[Panel]:
    k, kc = cfg.verdict_min_families, cfg.verdict_critical_families
    counts = []
    for ref in REFERENCES:
        rule = f"{families_degraded(ref)}{side('b')}"
        counts.append((f"max by ({ref}) (\n{served(cfg, rule)}\n)\nor\n{_judged(cfg, ref)}",
                       f"vs {{{{{ref}}}}}"))
    suspected_ = " or ".join(f"{suspected(ref)}{side('b')}" for ref in REFERENCES)
    answers = [(f"sum(collapse_window_answers{dash_sel(cfg, *raw_side(which))})",
                f"{name}: $release_{which} / $cohort_{which}") for which, name in SIDES.items()]
    lineage = ("max by (service, release, previous_release, baseline_release) "
               f"(collapse_release_info{dash_sel(cfg, SERVICE)})")
    return [
        stat("Collapse suspected", [(
            f"max(\n{served(cfg, f'({suspected_})')}\n)",
            "$release_b / $cohort_b")], "short",
            f"Collapse is suspected for B when {rule_text(cfg)} against its previous release "
            "or its baseline release (the series CollapseReleaseRegression and the canary "
            f"gates read; the alert once it has held for {cfg.verdict_for}: warning against "
            f"the previous release, critical at {kc} families or against the baseline).",
            width=4,
            mappings=value_text({0: ("no", "green"), 1: ("collapse suspected", "red")}),
            no_value="not judged"),
        stat("Families degraded", counts, "short",
             f"Signal families of B that degraded against each reference; {k} or more: "
             f"collapse suspected (warning), {kc} or more against the previous release: "
             "critical.", width=6,
             thresholds=[(None, "green"), (k, "orange"), (kc, "red")], no_value="not judged"),
        stat("Answers in window", answers, "short",
             "Answers in each side's window (the selected instances); the verdict waits for "
             f"{cfg.verdict_min_window_answers} on both sides.", width=6),
        table("Release lineage", [(lineage, "")],
              "previous_release and baseline_release of every release, from configuration "
              "(collapse_release_info): what B is compared with.", width=8, height=5),
    ]


def _tokens(cfg: MixinConfig) -> list[Panel]:
    panels = []
    for name, metric in (("Completion tokens", "collapse_completion_tokens"),
                         ("Prompt tokens", "collapse_prompt_tokens")):
        panels.append(stat(f"{name} per answer: p50 / p90 / p99", [
            (f"histogram_quantile({q}, sum by (le) (increase({metric}_bucket"
             f"{dash_sel(cfg, *raw_side(which))}[$__range])))", f"p{int(q * 100)} {name_}")
            for which, name_ in SIDES.items() for q in (0.5, 0.9, 0.99)],
            "short", f"The median (p50), 90th and 99th percentile of the {name.lower()} per "
            "answer of A and B over the selected time range, from the histogram buckets "
            "(an estimate within one bucket).", width=12, height=6))
    return panels


def comparison(cfg: MixinConfig) -> dict:
    rows = [Row("Verdict for B", headline(cfg))]
    for family in FAMILIES:
        signals = tuple(s for s in verdict_signals(cfg.embedder) if s.family == family)
        if not signals:
            continue
        panels = [family_verdict(cfg, family, signals)]
        for s in signals:
            panels += signal_line(cfg, s)
        rows.append(Row(family.capitalize(), panels))
    rows.append(Row("Token counts over the selected range", _tokens(cfg)))
    svc = dash_sel(cfg, SERVICE)
    variables = [*scope_variables(cfg), query_variable(
        "service", "Service", f"label_values(collapse_answers_total{dash_sel(cfg)}, service)")]
    for which, name in SIDES.items():
        role = "reference" if which == "a" else "candidate"
        variables += [
            query_variable(f"release_{which}", f"Release {name} ({role})",
                           f"label_values(collapse_answers_total{svc}, release)"),
            query_variable(f"cohort_{which}", f"Cohort {name}",
                           f"label_values(collapse_answers_total"
                           f"{dash_sel(cfg, *raw_side(which)[:2])}, cohort)"),
        ]
    return dashboard(
        cfg, "release-comparison", "collapse-otel / Release comparison",
        "Release B (candidate) against A, and B's verdict against its previous and baseline "
        "releases: every verdict signal with its interval, change, z-score; per family.",
        variables, rows)
