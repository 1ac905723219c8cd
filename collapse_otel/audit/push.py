"""``collapse-otel audit --pushgateway URL``: the audit's figures as metrics of a batch job.

One push per run (``push_to_gateway``: it replaces the group), grouped by ``job`` and
``dataset``, so a later run of the same dataset replaces the earlier run's versions. The
scrape config of the Pushgateway needs ``honor_labels: true``, so the pushed ``job`` label is
kept and the alert rules' job selector finds it. Counts, shares and signal values only: the
labels are the dataset, version and source names (bounded by the input checks), never text.
"""

from __future__ import annotations

from ..export.names import AUDIT_METRICS
from ..text.labels import safe_label_value
from .diversity import PUSHED_SIGNALS
from .engine import AuditResult

DEFAULT_JOB = "collapse-audit"


def build_registry(result: AuditResult):
    """A prometheus_client registry holding every audit metric of ``result``."""
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()
    g = {m.name: Gauge(m.name, m.help, list(m.labels), registry=registry)
         for m in AUDIT_METRICS}
    ds = safe_label_value(result.options.dataset)
    g["collapse_audit_max_synthetic_share"].labels(ds).set(result.options.max_synthetic_share)
    if result.holdout_path is not None:
        g["collapse_audit_holdout_rows"].labels(ds).set(result.holdout_rows)
    for position, v in enumerate(result.versions, 1):
        ver = safe_label_value(v.label)
        for source, rows in v.sources.items():
            src = safe_label_value(source)
            g["collapse_audit_rows"].labels(ds, ver, src).set(rows)
            g["collapse_audit_source_share"].labels(ds, ver, src).set(v.share(source))
        g["collapse_audit_synthetic_share"].labels(ds, ver).set(v.synthetic_share)
        if v.change is not None:
            g["collapse_audit_synthetic_share_change"].labels(ds, ver).set(v.change)
        g["collapse_audit_synthetic_share_rises"].labels(ds, ver).set(v.rises)
        g["collapse_audit_version_position"].labels(ds, ver).set(position)
        if position == len(result.versions):
            g["collapse_audit_latest_version"].labels(ds, ver).set(1)
        if v.contamination is not None:
            g["collapse_audit_holdout_contaminated_rows"].labels(ds, ver).set(
                v.contamination.contaminated)
            g["collapse_audit_holdout_contaminated_share"].labels(ds, ver).set(
                v.contamination.share)
        if v.own_answers is not None:
            g["collapse_audit_own_answer_rows"].labels(ds, ver).set(v.own_answers.rows)
            g["collapse_audit_own_answer_share"].labels(ds, ver).set(v.own_answers.share)
        _diversity(g, ds, ver, v)
    return registry


def _diversity(g: dict, ds: str, ver: str, v) -> None:
    d = v.diversity
    if d is None:
        return
    if d.sources:
        g["collapse_audit_diversity_sample_size"].labels(ds, ver).set(d.sample_size)
    for s in d.sources:
        src = safe_label_value(s.source)
        for key in PUSHED_SIGNALS:
            if key in s.values:
                g["collapse_audit_diversity"].labels(ds, ver, src, key).set(s.values[key])
    if d.narrowing is not None:
        g["collapse_audit_synthetic_narrower_families"].labels(ds, ver).set(
            len(d.narrowing.narrower))


def push(result: AuditResult, url: str, job: str = DEFAULT_JOB, timeout: float = 30.0) -> None:
    """Push to the Pushgateway at ``url`` (OSError, ValueError on failure)."""
    from prometheus_client import push_to_gateway

    push_to_gateway(url, job=job, registry=build_registry(result), timeout=timeout,
                    grouping_key={"dataset": safe_label_value(result.options.dataset)})
