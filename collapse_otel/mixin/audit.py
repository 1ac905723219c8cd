"""Alerts and a dashboard for ``collapse-otel audit --pushgateway``: training-data figures that
a batch job pushes once per run (scraped from the Pushgateway with ``honor_labels: true``, so
the pushed ``job`` label is kept and ``audit_job_selector`` finds it)."""

from __future__ import annotations

from .config import MixinConfig
from .grafana import Panel, Row, dashboard, query_variable, stat, target, timeseries
from .promql import DASHBOARD_MATCHERS

DATASET = "{{ $labels.dataset }}"
VERSION = "{{ $labels.version }}"


def audit_sel(cfg: MixinConfig, *matchers: str) -> str:
    parts = [m for m in (cfg.audit_job_selector, *matchers) if m]
    return "{" + ", ".join(parts) + "}"


def _dash_sel(cfg: MixinConfig, *matchers: str) -> str:
    """:func:`audit_sel` plus the dashboards' ``$job`` / ``$instance`` variables (a pushed
    group has no instance unless the push names one: All matches it)."""
    return audit_sel(cfg, *DASHBOARD_MATCHERS, *matchers)


def _alert(cfg: MixinConfig, name: str, expr: str, summary: str, description: str) -> dict:
    return {"alert": name, "expr": expr, "for": cfg.audit_for,
            "labels": {"severity": cfg.audit_severity},
            "annotations": {"summary": summary, "description": description,
                            "runbook_url": cfg.runbook_url(name)}}


def synthetic_dominates(cfg: MixinConfig) -> dict:
    """The latest audited version's synthetic share above the audit's own maximum (pushed
    with the figures, so the alert and the audit's exit status agree)."""
    s = audit_sel(cfg)
    expr = (f"collapse_audit_synthetic_share{s}\n"
            f"  > on (job, dataset) group_left ()\n"
            f"  collapse_audit_max_synthetic_share{s}\n"
            f"and on (job, dataset, version)\n"
            f"  collapse_audit_latest_version{s} == 1")
    return _alert(
        cfg, "CollapseAuditSyntheticDominates", expr,
        f"Training set {DATASET} version {VERSION} is mostly synthetic.",
        f"{{{{ $value | humanizePercentage }}}} of the rows of dataset {DATASET} version "
        f"{VERSION} (the latest version audited) come from sources counted as synthetic, "
        "above the audit's maximum (--max-synthetic-share). Fine-tuning on it feeds model "
        "output back into the model: the recursive training behind model collapse.")


def holdout_contaminated(cfg: MixinConfig) -> dict:
    return _alert(
        cfg, "CollapseAuditHoldoutContaminated",
        f"collapse_audit_holdout_contaminated_rows{audit_sel(cfg)} > 0",
        f"Holdout rows leak into training set {DATASET} version {VERSION}.",
        f"The training rows of dataset {DATASET} version {VERSION} hold a near duplicate "
        "(word 5-gram Jaccard at or above the audit's threshold) of {{ $value }} holdout "
        "row(s): an evaluation on that holdout overstates a model trained on it.")


def audit_alert_rules(cfg: MixinConfig) -> list[dict]:
    return [synthetic_dominates(cfg), holdout_contaminated(cfg)]


def audit_alert_group(cfg: MixinConfig) -> dict:
    """The audit alerts as their own rule group of the alerts file."""
    group: dict = {"name": "collapse-otel.audit"}
    if cfg.rule_interval:
        group["interval"] = cfg.rule_interval
    group["rules"] = audit_alert_rules(cfg)
    return group


def _table(title: str, expr: str, description: str, width: int = 12) -> Panel:
    return Panel(title, "table", [target(expr, instant=True, fmt="table")],
                 description=description, width=width)


def training_data(cfg: MixinConfig) -> dict:
    s = _dash_sel(cfg, 'dataset=~"$dataset"', 'version=~"$version"')
    d = _dash_sel(cfg, 'dataset=~"$dataset"')
    by = "dataset, version"
    latest = f"and on (job, {by})\n  collapse_audit_latest_version{d} == 1"
    provenance = Row("Provenance", [
        _table("Synthetic share per version",
               f"max by ({by}) (collapse_audit_synthetic_share{s})",
               "Share of each version's rows whose source counts as synthetic "
               "(CollapseAuditSyntheticDominates judges the latest version)."),
        timeseries("Synthetic share of the latest version", [
            (f"max by ({by}) (\n  collapse_audit_synthetic_share{d}\n  {latest}\n)",
             "{{dataset}} {{version}}"),
            (f"max by (dataset) (collapse_audit_max_synthetic_share{d})",
             "{{dataset}} maximum")], "percentunit",
            "The latest audited version's synthetic share against the audit's maximum.",
            width=12),
        _table("Synthetic share change per version",
               f"max by ({by}) (collapse_audit_synthetic_share_change{s})",
               "Synthetic share minus the previous version's (a rising trend is the warning).",
               width=8),
        _table("Rows per source", f"sum by ({by}, source) (collapse_audit_rows{s})",
               "Rows of each version by source.", width=8),
        _table("Own answers in the training set",
               f"max by ({by}) (collapse_audit_own_answer_share{s})",
               "Share of a version's rows that are the service's own earlier answers "
               "(COLLAPSE_OTEL_ANSWER_HASH_FILE, --own-answers).", width=8),
    ])
    holdout = Row("Holdout contamination", [
        stat("Holdout rows contaminated", [(
            f"max by ({by}) (collapse_audit_holdout_contaminated_rows{s})",
            "{{dataset}} {{version}}")], "short",
            "Holdout rows with a near duplicate among a version's training rows "
            "(CollapseAuditHoldoutContaminated).", width=12, height=8),
        _table("Contaminated share of the holdout",
               f"max by ({by}) (collapse_audit_holdout_contaminated_share{s})",
               "Contaminated holdout rows / holdout rows, per version."),
    ])
    diversity = Row("Diversity per source (equal sample size)", [
        _table("Diversity per source",
               f"max by ({by}, source, signal) (collapse_audit_diversity{s})",
               "Registry signals of each source's rows, every source at the same sample size "
               "(collapse_audit_diversity_sample_size)."),
        _table("Families where synthetic rows are narrower",
               f"max by ({by}) (collapse_audit_synthetic_narrower_families{s})",
               "Signal families the comparison engine finds degraded in the synthetic rows "
               "against the human rows."),
    ])
    share = "collapse_audit_synthetic_share"
    variables = [
        query_variable("job", "Job", f"label_values({share}{audit_sel(cfg)}, job)",
                       multi=True, include_all=True),
        query_variable("instance", "Instance", f"label_values({share}"
                       f"{audit_sel(cfg, DASHBOARD_MATCHERS[0])}, instance)",
                       multi=True, include_all=True),
        query_variable("dataset", "Dataset", f"label_values({share}{_dash_sel(cfg)}, dataset)",
                       multi=True, include_all=True),
        query_variable("version", "Version",
                       f"label_values(collapse_audit_synthetic_share{d}, version)",
                       multi=True, include_all=True),
    ]
    return dashboard(cfg, "training-data", "collapse-otel / Training data",
                     "collapse-otel audit: synthetic share per version, holdout contamination, "
                     "own answers and diversity per source.", variables,
                     [provenance, holdout, diversity])
