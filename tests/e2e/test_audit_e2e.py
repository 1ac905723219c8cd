"""End to end: ``collapse-otel audit --pushgateway`` pushes to a real Pushgateway, a real
Prometheus scrapes it with the generated alert rules (``for:`` shortened through the mixin
config), the two audit alerts fire for the right versions, every panel of the Training data
dashboard has data, and a corrected audit's push silences them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collapse_otel.mixin import MixinConfig, generate
from collapse_otel.mixin.render import ALERTS_PATH, DASHBOARDS_DIR
from collapse_otel.records import AnswerRecord
from collapse_otel.state.answer_hashes import AnswerHashWriter
from tests.support.audit_data import (
    SECRET,
    human,
    rows,
    synthetic,
    three_versions,
    unrelated_holdout,
    write_jsonl,
)
from tests.support.prometheus_server import PrometheusServer
from tests.support.pushgateway_server import PushgatewayServer, pushgateway_scrape_config
from tests.support.requires import require_binary
from tests.support.waiting import run_watched

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
DATASET = "support-ft"
AUDIT_ALERTS = ("CollapseAuditSyntheticDominates", "CollapseAuditHoldoutContaminated")


def _audit(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    return run_watched([sys.executable, "-m", "collapse_otel.cli", "audit",
                        *map(str, args)],
                          cwd=cwd)


def _wait(predicate, timeout: float, what: str, prom: PrometheusServer):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if prom.process.poll() is not None:
            pytest.fail("prometheus exited")
        last = predicate()
        if last:
            return last
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}: {last}")


def _more_evaluations(prom: PrometheusServer, n: int) -> None:
    """Wait until every rule group has been evaluated ``n`` more times."""
    seen: dict[str, set[str]] = {}

    def done() -> bool:
        for group in prom.api("rules")["groups"]:
            seen.setdefault(group["name"], set()).add(group["lastEvaluation"])
        return bool(seen) and all(len(times) > n for times in seen.values())

    _wait(done, 120, f"{n} more rule evaluations", prom)


def _firing(prom: PrometheusServer) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {name: [] for name in AUDIT_ALERTS}
    for alert in prom.api("alerts")["alerts"]:
        name = alert["labels"]["alertname"]
        if name in out and alert["state"] == "firing":
            out[name].append(alert["labels"])
    return out


def _panel_queries(dataset: str) -> list[tuple[str, str]]:
    model = json.loads((ROOT / DASHBOARDS_DIR / "collapse-training-data.json").read_text())
    out = []
    for panel in model["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$dataset", dataset)   # no regex metacharacters
            for name in ("$version", "$job", "$instance"):   # All
                expr = expr.replace(name, ".*")
            out.append((panel["title"], expr))
    return out


def test_audit_pushes_prometheus_scrapes_and_the_alerts_fire(tmp_path: Path) -> None:
    require_binary("prometheus")
    gateway = PushgatewayServer(tmp_path / "pushgateway")
    prom = None
    try:
        work = tmp_path / "prometheus"
        work.mkdir()
        cfg = MixinConfig().with_overrides({"audit_for": "1s"})
        (work / "alerts.yaml").write_text(generate(cfg)[ALERTS_PATH])
        prom = PrometheusServer(pushgateway_scrape_config(gateway.address, ["alerts.yaml"]),
                                work)
        data = tmp_path / "data"
        data.mkdir()
        versions, holdout = three_versions(data)   # v3 70% synthetic; v2 holds holdout line 1
        hashes = data / "answers.hashes"
        AnswerHashWriter(hashes, 1 << 20).write([AnswerRecord(t) for t in synthetic()[120:150]])
        proc = _audit(*versions, "--holdout", holdout, "--own-answers", hashes, "--dataset",
                      DATASET, "--pushgateway", gateway.url, "--json", "r.json", cwd=data)
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr == "" and SECRET not in proc.stdout

        pushed = gateway.metrics()
        assert re.search(r'collapse_audit_synthetic_share\{dataset="support-ft",'
                         r'instance="",job="collapse-audit",version="v3"\} 0\.7\n', pushed)
        assert SECRET not in pushed

        # Prometheus keeps the pushed job (honor_labels) and sees every version
        shares = _wait(lambda: {s["metric"]["version"]: float(s["value"][1]) for s in prom.query(
            f'collapse_audit_synthetic_share{{job="collapse-audit", dataset="{DATASET}"}}')}
            if len(prom.query("collapse_audit_synthetic_share")) == 3 else None,
            30, "three versions scraped", prom)
        assert shares == {"v1": 0.2, "v2": 0.4, "v3": 0.7}

        _wait(lambda: all(_firing(prom).values()), 60, "both audit alerts firing", prom)
        _more_evaluations(prom, 3)   # nothing else starts firing
        firing = _firing(prom)
        labels = firing["CollapseAuditSyntheticDominates"][0]
        assert len(firing["CollapseAuditSyntheticDominates"]) == 1
        assert (labels["dataset"], labels["version"], labels["job"]) == (
            DATASET, "v3", "collapse-audit")
        assert [a["version"] for a in firing["CollapseAuditHoldoutContaminated"]] == ["v2"]

        # every panel of the Training data dashboard has data
        empty = [title for title, expr in _panel_queries(DATASET) if not prom.query(expr)]
        assert not empty, f"panels without data: {empty}"
        own = prom.query(f'collapse_audit_own_answer_rows{{dataset="{DATASET}", version="v3"}}')
        assert float(own[0]["value"][1]) == 30

        # a corrected audit (mostly human latest version, clean holdout) replaces the push
        h, s = human(), synthetic()
        fixed = write_jsonl(data / "v4.jsonl", rows(h[:140], "human") + rows(s[:60], "synthetic"))
        clean = write_jsonl(data / "clean.jsonl", [{"text": t} for t in unrelated_holdout()])
        proc = _audit(versions[0], versions[2], fixed, "--holdout", clean, "--dataset", DATASET,
                      "--pushgateway", gateway.url, "--no-diversity", cwd=data)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        _wait(lambda: not any(_firing(prom).values()), 60, "the audit alerts resolving", prom)
        versions_now = {s["metric"]["version"] for s in prom.query(
            "collapse_audit_synthetic_share")}
        assert versions_now == {"v1", "v3", "v4"}
    finally:
        if prom is not None:
            prom.stop()
        gateway.stop()
