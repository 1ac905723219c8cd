"""The verdict rules when both standard errors are 0, checked by the real promtool.

A release that never repeats itself and one answering with a few canned replies have
duplicate shares whose jackknife errors are both exactly 0 (every replicate is equal). The
change is then infinitely many errors wide: ``compare`` gives p = 0, so the rules must give
z = +-Inf (degraded), not drop the z-score; no change with no error gives no z-score (compare:
p = 1), never NaN. Found by tests/e2e/test_verdict_e2e.py (the faq release).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from collapse_otel.mixin import MixinConfig, generate
from collapse_otel.mixin.render import RULES_PATH
from collapse_otel.mixin.verdict import degraded, zscore
from collapse_otel.signals.registry import VERDICT_SIGNALS
from tests.support.promtool_verdict import BASE, release_series
from tests.support.requires import require_binary
from tests.support.waiting import run_watched

MINUTES = 10
ALL = f"{{v}}x{MINUTES}"
Z = zscore("previous_release")
KEY = "exact_duplicate_ratio"


def _signals(duplicates: float) -> dict[str, tuple[float, float]]:
    return {**BASE, KEY: (duplicates, 0.0)}


def test_zero_errors_give_an_infinite_z_for_a_change_and_none_without(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    (tmp_path / "rules.yaml").write_text(generate(MixinConfig())[RULES_PATH])
    series = [*release_series("dups", "r1", "default", "a", _signals(0.0), ALL),
              *release_series("dups", "r2", "default", "b", _signals(0.997), ALL,
                              previous="r1"),
              *release_series("flat", "r1", "default", "a", _signals(0.0), ALL),
              *release_series("flat", "r2", "default", "b", _signals(0.0), ALL, previous="r1")]
    stream = dict(cohort="default", previous_release="r1", release="r2")
    cases = [
        {"expr": f'{Z}{{signal="{KEY}"}} == bool +Inf', "eval_time": "5m",
         "exp_samples": [{"labels": _labels(**stream, service="dups", signal=KEY),
                          "value": 1}]},
        {"expr": degraded("previous_release"), "eval_time": "5m",
         "exp_samples": [{"labels": _labels(__name__=degraded("previous_release"), **stream,
                                            change="absolute", family="duplication",
                                            service="dups", signal=KEY), "value": 1}]},
        # no change, no error: no z-score (and no NaN), while the other signals have theirs
        {"expr": f'{Z}{{service="flat", signal="{KEY}"}}', "eval_time": "5m",
         "exp_samples": []},
        {"expr": f'count({Z}{{service="flat"}} == 0)', "eval_time": "5m",
         "exp_samples": [{"labels": "{}", "value": len(VERDICT_SIGNALS) - 1}]},
    ]
    test = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": series, "promql_expr_test": cases}]}
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test, sort_keys=False))
    proc = run_watched([promtool, "test", "rules", "test.yaml"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _labels(**kw: str) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(kw.items())) + "}"
