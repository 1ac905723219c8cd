"""Small PromQL builders shared by rules and dashboards, so both say the same thing."""

from __future__ import annotations

from .config import MixinConfig

STREAM_BY = "service, release, cohort"


def sel(cfg: MixinConfig, *matchers: str) -> str:
    """A label matcher list that always starts with the configured job selector."""
    parts = [m for m in (cfg.job_selector, *matchers) if m]
    return "{" + ", ".join(parts) + "}"


# Every dashboard query also filters on the $job and $instance variables (multi-value, All).
DASHBOARD_MATCHERS = ('job=~"$job"', 'instance=~"$instance"')


def dash_sel(cfg: MixinConfig, *matchers: str) -> str:
    """:func:`sel` plus the dashboards' ``$job`` / ``$instance`` variables."""
    return sel(cfg, *DASHBOARD_MATCHERS, *matchers)


def num(value: float) -> str:
    """A threshold as PromQL text without float noise (0.8, not 0.7999999999999999)."""
    return f"{value:.10g}"
