"""The one config that drives rules, alerts and dashboards (kubernetes-mixin style).

Users keep a small YAML/JSON file of overrides and regenerate; every field has a default that
suits a single ``collapse-otel`` job scraped every 15-30 s.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from ..signals.embedders import EMBEDDER_NAMES

_DURATION = re.compile(r"([0-9]+(ms|s|m|h|d|w|y))+")
_DURATION_FIELDS = ("rate_window_short", "rate_window_long", "baseline_window", "baseline_offset",
                    "previous_release_lookback", "duplicate_window", "duplicate_for",
                    "repetition_for", "verdict_for", "dropping_for", "rollout_interval",
                    "audit_for", "feedback_for", "holdout_for", "loop_for")


@dataclass(frozen=True)
class MixinConfig:
    """Selectors, windows, thresholds, ``for:`` durations, runbook links and the datasource."""

    # Which scrape targets carry collapse-otel metrics (a PromQL label matcher list).
    job_selector: str = 'job="collapse-otel"'
    # Rate windows of the recording rules, and the duplicate-ratio baseline.
    rate_window_short: str = "5m"
    rate_window_long: str = "1h"
    baseline_window: str = "1d"
    # The own baseline skips the newest stretch, so a spike does not hide in its own baseline;
    # a release younger than this is compared with its previous release instead.
    baseline_offset: str = "1h"
    # How far back to look for the previous release's last value (it may be retired).
    previous_release_lookback: str = "1d"

    # CollapseDuplicateAnswerSpike: the duplicate share of the last duplicate_window against
    # the release's own baseline (or its previous release's), by a binomial z-test on the
    # counts, so low traffic (few answers, wide noise) and bursts (one burst stays in the
    # window for its length) are judged by their evidence. for: never outlasts the window.
    duplicate_window: str = "15m"
    duplicate_for: str = "5m"
    duplicate_min_answers: int = 20            # answers in the window before it can fire
    duplicate_min_increase: float = 0.1        # a rise of at least 10 points of answers ...
    duplicate_z: float = 3.29                  # ... beyond two-sided p = 0.001 of the noise
    duplicate_severity: str = "warning"
    # CollapseRepetitionHigh: a per-answer mean, unbiased by window size.
    repetition_min_window_answers: int = 100
    repetition_threshold: float = 0.25
    repetition_for: str = "15m"
    repetition_severity: str = "warning"
    # CollapseReleaseRegression: the verdict of collapse-otel compare, online. A family
    # degrades when one of its signals moves the collapse way by at least its floor (the
    # registry's) with z beyond the Bonferroni bound of verdict_alpha over the verdict signals.
    verdict_alpha: float = 0.05
    # K = 3 as compare's default: gradual collapse is caught by one signal past its critical
    # margin, and two families just past their floors flagged the control (docs/verdict.md)
    verdict_min_families: int = 3              # K: "collapse suspected" (warning)
    verdict_critical_families: int = 4         # critical from this many, or K vs the baseline
    verdict_min_window_answers: int = 200      # both windows, so the errors mean something
    verdict_for: str = "15m"
    # The embedder the services run with (COLLAPSE_OTEL_EMBEDDER): semantic dispersion is in
    # the verdict under the embedders the registry names for it (wordllama), not on hashed.
    embedder: str = "hashed"
    # CollapseFeedbackRegression: the thumbs-down or evaluation fail rate of a stream up
    # against its previous release (the verdict rules' change and z-score) by at least
    # feedback_min_increase, with z beyond the Bonferroni bound of feedback_alpha over the two
    # rates, on at least feedback_min_rated rated answers (judged results) in the window.
    feedback_alpha: float = 0.05
    feedback_min_increase: float = 0.02
    feedback_min_rated: int = 50
    feedback_for: str = "15m"
    feedback_severity: str = "warning"
    # CollapseHoldoutFailsWhileSyntheticImproves: the same for the holdout cohort, while a
    # cohort matching synthetic_cohort_pattern (a PromQL regex) of the release improves.
    holdout_cohort: str = "human_holdout"
    synthetic_cohort_pattern: str = "synthetic.*"
    holdout_for: str = "15m"
    holdout_severity: str = "warning"
    # CollapseAgentLoopSpike: the share of agent turns that loop up against the previous
    # release by at least loop_min_increase (points), with z beyond the two-sided bound of
    # loop_alpha, on at least loop_min_turns agent turns in the window.
    loop_alpha: float = 0.05
    loop_min_increase: float = 0.05
    loop_min_turns: int = 50
    loop_for: str = "15m"
    loop_severity: str = "warning"
    # CollapseTelemetryDropping
    dropping_for: str = "15m"
    dropping_severity: str = "warning"

    # Canary gates (exporters/rollouts): the Prometheus they query, and one measurement every
    # rollout_interval, rollout_count of them (Argo Rollouts; Flagger's own analysis
    # interval and threshold in its example).
    rollout_prometheus_address: str = "http://prometheus.monitoring.svc:9090"
    rollout_interval: str = "5m"
    rollout_count: int = 6

    # collapse-otel audit, pushed to a Pushgateway (scraped with honor_labels: true):
    # CollapseAuditSyntheticDominates, CollapseAuditHoldoutContaminated.
    audit_job_selector: str = 'job="collapse-audit"'
    audit_for: str = "1m"
    audit_severity: str = "warning"

    # Alert rule group evaluation interval ("" = Prometheus' global evaluation_interval).
    rule_interval: str = ""
    # str.format pattern; {anchor} is alert-name-<lowercased alert name>, {alertname} the name.
    runbook_url_pattern: str = (
        "https://github.com/collapse-otel/collapse-otel/blob/main/"
        "exporters/prometheus/runbook.md#{anchor}"
    )
    # Grafana
    datasource_name: str = "Prometheus"
    dashboard_uid_prefix: str = "collapse-otel"
    dashboard_tags: tuple[str, ...] = ("collapse-otel",)
    dashboard_refresh: str = "30s"
    dashboard_time_from: str = "now-6h"

    def __post_init__(self) -> None:  # noqa: C901 (one check per field)
        for f in fields(self):
            value, default = getattr(self, f.name), f.default
            if isinstance(default, float) and isinstance(value, int) \
                    and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))
            elif not isinstance(value, type(default)) or \
                    (isinstance(value, bool) and not isinstance(default, bool)):
                raise ValueError(f"{f.name} must be a {type(default).__name__}, got {value!r}")
        for name in _DURATION_FIELDS:
            if not _DURATION.fullmatch(getattr(self, name)):
                raise ValueError(f"{name} must be a Prometheus duration like 5m, got "
                                 f"{getattr(self, name)!r}")
        if self.rule_interval and not _DURATION.fullmatch(self.rule_interval):
            raise ValueError(f"rule_interval must be empty or a duration, got {self.rule_interval!r}")
        if not 0.0 < self.verdict_alpha < 1.0:
            raise ValueError("verdict_alpha must be in (0, 1)")
        if self.embedder not in EMBEDDER_NAMES:
            raise ValueError(f"embedder must be one of {', '.join(EMBEDDER_NAMES)}")
        if not 0.0 < self.feedback_alpha < 1.0:
            raise ValueError("feedback_alpha must be in (0, 1)")
        if not 0.0 <= self.feedback_min_increase <= 1.0 or self.feedback_min_rated < 1:
            raise ValueError("feedback_min_increase must be in [0, 1] and feedback_min_rated "
                             ">= 1")
        if not 0.0 < self.loop_alpha < 1.0 or not 0.0 <= self.loop_min_increase <= 1.0 \
                or self.loop_min_turns < 1:
            raise ValueError("loop_alpha must be in (0, 1), loop_min_increase in [0, 1] and "
                             "loop_min_turns >= 1")
        if not self.holdout_cohort or '"' in self.holdout_cohort + \
                self.synthetic_cohort_pattern:
            raise ValueError("holdout_cohort must be set; neither it nor "
                             "synthetic_cohort_pattern may hold a double quote")
        if not 1 <= self.verdict_min_families <= self.verdict_critical_families:
            raise ValueError("need 1 <= verdict_min_families <= verdict_critical_families")
        for name in ("verdict_min_window_answers", "repetition_min_window_answers",
                     "duplicate_min_answers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.rollout_count < 2:
            raise ValueError("rollout_count must be >= 2 (measurements before a verdict "
                             "exists are inconclusive)")
        if not 0.0 < self.duplicate_min_increase <= 1.0 or self.duplicate_z <= 0:
            raise ValueError("duplicate_min_increase must be in (0, 1] and duplicate_z > 0")
        if _seconds(self.duplicate_for) > _seconds(self.duplicate_window):
            raise ValueError("duplicate_for must not outlast duplicate_window (the burst it "
                             "sees would leave the window before the alert fires)")
        if "{anchor}" not in self.runbook_url_pattern and \
                "{alertname}" not in self.runbook_url_pattern:
            raise ValueError("runbook_url_pattern needs {anchor} or {alertname}")

    def runbook_url(self, alertname: str) -> str:
        """Link to the runbook section of one alert (anchor alert-name-<lowercased>)."""
        return self.runbook_url_pattern.format(anchor=runbook_anchor(alertname),
                                               alertname=alertname)

    def with_overrides(self, overrides: dict[str, Any]) -> MixinConfig:
        """A copy with ``overrides`` applied; unknown keys are an error, not silently ignored."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown mixin config keys: {', '.join(unknown)}")
        values = dict(overrides)
        if "dashboard_tags" in values:
            values["dashboard_tags"] = tuple(values["dashboard_tags"])
        return replace(self, **values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    return sum(float(n) * units[u] for n, u in re.findall(r"([0-9]+)(ms|s|m|h|d|w|y)", duration))


def runbook_anchor(alertname: str) -> str:
    return f"alert-name-{alertname.lower()}"


def load_config(path: str | Path | None = None) -> MixinConfig:
    """Defaults, overridden by a JSON or YAML file. PyYAML is not a dependency of the base
    install, so a YAML file without it is a ValueError that says what to install (the CLI
    prints it and exits 2), never a traceback."""
    if path is None:
        return MixinConfig()
    text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text) if str(path).endswith(".json") else _read_yaml(path, text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of config keys")
    return MixinConfig().with_overrides(data)


def _read_yaml(path: str | Path, text: str) -> Any:
    try:
        import yaml
    except ImportError:
        raise ValueError(f"{path}: a YAML config needs PyYAML: pip install pyyaml (or "
                         "'collapse-otel[serve]'), or write the config as JSON (.json)") from None
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
