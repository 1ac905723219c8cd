"""The verdict rules follow the registry's margins: a signal that declares a
``critical`` margin suspects collapse alone once its anytime-valid bound passes it (as
compare's rule: K families, or one signal beyond its critical margin). Checked by the real
promtool on the generated rules."""

from __future__ import annotations

import math
import subprocess

from collapse_otel.mixin import MixinConfig, generate
from collapse_otel.mixin import verdict as V
from collapse_otel.mixin.render import ALERTS_PATH, RULES_PATH
from collapse_otel.mixin.yamlout import dump
from collapse_otel.signals.registry import BY_KEY
from tests.support.promtool_verdict import _expected, moved, release_series
from tests.support.requires import require_binary

CRITICAL = BY_KEY["distinct_2"].critical   # the registry's margin for distinct-2


def test_one_signal_beyond_its_critical_margin_suspects_collapse(tmp_path) -> None:
    promtool = require_binary("promtool")
    cfg = MixinConfig()
    files = generate(cfg)
    assert V.CRITICAL in files[RULES_PATH] and "critical margin" in files[ALERTS_PATH]
    (tmp_path / "rules.yaml").write_text(files[RULES_PATH])
    (tmp_path / "alerts.yaml").write_text(files[ALERTS_PATH])
    values = "{v}x30"
    series = []
    # far: distinct-2 alone, 20% down: its bound passes the critical margin
    # near: 7% down: degraded (one family), but its bound stays below the margin
    for service, fraction in (("far", 0.20), ("near", 0.07)):
        series += release_series(service, "r1", "default", "a", moved((), 0), values)
        series += release_series(service, "r2", "default", "a", moved(("distinct_2",), fraction),
                                 values, previous="r1")
    se = math.hypot(0.004, 0.004) / 0.55
    bound_far = 0.20 - V.half_width(se, 0.05, cfg)
    bound_near = 0.07 - V.half_width(se, 0.05, cfg)
    assert bound_far > CRITICAL > bound_near > 0       # the cases are what they say
    ref = "previous_release"
    doc = {
        "rule_files": ["rules.yaml", "alerts.yaml"],
        "evaluation_interval": "1m",
        "group_eval_order": ["collapse-otel.rules", "collapse-otel.alerts"],
        "tests": [{
            "interval": "1m",
            "input_series": series,
            "promql_expr_test": [
                {"expr": f"{V.families_degraded(ref)}", "eval_time": "20m",
                 "exp_samples": [{"labels": _labels(V.families_degraded(ref), service), "value": 1}
                                 for service in ("far", "near")]},
                {"expr": f"{V.suspected(ref)}", "eval_time": "20m",
                 "exp_samples": [{"labels": _labels(V.suspected(ref), service),
                                  "value": int(service == "far")}
                                 for service in ("far", "near")]},
                {"expr": f"{V.degraded_critical(ref)}", "eval_time": "20m",
                 "exp_samples": [{"labels": _labels(
                     V.degraded_critical(ref), "far", signal="distinct_2", change="relative",
                     family="lexical_diversity"), "value": 1}]},
            ],
            "alert_rule_test": [{
                "eval_time": "20m", "alertname": "CollapseReleaseRegression",
                "exp_alerts": [_expected(cfg, critical=False, service="far", release="r2",
                                         cohort="default", families=["lexical diversity"],
                                         value=1, previous="r1")]}],
        }],
    }
    (tmp_path / "critical_test.yaml").write_text(dump(doc))
    proc = subprocess.run([promtool, "test", "rules", "critical_test.yaml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr


def _labels(name: str, service: str, **extra: str) -> str:
    labels = dict(__name__=name, service=service, release="r2", cohort="default",
                  previous_release="r1", **extra)
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
