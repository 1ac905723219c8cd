"""Writes exporters/prometheus/tests/verdict_test.yaml: promtool unit tests of the release
verdict (CollapseReleaseRegression and its recording rules) on scenarios an SRE meets.

Every verdict signal gets a value and a standard error per release; each scenario moves some
of them. Run ``python -m tests.support.promtool_verdict`` to regenerate; tests/e2e/test_rules_promtool.py
fails when the committed file drifts from this script.

- gradual: a collapse of about 10% per release in two families (lexical diversity,
  repetition), errors of a 1,000-answer sample: warning.
- control: the same signals moving 2-3% (the accumulate control of the simulation): quiet.
- noise: 8% moves, but with errors of a tiny window (z about 1.4): quiet; and a 4.9% move with
  tiny errors (below the 5% floor): quiet.
- canary: v2 serves only cohort "canary", v1 only "default": compared across cohorts: fires.
- rolling: r1 lived in another process (instance a) that stopped at minute 10; r2 (instance b)
  names r1 as its predecessor: compared with r1's last values: fires.
- pinned: r5 barely moves against r4 but lost 15% in three families against the pinned
  human-written baseline h: critical.
- young: y2 moved 30% in three families, but its window holds 100 answers: not judged (no
  degraded signal, no judged-signals count): quiet.
- replicas: r2 runs on two instances; its value is their mean and its error sqrt(sum se^2) / n;
  it barely moves from r1: quiet.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from collapse_otel.mixin import MixinConfig
from collapse_otel.mixin.alerts import release_regression
from collapse_otel.mixin.verdict import families_degraded, family_degraded, z_critical
from collapse_otel.mixin.yamlout import dump
from collapse_otel.signals.registry import VERDICT_SIGNALS

OUT = Path(__file__).resolve().parents[2] / "exporters" / "prometheus" / "tests" / \
    "verdict_test.yaml"
MINUTES = 40
# A healthy release: value and standard error of a window of 1,000+ answers.
BASE = {
    "exact_duplicate_ratio": (0.02, 0.004), "near_duplicate_ratio": (0.03, 0.004),
    "repeated_ngram_within_answer": (0.01, 0.001), "compression_ratio": (2.9, 0.02),
    "distinct_1": (0.10, 0.001), "distinct_2": (0.55, 0.004), "distinct_3": (0.85, 0.004),
    "distinct_4": (0.95, 0.004), "ngram_diversity_score": (2.45, 0.01),
    "entities_per_answer": (3.0, 0.05), "entity_hill_0": (1200.0, 12.0),
    "embedding_vendi_score": (45.0, 0.8), "embedding_mean_cosine_similarity": (0.30, 0.004),
    "completion_tokens_cv": (0.45, 0.015), "context_distinct_ratio": (0.40, 0.008),
    "context_top10_share": (0.30, 0.008), "self_bleu": (0.15, 0.003),
    "word_coverage_deficit": (0.05, 0.0015), "word_hill_1": (700.0, 10.0),
    "cross_question_duplicate_ratio": (0.01, 0.003),
    "thumbs_down_ratio": (0.10, 0.01), "evaluation_fail_ratio": (0.12, 0.01),
}
LEXICAL = ("distinct_1", "distinct_2", "distinct_3", "distinct_4", "ngram_diversity_score")
# semantic dispersion is judged under WordLlama embeddings only, not in the default rules
REPETITION = ("compression_ratio",)
ENTITY = ("entities_per_answer", "entity_hill_0")


def moved(keys: tuple[str, ...], fraction: float, scale_se: float = 1.0,
          base: dict | None = None) -> dict[str, tuple[float, float]]:
    """BASE with ``keys`` moved by ``fraction`` the collapse way; errors times scale_se."""
    base = base or BASE
    out = {}
    for s in VERDICT_SIGNALS:
        # a signal added to the registry later gets a plain healthy value and a 1% error
        value, se = base.get(s.key, (0.5, 0.005) if s.unit == "percentunit" else (10.0, 0.1))
        if s.key in keys:
            value = value * (1 + s.collapse * fraction)
        out[s.key] = (round(value, 6), round(se * scale_se, 6))
    return out


def _labels(**kw: str) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in kw.items()) + "}"


def release_series(service: str, release: str, cohort: str, instance: str,
                   signals: dict[str, tuple[float, float]], values: str,
                   previous: str = "", baseline: str = "", window: int = 1500) -> list[dict]:
    common = dict(job="collapse-otel", instance=instance, service=service, release=release)
    stream = dict(common, cohort=cohort)
    out = [{"series": "collapse_release_info" + _labels(**common, previous_release=previous,
                                                          baseline_release=baseline),
            "values": values.format(v=1)},
           {"series": "collapse_window_answers" + _labels(**stream),
            "values": values.format(v=window)}]
    for s in VERDICT_SIGNALS:
        value, se = signals.get(s.key) or moved((), 0)[s.key]
        extra = dict(s.labels)
        out.append({"series": s.metric + _labels(**stream, **extra),
                    "values": values.format(v=value)})
        out.append({"series": "collapse_window_signal_stderr" + _labels(**stream, signal=s.key),
                    "values": values.format(v=se)})
    return out


ALL = f"{{v}}x{MINUTES}"


def scenarios() -> list[dict]:
    series: list[dict] = []
    # gradual: about 10% per release in two families
    series += release_series("gradual", "r1", "default", "a", moved((), 0), ALL)
    series += release_series("gradual", "r2", "default", "a", moved(LEXICAL + REPETITION, 0.10),
                             ALL, previous="r1")
    # control: 2-3% in the same signals
    series += release_series("control", "r1", "default", "a", moved((), 0), ALL)
    series += release_series("control", "r2", "default", "a",
                             moved(LEXICAL + REPETITION + ENTITY, 0.025), ALL, previous="r1")
    # noise: 8% with the errors of a window of 40 answers (5x wider): z about 1.4
    series += release_series("noise", "n1", "default", "a", moved((), 0, 5), ALL, window=300)
    series += release_series("noise", "n2", "default", "a",
                             moved(LEXICAL + REPETITION + ENTITY, 0.08, 5), ALL, previous="n1",
                             window=300)
    # at the floor: 4.9% with tiny errors (significant, but below the 5% that matters)
    series += release_series("floor", "f1", "default", "a", moved((), 0, 0.2), ALL)
    series += release_series("floor", "f2", "default", "a",
                             moved(LEXICAL + REPETITION + ENTITY, 0.049, 0.2), ALL, previous="f1")
    # canary: the canary is a release serving its own cohort
    canary = moved(LEXICAL + REPETITION + ENTITY, 0.25)   # four families: critical too
    canary["exact_duplicate_ratio"] = (0.45, 0.012)
    series += release_series("shop", "v1", "default", "a", moved((), 0), ALL)
    series += release_series("shop", "v2", "canary", "b", canary, ALL, previous="v1")
    # rolling: r1's pod stopped at minute 10; r2 in another pod names r1
    series += release_series("pods", "r1", "default", "a", moved((), 0), "{v}x10")
    series += release_series("pods", "r2", "default", "b", moved(LEXICAL + ENTITY, 0.12),
                             f"_x10 {{v}}x{MINUTES - 10}", previous="r1")
    # pinned: small step from r4, but 15% below the human-written baseline in three families
    r4 = moved(LEXICAL + REPETITION + ENTITY, 0.13)
    series += release_series("pinned", "h", "default", "a", moved((), 0), ALL)
    series += release_series("pinned", "r4", "default", "a", r4, ALL, baseline="h")
    series += release_series("pinned", "r5", "default", "a",
                             moved(LEXICAL + REPETITION + ENTITY, 0.02, base=r4), ALL,
                             previous="r4", baseline="h")
    # young: a big move, but too few answers in the window to judge it
    series += release_series("young", "y1", "default", "a", moved((), 0), ALL)
    series += release_series("young", "y2", "default", "a",
                             moved(LEXICAL + REPETITION + ENTITY, 0.3), ALL, previous="y1",
                             window=100)
    # replicas: r2 runs on two instances; a release's value is their mean, its error
    # sqrt(sum se^2) / n (independent windows)
    series += release_series("replicas", "r1", "default", "a", moved((), 0), ALL)
    for instance, d2 in (("b", (0.552, 0.004)), ("c", (0.546, 0.003))):
        series += release_series("replicas", "r2", "default", instance,
                                 {**moved((), 0), "distinct_2": d2}, ALL, previous="r1")
    return series


def _expected(cfg: MixinConfig, critical: bool, service: str, release: str, cohort: str,
              families: list[str], value: int, previous: str = "", baseline: str = "") -> dict:
    """The alert as Prometheus renders its templates for these labels."""
    rule = release_regression(cfg, critical)
    labels = {"severity": rule["labels"]["severity"], "service": service, "release": release,
              "cohort": cohort}
    if previous:
        labels["previous_release"] = previous
    if baseline:
        labels["baseline_release"] = baseline
    names = ", ".join(sorted(f.replace(" ", "_") for f in families))
    annotations = {}
    for key, text in rule["annotations"].items():
        for ref in ("previous_release", "baseline_release"):
            template = _families_template(ref)
            text = text.replace(template, names if labels.get(ref) else "")
        for name in ("service", "release", "cohort", "previous_release", "baseline_release"):
            text = text.replace(f"{{{{ $labels.{name} }}}}", labels.get(name, ""))
        annotations[key] = text.replace("{{ $value }}", str(value))
    return {"exp_labels": labels, "exp_annotations": annotations}


def _families_template(ref: str) -> str:
    from collapse_otel.mixin.alerts import _families

    return _families(ref)


def document() -> dict:
    cfg = MixinConfig()
    warn = dict(critical=False)
    crit = dict(critical=True)
    gradual = ["lexical diversity", "repetition"]
    canary = ["duplication", "entity diversity", "lexical diversity", "repetition"]
    rolling = ["entity diversity", "lexical diversity"]
    pinned = ["entity diversity", "lexical diversity", "repetition"]
    firing = [
        _expected(cfg, **warn, service="gradual", release="r2", cohort="default",
                  families=gradual, value=2, previous="r1"),
        _expected(cfg, **warn, service="pods", release="r2", cohort="default",
                  families=rolling, value=2, previous="r1"),
        _expected(cfg, **warn, service="shop", release="v2", cohort="canary",
                  families=canary, value=4, previous="v1"),
        _expected(cfg, **warn, service="pinned", release="r4", cohort="default",
                  families=[], value=0, baseline="h"),
    ]
    firing = [f for f in firing if f["exp_labels"].get("previous_release")]
    critical = [
        _expected(cfg, **crit, service="shop", release="v2", cohort="canary",
                  families=canary, value=4, previous="v1"),
        _expected(cfg, **crit, service="pinned", release="r4", cohort="default",
                  families=pinned, value=3, baseline="h"),
        _expected(cfg, **crit, service="pinned", release="r5", cohort="default",
                  families=pinned, value=3, baseline="h"),
    ]
    both = sorted(firing + critical, key=lambda a: sorted(a["exp_labels"].items()))
    z = round(z_critical(cfg), 4)
    return {
        "rule_files": ["../collapse_rules.yaml", "../collapse_alerts.yaml"],
        "evaluation_interval": "1m",
        # recording rules first, so the alerts read this minute's values
        "group_eval_order": ["collapse-otel.rules", "collapse-otel.alerts"],
        "tests": [{
            "interval": "1m",
            "input_series": scenarios(),
            "alert_rule_test": [
                # conditions hold from the first evaluations; for: 15m not yet elapsed
                {"eval_time": "10m", "alertname": "CollapseReleaseRegression", "exp_alerts": []},
                {"eval_time": "30m", "alertname": "CollapseReleaseRegression",
                 "exp_alerts": both},
            ],
            "promql_expr_test": [*_rule_cases(),
                {"expr": f'count by (service, release) ({families_degraded("previous_release")})'
                         ' > 0',
                 "eval_time": "30m",
                 "exp_samples": [{"labels": _labels(service=svc, release=rel), "value": 1}
                                 for svc, rel in (("gradual", "r2"), ("pods", "r2"),
                                                  ("shop", "v2"))]},
                {"expr": f'{family_degraded("baseline_release")}{{service="pinned"}}',
                 "eval_time": "30m",
                 "exp_samples": [
                     {"labels": _labels(
                         __name__=family_degraded("baseline_release"), baseline_release="h",
                         cohort="default", family=fam.replace(" ", "_"), release=rel,
                         service="pinned"), "value": count}
                     for rel in ("r4", "r5")
                     for fam, count in (("entity diversity", 2), ("lexical diversity", 5),
                                        ("repetition", 1))]},
                # noise and floor: big or significant moves alone do not degrade anything
                {"expr": 'service_release_cohort_signal:collapse_signal_degraded:'
                         'previous_release{service=~"noise|floor|control|young"}',
                 "eval_time": "30m", "exp_samples": []},
                # the z-scores behind it: noise about 1.4, below the bound
                {"expr": f'round(abs(service_release_cohort_signal:collapse_window_signal:'
                         f'zscore_previous_release{{service="noise", signal="distinct_2"}})'
                         f' < {z}, 0.001)',
                 "eval_time": "30m",
                 "exp_samples": [{"labels": _labels(
                     cohort="default", previous_release="n1", release="n2", service="noise",
                     signal="distinct_2"), "value": round(
                         0.08 * 0.55 / math.hypot(0.02, 0.02), 3)}]},
            ],
        }],
    }


def _case(expr: str, samples: list[tuple[dict, float]], at: str = "30m") -> dict:
    return {"expr": expr, "eval_time": at,
            "exp_samples": [{"labels": _labels(**labels), "value": value}
                            for labels, value in samples]}


def _rule_cases() -> list[dict]:
    """One case per recording rule of the verdict, on the scenarios above."""
    from collapse_otel.mixin import verdict as V

    def named(rule: str, **labels: str) -> dict:
        return {"__name__": rule, **labels}

    g2 = dict(service="gradual", release="r2", cohort="default")
    return [
        _case(f'{V.LINEAGE}{{service="gradual"}}', [
            (named(V.LINEAGE, service="gradual", release="r1"), 1),
            (named(V.LINEAGE, service="gradual", release="r2", previous_release="r1"), 1)]),
        _case(f'{V.WINDOW}{{service="gradual", release="r2"}}', [(named(V.WINDOW, **g2), 1500)]),
        _case(f'{V.DIRECTION}{{signal="distinct_2"}}', [
            (named(V.DIRECTION, signal="distinct_2", family="lexical_diversity"), -1)]),
        _case(f'{V.FLOOR}{{signal="exact_duplicate_ratio"}}', [
            (named(V.FLOOR, signal="exact_duplicate_ratio"), 0.02)]),
        _case(f'{V.VALUE}{{service="gradual", release="r2", signal="distinct_2"}}', [
            (named(V.VALUE, **g2, signal="distinct_2"), 0.495)]),
        _case(f'{V.STDERR}{{service="gradual", release="r2", signal="distinct_2"}}', [
            (named(V.STDERR, **g2, signal="distinct_2"), 0.004)]),
        _case(f'{V.VALUE}{{service="replicas", release="r2", signal="distinct_2"}}', [
            (named(V.VALUE, service="replicas", release="r2", cohort="default",
                   signal="distinct_2"), 0.549)]),
        _case(f'{V.STDERR}{{service="replicas", release="r2", signal="distinct_2"}}', [
            (named(V.STDERR, service="replicas", release="r2", cohort="default",
                   signal="distinct_2"), 0.0025)]),
        _case(f'{V.RELEASE_VALUE}{{service="shop", release="v1", signal="compression_ratio"}}',
              [(named(V.RELEASE_VALUE, service="shop", release="v1",
                      signal="compression_ratio"), 2.9)]),
        _case(f'{V.RELEASE_STDERR}{{service="shop", release="v1", signal="compression_ratio"}}',
              [(named(V.RELEASE_STDERR, service="shop", release="v1",
                      signal="compression_ratio"), 0.02)]),
        # the canary's cohort does not exist in v1: v1 across its cohorts is the base
        _case(f'{V.base_value("previous_release")}{{service="shop", '
              'signal="compression_ratio"}', [
                  (named(V.base_value("previous_release"), service="shop", release="v2",
                         cohort="canary", signal="compression_ratio",
                         previous_release="v1"), 2.9)]),
        # r1's pod stopped at minute 10: its last values are the base
        _case(f'{V.base_value("previous_release")}{{service="pods", signal="distinct_2"}}', [
            (named(V.base_value("previous_release"), service="pods", release="r2",
                   cohort="default", signal="distinct_2", previous_release="r1"), 0.55)]),
        _case(f'{V.base_stderr("previous_release")}{{service="gradual", signal="distinct_2"}}', [
            (named(V.base_stderr("previous_release"), **g2, signal="distinct_2",
                   previous_release="r1"), 0.004)]),
        _case(f'{V.base_value("baseline_release")}{{service="pinned", release="r5", '
              'signal="distinct_2"}', [
                  (named(V.base_value("baseline_release"), service="pinned", release="r5",
                         cohort="default", signal="distinct_2", baseline_release="h"), 0.55)]),
        _case(f'{V.base_stderr("baseline_release")}{{service="pinned", release="r5", '
              'signal="distinct_2"}', [
                  (named(V.base_stderr("baseline_release"), service="pinned", release="r5",
                         cohort="default", signal="distinct_2", baseline_release="h"), 0.004)]),
        _case(f'round({V.change("previous_release")}{{service="gradual", signal="distinct_2"}}, '
              '0.0001)', [({**g2, "signal": "distinct_2", "previous_release": "r1",
                            "change": "relative"}, -0.1)]),
        _case(f'round({V.change("baseline_release")}{{service="pinned", release="r4", '
              'signal="exact_duplicate_ratio"}, 0.0001)', [
                  ({"service": "pinned", "release": "r4", "cohort": "default",
                    "signal": "exact_duplicate_ratio", "baseline_release": "h",
                    "change": "absolute"}, 0)]),
        _case(f'round({V.zscore("baseline_release")}{{service="pinned", release="r4", '
              'signal="distinct_2"}, 0.01)', [
                  ({"service": "pinned", "release": "r4", "cohort": "default",
                    "signal": "distinct_2", "baseline_release": "h"},
                   round((0.4785 - 0.55) / math.hypot(0.004, 0.004), 2))]),
        _case(f'{V.degraded("baseline_release")}{{service="pinned", release="r4", '
              'signal="distinct_2"}', [
                  ({"__name__": V.degraded("baseline_release"), "service": "pinned",
                    "release": "r4", "cohort": "default", "signal": "distinct_2",
                    "baseline_release": "h", "change": "relative",
                    "family": "lexical_diversity"}, 1)]),
        # the compression ratio's 10% move is 1% of error wide (0.02 of 2.9 on each side):
        # its bound, about 4 errors below, is above 0
        _case(f'{V.family_degraded("previous_release")}{{service="gradual"}}', [
            (named(V.family_degraded("previous_release"), **g2, previous_release="r1",
                   family=family), count)
            for family, count in (("lexical_diversity", 5), ("repetition", 1))]),
        # the change's error in its own units, and the bound against a Python oracle
        _case(f'round(100000 * {V.change_stderr("previous_release")}{{service="gradual", '
              'signal="compression_ratio"})', [
                  ({**g2, "signal": "compression_ratio", "previous_release": "r1",
                    "change": "relative"}, round(1e5 * math.hypot(0.02, 0.02) / 2.9))]),
        *(_case(f'round(100000 * {V.bound("previous_release")}{{service="gradual", '
                f'signal="{key}"}})', [
                    ({**g2, "signal": key, "previous_release": "r1", "change": "relative",
                      "family": "repetition"},
                     round(1e5 * (0.10 - V.half_width(math.hypot(se, se) / value, 0.05,
                                                      MixinConfig()))))])
          for key, (value, se) in (("compression_ratio", BASE["compression_ratio"]),)),
        # against the pinned baseline: an absolute change's error, distinct-2's bound (13%
        # down, 1% of error), and the verdict
        _case(f'round(100000 * {V.change_stderr("baseline_release")}{{service="pinned", '
              'release="r4", signal="exact_duplicate_ratio"})', [
                  (dict(service="pinned", release="r4", cohort="default",
                        signal="exact_duplicate_ratio", baseline_release="h",
                        change="absolute"), round(1e5 * math.hypot(0.004, 0.004)))]),
        _case(f'round(100000 * {V.change_stderr("baseline_release")}{{service="pinned", '
              'release="r4", signal="distinct_2"})', [
                  (dict(service="pinned", release="r4", cohort="default", signal="distinct_2",
                        baseline_release="h", change="relative"),
                   round(1e5 * math.hypot(0.004, 0.004) / 0.55))]),
        _case(f'round(100000 * {V.bound("baseline_release")}{{service="pinned", '
              'release="r4", signal="distinct_2"})', [
                  (dict(service="pinned", release="r4", cohort="default", signal="distinct_2",
                        baseline_release="h", change="relative", family="lexical_diversity"),
                   round(1e5 * ((0.55 - 0.4785) / 0.55 - V.half_width(
                       math.hypot(0.004, 0.004) / 0.55, 0.05, MixinConfig()))))]),
        _case(f'{V.suspected("baseline_release")}{{service="pinned"}}', [
            (named(V.suspected("baseline_release"), service="pinned", release=rel,
                   cohort="default", baseline_release="h"), 1) for rel in ("r4", "r5")]),
        # the verdict series the alert and the canary gates read: 1 suspected, 0 judged
        _case(f'{V.suspected("previous_release")}{{service=~"gradual|control|young"}}', [
            (named(V.suspected("previous_release"), **g2, previous_release="r1"), 1),
            (named(V.suspected("previous_release"), service="control", release="r2",
                   cohort="default", previous_release="r1"), 0)]),
        _case(f'{V.families_degraded("baseline_release")}{{service="pinned"}}', [
            (named(V.families_degraded("baseline_release"), service="pinned", release=rel,
                   cohort="default", baseline_release="h"), 3) for rel in ("r4", "r5")]),
        # every verdict signal judged where both windows are full; young's y2 is not
        _case(f'{V.judged("previous_release")}{{service=~"gradual|young"}}', [
            (named(V.judged("previous_release"), **g2, previous_release="r1"),
             len(VERDICT_SIGNALS))]),
        _case(f'{V.judged("baseline_release")}{{service="pinned"}}', [
            (named(V.judged("baseline_release"), service="pinned", release=rel,
                   cohort="default", baseline_release="h"), len(VERDICT_SIGNALS))
            for rel in ("r4", "r5")]),
        *_critical_cases(),
    ]


def _critical_cases() -> list[dict]:
    """The critical margins: their constants, the signals whose bound passed theirs (against a
    Python oracle of the bound) and the families those signals make, on the gradual step
    (10% down from r1) and the pinned release r4 (13% below h)."""
    from collapse_otel.mixin import verdict as V

    cfg = MixinConfig()
    with_margin = V.critical_signals(cfg)
    cases = [_case(f"count({V.CRITICAL})", [({}, len(with_margin))])]
    for ref, stream, moved_keys, step in (
            ("previous_release", dict(service="gradual", release="r2", cohort="default"),
             LEXICAL + REPETITION, 0.10),
            ("baseline_release", dict(service="pinned", release="r4", cohort="default"),
             LEXICAL + REPETITION + ENTITY, 0.13)):
        past = [s for s in with_margin if s.key in moved_keys and s.change == "relative"
                and step - V.half_width(math.hypot(*(BASE[s.key][1],) * 2) / BASE[s.key][0],
                                        s.floor, cfg) > V.margins(s)[1]]
        where = ", ".join(f'{k}="{v}"' for k, v in stream.items())
        cases.append(_case(f"count({V.degraded_critical(ref)}{{{where}}}) or vector(0)",
                           [({}, len(past))]))
        cases.append(_case(f"sum({V.families_critical(ref)}{{{where}}}) or vector(0)",
                           [({}, len({s.family for s in past}))]))
    return cases


def main() -> int:
    OUT.write_text(render())
    print(OUT)
    return 0


def render() -> str:
    return dump(document(), __doc__.strip().splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
