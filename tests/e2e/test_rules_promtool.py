"""The rule files, their unit tests and the example configs, checked by the real promtool."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from collapse_otel.mixin import MixinConfig, generate
from tests.support.requires import require_binary
from tests.support.waiting import run_watched

ROOT = Path(__file__).resolve().parents[2]
PROM_DIR = ROOT / "exporters" / "prometheus"
RULES = PROM_DIR / "collapse_rules.yaml"
ALERTS = PROM_DIR / "collapse_alerts.yaml"
UNIT_TESTS = sorted((PROM_DIR / "tests").glob("*.yaml"))


def _promtool() -> str:
    return require_binary("promtool")


def _run(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return run_watched([_promtool(), *map(str, args)], cwd=cwd)


def _rules(path: Path) -> list[dict]:
    return [r for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]


def test_promtool_check_rules_passes_on_both_files() -> None:
    proc = _run("check", "rules", RULES, ALERTS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = [int(n) for n in re.findall(r"SUCCESS: (\d+) rules found", proc.stdout)]
    assert counts == [len(_rules(RULES)), len(_rules(ALERTS))]


def test_promtool_unit_tests_pass() -> None:
    assert len(UNIT_TESTS) >= 4
    proc = _run("test", "rules", *UNIT_TESTS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("SUCCESS") == len(UNIT_TESTS)


def _unit_cases() -> tuple[list[dict], list[dict]]:
    alert_cases, expr_cases = [], []
    for path in UNIT_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            alert_cases += test.get("alert_rule_test", [])
            expr_cases += test.get("promql_expr_test", [])
    return alert_cases, expr_cases


def test_every_alert_has_firing_and_not_yet_firing_cases() -> None:
    alert_cases, _ = _unit_cases()
    for alert in _rules(ALERTS):
        cases = [c for c in alert_cases if c["alertname"] == alert["alert"]]
        assert any(c.get("exp_alerts") for c in cases), f"{alert['alert']}: no firing case"
        assert any(not c.get("exp_alerts") for c in cases), f"{alert['alert']}: no quiet case"


def test_every_recording_rule_has_a_promql_expr_test() -> None:
    _, expr_cases = _unit_cases()
    tested = " ".join(c["expr"] for c in expr_cases)
    missing = [r["record"] for r in _rules(RULES)
               if not re.search(rf"(?<![\w:]){re.escape(r['record'])}(?![\w:])", tested)]
    assert not missing, f"recording rules without a promql_expr_test: {missing}"


def test_a_steady_faq_bot_is_a_tested_non_firing_case() -> None:
    """The spike test data holds a steady high-duplicate series and never expects it to fire."""
    text = (PROM_DIR / "tests" / "duplicate_spike_test.yaml").read_text()
    doc = yaml.safe_load(text)
    series = " ".join(s["series"] for s in doc["tests"][0]["input_series"])
    assert 'service="faq"' in series
    fired = [a["exp_labels"]["service"] for c in doc["tests"][0]["alert_rule_test"]
             for a in c["exp_alerts"]]
    assert "faq" not in fired and {"shop", "burst"} <= set(fired)


def test_example_prometheus_config_is_valid() -> None:
    proc = _run("check", "config", PROM_DIR / "prometheus.example.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 rule files found" in proc.stdout


def test_compose_prometheus_config_is_valid(tmp_path: Path) -> None:
    """The compose setup mounts the rules next to its config; reproduce that layout."""
    compose = ROOT / "exporters" / "compose"
    shutil.copy(compose / "prometheus.yml", tmp_path / "prometheus.yml")
    for rules in (RULES, ALERTS):
        shutil.copy(rules, tmp_path / rules.name)
    proc = _run("check", "config", tmp_path / "prometheus.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    spec = yaml.safe_load((compose / "docker-compose.yml").read_text())
    assert {"demo", "prometheus", "grafana"} <= set(spec["services"])
    for service in spec["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert (compose / source).resolve().exists(), f"compose volume source missing: {source}"


def test_rules_from_a_user_config_are_valid_too(tmp_path: Path) -> None:
    cfg = MixinConfig().with_overrides({
        "job_selector": 'job=~"agents-.*"', "rate_window_short": "2m", "rate_window_long": "30m",
        "baseline_window": "7d", "baseline_offset": "2h", "verdict_alpha": 0.01,
        "rule_interval": "30s", "verdict_min_families": 3, "verdict_critical_families": 4})
    for rel, text in generate(cfg).items():
        if rel.startswith("exporters/prometheus/"):
            (tmp_path / Path(rel).name).write_text(text)
    proc = _run("check", "rules", *sorted(tmp_path.glob("*.yaml")))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_verdict_unit_tests_are_what_their_generator_writes() -> None:
    """verdict_test.yaml is generated (python -m tests.support.promtool_verdict) from the registry."""
    from tests.support.promtool_verdict import OUT, render

    assert OUT.read_text() == render()
