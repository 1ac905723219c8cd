"""The release-comparison dashboard shows no z-score when the reference's standard error is 0,
checked on the generated dashboard's own queries by the real promtool.

A reference release without a single duplicate has a duplicate share whose jackknife error is
exactly 0; against it a candidate with a tiny error gets z = change / se_B, in the thousands
(8,571 here). The verdict rules keep that z (the change is real); the panel shows "no z"."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from collapse_otel.mixin import MixinConfig, generate
from collapse_otel.mixin.render import RULES_PATH
from collapse_otel.mixin.verdict import zscore
from collapse_otel.signals.registry import BY_KEY
from tests.support.promtool_verdict import BASE, release_series
from tests.support.requires import require_binary

DASHBOARD = Path(__file__).resolve().parents[2] / "grafana/dashboards/collapse-release-comparison.json"
VARIABLES = {"$service": "svc", "$release_b": "r2", "$cohort_b": "default", "$release_a": "r1",
             "$cohort_a": "default", "$job": ".+", "$instance": ".+"}
ALL = "{v}x10"


def _z_queries(title: str) -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    (panel,) = [p for p in panels if p["title"] == f"{title}: z toward collapse"]
    out = []
    for t in panel["targets"]:
        expr = t["expr"]
        for name, value in VARIABLES.items():
            expr = expr.replace(name, value)
        out.append(expr)
    return out


def test_no_z_against_a_reference_without_error(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    (tmp_path / "rules.yaml").write_text(generate(MixinConfig())[RULES_PATH])
    key = "exact_duplicate_ratio"
    series = [*release_series("svc", "r1", "default", "a", {**BASE, key: (0.0, 0.0)}, ALL),
              *release_series("svc", "r2", "default", "a", {**BASE, key: (0.03, 3.5e-6)}, ALL,
                              previous="r1")]
    previous, _ = _z_queries(BY_KEY[key].title)
    other, _ = _z_queries(BY_KEY["distinct_2"].title)
    cases = [
        # the rule's z is over B's error alone: thousands
        {"expr": f'{zscore("previous_release")}{{signal="{key}"}} > bool 8000',
         "eval_time": "5m", "exp_samples": [{"labels": _labels(
             cohort="default", previous_release="r1", release="r2", service="svc",
             signal=key), "value": 1}]},
        # the dashboard shows none ...
        {"expr": previous, "eval_time": "5m", "exp_samples": []},
        # ... while a signal whose reference has an error keeps its z
        {"expr": f"count({other})", "eval_time": "5m",
         "exp_samples": [{"labels": "{}", "value": 1}]},
    ]
    test = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": series, "promql_expr_test": cases}]}
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test, sort_keys=False))
    proc = subprocess.run([promtool, "test", "rules", "test.yaml"], capture_output=True,
                          text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _labels(**kw: str) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(kw.items())) + "}"
