"""Small PromQL builders shared by rules and dashboards, so both say the same thing."""

from __future__ import annotations

from .config import MixinConfig

STREAM_BY = "service, release, cohort"
RELEASE_INFO_RULE = "release:collapse_release_info:max"


def sel(cfg: MixinConfig, *matchers: str) -> str:
    """A label matcher list that always starts with the configured job selector."""
    parts = [m for m in (cfg.job_selector, *matchers) if m]
    return "{" + ", ".join(parts) + "}"


def num(value: float) -> str:
    """A threshold as PromQL text without float noise (0.8, not 0.7999999999999999)."""
    return f"{value:.10g}"


def release_info_dedup(cfg: MixinConfig) -> str:
    """One previous_release per (service, release), whatever replicas or jobs disagree on.

    The plugin orders releases by configuration, else by first-seen time; replicas that saw
    releases in different orders could disagree, and a join needs exactly one match.
    """
    return (
        "topk by (service, release) (1,\n"
        "  max by (service, release, previous_release) (collapse_release_info"
        f"{sel(cfg)})\n)"
    )


def previous_release_value(series: str, func: str, window: str) -> str:
    """``series`` of the previous release, relabelled to the release that follows it.

    Left: one zero-valued series per (service, release, cohort) of ``series`` that carries its
    previous_release (from the info series). Right: ``func(series[window])`` renamed so its
    release becomes ``previous_release``. The join fetches the previous release's value for
    the same service and cohort; a previous release that stopped serving still counts for
    ``window`` (``last_over_time`` / ``avg_over_time``).
    """
    return (
        "(\n"
        f"  0 * {series}\n"
        f"  * on (service, release) group_left (previous_release)\n"
        f"  {RELEASE_INFO_RULE}\n"
        ")\n"
        "+ on (service, cohort, previous_release) group_left ()\n"
        "max without (release) (\n"
        f"  label_replace({func}({series}[{window}]),\n"
        '    "previous_release", "$1", "release", "(.*)")\n'
        ")"
    )
