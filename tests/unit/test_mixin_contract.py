"""Every metric name used by rules, alerts and dashboard queries is in the metrics contract."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from collapse_otel.export.names import ALL_METRICS, AUDIT_METRICS
from collapse_otel.mixin import MixinConfig
from collapse_otel.mixin.rules import recording_rules
from tests.support.promql import metric_names

ROOT = Path(__file__).resolve().parents[2]
RULE_FILES = [ROOT / "exporters/prometheus/collapse_rules.yaml",
              ROOT / "exporters/prometheus/collapse_alerts.yaml"]
DASHBOARDS = sorted((ROOT / "grafana/dashboards").glob("*.json"))

# Series Prometheus itself synthesises for every scrape target.
_PROMETHEUS_BUILTIN = {"up"}


def allowed_names() -> set[str]:
    allowed = set(_PROMETHEUS_BUILTIN)
    for metric in (*ALL_METRICS, *AUDIT_METRICS):   # audit: pushed by collapse-otel audit
        allowed.add(metric.sample_name)
        if metric.kind == "histogram":
            allowed.update(f"{metric.name}{s}" for s in ("_bucket", "_sum", "_count"))
    allowed.update(rule["record"] for rule in recording_rules(MixinConfig()))
    return allowed


def _rule_exprs() -> list[tuple[str, str]]:
    out = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                out.append((rule.get("record") or rule["alert"], rule["expr"]))
    return out


def _dashboard_exprs() -> list[tuple[str, str]]:
    out = []
    for path in DASHBOARDS:
        model = json.loads(path.read_text())
        for panel in model["panels"]:
            for target in panel.get("targets", []):
                out.append((f"{path.name}: {panel['title']}", target["expr"]))
        for variable in model["templating"]["list"]:
            if variable["type"] == "query":
                query = variable["query"]["query"]
                call = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query)
                assert call, f"{path.name} ${variable['name']}: unexpected query {query}"
                out.append((f"{path.name}: ${variable['name']}", call.group(1)))
    return out


def test_the_name_extractor_sees_every_kind_of_use() -> None:
    expr = ('sum by (release, le) (rate(collapse_x_bucket{job="a:b", n="2"}[5m] offset 1h))\n'
            '/ on (service) group_left (previous_release) rec:collapse_y:avg * 0.8\n'
            'and label_replace(z_metric, "dst", "$1", "release", "(.*)") > bool 1e3\n'
            'or histogram_quantile(0.9, w[$__rate_interval]) unless nan')
    assert metric_names(expr) == {"collapse_x_bucket", "rec:collapse_y:avg", "z_metric", "w"}


def test_rules_and_alerts_use_only_contract_names() -> None:
    allowed, used = allowed_names(), {}
    for where, expr in _rule_exprs():
        for name in metric_names(expr):
            used.setdefault(name, where)
    unknown = {name: where for name, where in used.items() if name not in allowed}
    assert not unknown, f"names outside the metrics contract: {unknown}"
    assert "collapse_release_info" in used and "collapse_duplicate_answers_total" in used


def test_dashboards_use_only_contract_names() -> None:
    allowed, used = allowed_names(), {}
    exprs = _dashboard_exprs()
    assert len(exprs) > 50
    for where, expr in exprs:
        for name in metric_names(expr):
            used.setdefault(name, where)
    unknown = {name: where for name, where in used.items() if name not in allowed}
    assert not unknown, f"names outside the metrics contract: {unknown}"
