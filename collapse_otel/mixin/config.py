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

_DURATION = re.compile(r"([0-9]+(ms|s|m|h|d|w|y))+")
_DURATION_FIELDS = ("rate_window_short", "rate_window_long", "baseline_window", "baseline_offset",
                    "previous_release_lookback", "duplicate_for", "repetition_for",
                    "diversity_for", "dropping_for")


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

    # CollapseDuplicateAnswerSpike
    duplicate_ratio_threshold: float = 0.3
    duplicate_spike_factor: float = 2.0
    duplicate_min_answers_per_second: float = 0.1
    duplicate_for: str = "10m"
    duplicate_severity: str = "warning"
    # The drop alerts need this many answers in both releases' windows. Not lower than the
    # collector's sample_size (1,000): below it the n-gram signals come from samples of different
    # sizes, and Vendi rises with n (same text: -34% at 100, -5% at 1,000 vs 5,000 answers).
    min_window_answers: int = 1000
    # CollapseRepetitionHigh: a per-answer mean, unbiased by window size, so a smaller guard.
    repetition_min_window_answers: int = 100
    repetition_threshold: float = 0.25
    repetition_for: str = "15m"
    repetition_severity: str = "warning"
    # Diversity drops against the previous release
    diversity_drop_fraction: float = 0.2
    diversity_for: str = "30m"
    diversity_severity: str = "warning"
    lexical_metric: str = "collapse_ngram_diversity_score"
    # CollapseTelemetryDropping
    dropping_for: str = "15m"
    dropping_severity: str = "warning"

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

    def __post_init__(self) -> None:
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
        if not 0.0 < self.diversity_drop_fraction < 1.0:
            raise ValueError("diversity_drop_fraction must be in (0, 1)")
        if self.min_window_answers < 1 or self.repetition_min_window_answers < 1:
            raise ValueError("min_window_answers and repetition_min_window_answers must be >= 1")
        if self.duplicate_spike_factor < 1.0:
            raise ValueError("duplicate_spike_factor must be >= 1")
        if not 0.0 <= self.duplicate_ratio_threshold <= 1.0:
            raise ValueError("duplicate_ratio_threshold must be in [0, 1]")
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


def runbook_anchor(alertname: str) -> str:
    return f"alert-name-{alertname.lower()}"


def load_config(path: str | Path | None = None) -> MixinConfig:
    """Defaults, overridden by a JSON or YAML file (YAML needs PyYAML installed)."""
    if path is None:
        return MixinConfig()
    text = Path(path).read_text(encoding="utf-8")
    data: Any
    if str(path).endswith(".json"):
        data = json.loads(text)
    else:
        try:
            import yaml
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise SystemExit("YAML config needs PyYAML (pip install pyyaml), or use .json") from exc
        data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of config keys")
    return MixinConfig().with_overrides(data)
