"""End to end: a real Prometheus scrapes the demo, loads the generated rules, and every
dashboard query and the duplicate-spike alert behave on real data.

Windows and ``for:`` durations are shortened through the mixin config (the same generator
users run), scrape and evaluation every second.
"""

from __future__ import annotations

import json
import math
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from collapse_otel.mixin import MixinConfig, generate
from collapse_otel.mixin.render import ALERTS_PATH, RULES_PATH
from tests.conftest import require_binary
from tests.prometheus_server import PrometheusServer, free_port, scrape_config

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
RELEASES = ("v1", "v2", "v3")
# Short windows so a one-minute test sees rates, baselines and alerts; the rules are the
# production rules otherwise (same generator, same expressions).
E2E_OVERRIDES = {
    "rate_window_short": "15s", "rate_window_long": "30s", "baseline_window": "5m",
    "baseline_offset": "1m", "previous_release_lookback": "5m", "duplicate_for": "3s",
    "repetition_for": "3s", "diversity_for": "3s", "dropping_for": "3s",
    "min_window_answers": 20,
}
GRAFANA_BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m"}


def _get(url: str, timeout: float = 5.0) -> dict:
    """The JSON body, also for 4xx answers (a bad query: Prometheus explains it in the body)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code in (400, 422):
            return json.loads(exc.read())
        raise


@dataclass
class Stack:
    prom: str  # base URL of Prometheus
    demo_url: str
    cfg: MixinConfig

    def query(self, expr: str, at: float | None = None) -> list[dict]:
        params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
        url = f"{self.prom}/api/v1/query?" + urllib.parse.urlencode(params)
        body = _get(url)
        assert body["status"] == "success", f"{body.get('error')}: {expr}"
        return body["data"]["result"]

    def label_values(self, label: str, selector: str) -> list[str]:
        url = (f"{self.prom}/api/v1/label/{label}/values?"
               + urllib.parse.urlencode({"match[]": selector}))
        return _get(url)["data"]

    def alerts(self) -> list[dict]:
        return _get(f"{self.prom}/api/v1/alerts")["data"]["alerts"]


def _wait(predicate, timeout: float, what: str, procs: list[subprocess.Popen]):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                pytest.fail(f"{proc.args[0]} exited with {proc.returncode} while waiting for {what}")
        try:
            result = predicate()
            if result:
                return result
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    require_binary("prometheus")
    tmp = tmp_path_factory.mktemp("ops-e2e")
    demo_log = (tmp / "demo.log").open("w")
    demo = subprocess.Popen(
        [sys.executable, "-m", "collapse_otel.cli", "demo", "--port", str(free_port()),
         "--duration", "120", "--answers", "3000", "--serve"],
        stdout=demo_log, stderr=subprocess.STDOUT, cwd=tmp)
    procs = [demo]
    prom = None
    try:
        demo_url = _wait(lambda: re.search(r"metrics: (http://127\.0\.0\.1:\d+)\S*",
                                           (tmp / "demo.log").read_text()),
                         30, "the demo's metrics URL", procs).group(1)
        cfg = MixinConfig().with_overrides(E2E_OVERRIDES)
        files = generate(cfg)
        work = tmp / "prometheus"
        work.mkdir()
        (work / "rules.yaml").write_text(files[RULES_PATH])
        (work / "alerts.yaml").write_text(files[ALERTS_PATH])
        prom = PrometheusServer(
            scrape_config({"collapse-otel": [demo_url.removeprefix("http://")]},
                          rule_files=["rules.yaml", "alerts.yaml"]), work)
        procs.append(prom.process)
        base = prom.base
        s = Stack(base, demo_url, cfg)
        # Data for all three releases, and recording rules evaluated over it.
        _wait(lambda: len(s.query('count by (release) (collapse_answers_total'
                                  '{job="collapse-otel"})')) == 3, 30, "three releases", procs)
        _wait(lambda: len(s.query("release:collapse_duplicate_answers:ratio_rate15s")) == 3,
              30, "the duplicate-ratio recording rule", procs)
        # entity richness needs 500 mentions in a release's sample (v3 names few entities)
        _wait(lambda: len(s.query('collapse_entity_diversity_ratio{job="collapse-otel"}')) == 3,
              90, "entity richness of every release", procs)
        time.sleep(3)  # a few more scrapes so every rate() has several samples
        yield s
    finally:
        if prom is not None:
            prom.stop()
        for proc in reversed(procs):
            _stop(proc)
        demo_log.close()


def test_rules_load_and_evaluate_without_errors(stack: Stack) -> None:
    groups = _get(f"{stack.prom}/api/v1/rules")["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert len(rules) == 21
    broken = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
    assert not broken, broken


def _variable_values(stack: Stack, model: dict) -> dict[str, str]:
    """Values as Grafana would substitute them, read through each variable's own query."""
    values = dict(GRAFANA_BUILTINS)
    for var in model["templating"]["list"]:
        if var["type"] != "query":
            continue
        query = var["query"]["query"]
        for name, value in values.items():
            query = query.replace(f"${name}", value)
        selector, label = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query).groups()
        found = stack.label_values(label, selector)
        assert found, f"variable ${var['name']} has no values ({query})"
        if var["name"] == "release_a":
            values[var["name"]] = "v2"  # the predecessor: non-zero duplicates to divide by
        elif var["name"] == "release_b":
            values[var["name"]] = "v3"
        elif var.get("multi"):
            values[var["name"]] = "(" + "|".join(_regex_escape(v) for v in found) + ")"
        else:
            values[var["name"]] = found[0]
        if var["name"] == "release":
            assert set(RELEASES) <= set(found)
    return values


def _regex_escape(value: str) -> str:
    """Grafana's escaping of multi-value Prometheus variables (inside a PromQL string)."""
    return re.sub(r"[$^*{}\[\]'+?.()|\\]", lambda m: "\\\\" + m.group(), value)


def _substitute(expr: str, values: dict[str, str]) -> str:
    def repl(match: re.Match) -> str:
        return values[match.group(1) or match.group(2)]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", repl, expr)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_panel_target_returns_data(stack: Stack, path: Path) -> None:
    model = json.loads(path.read_text())
    values = _variable_values(stack, model)
    at = time.time() - 1  # one evaluation instant for every query of the dashboard
    empty, results = [], {}
    for panel in model["panels"]:
        for target in panel.get("targets", []):
            expr = _substitute(target["expr"], values)
            numbers = [float(r["value"][1]) for r in stack.query(expr, at)]
            results[(panel["title"], target["refId"])] = numbers
            if not numbers or all(math.isnan(v) for v in numbers):
                empty.append(f"{panel['title']} [{target['refId']}]: {expr}")
    assert len(results) >= 10
    assert not empty, "targets without data:\n" + "\n".join(empty)
    # Release comparison: each "change" panel is (B - A) / A of its side-by-side panel.
    deltas = 0
    for (title, ref), numbers in results.items():
        if title.endswith(": change") or (f"{title}: change", "A") not in results:
            continue
        if ref != "A":
            continue
        (a,), (b,) = numbers, results[(title, "B")]
        (delta,) = results[(f"{title}: change", "A")]
        if a != 0 and math.isfinite(a) and math.isfinite(b):
            assert delta == pytest.approx((b - a) / a, rel=1e-9, abs=1e-12), title
            deltas += 1
    if "comparison" in path.name:
        assert deltas >= 10


def _states(stack: Stack, alertname: str) -> dict[str, str]:
    return {a["labels"].get("release"): a["state"] for a in stack.alerts()
            if a["labels"]["alertname"] == alertname}


def test_duplicate_spike_alert_fires_for_the_collapsed_release_only(stack: Stack) -> None:
    seen_for_v1 = []

    def v3_active() -> bool:
        states = _states(stack, "CollapseDuplicateAnswerSpike")
        if "v1" in states:
            seen_for_v1.append(states["v1"])
        return states.get("v3") in ("pending", "firing")

    _wait(v3_active, 60, "CollapseDuplicateAnswerSpike for v3", [])
    ratios = {r["metric"]["release"]: float(r["value"][1])
              for r in stack.query("release:collapse_duplicate_answers:ratio_rate15s")}
    # v1 has data (so "not firing" is a real observation) and is far below the threshold.
    assert ratios["v1"] < stack.cfg.duplicate_ratio_threshold < ratios["v3"]
    assert "v1" not in _states(stack, "CollapseDuplicateAnswerSpike") and not seen_for_v1


@pytest.mark.parametrize("alertname", ["CollapseEntityDiversityDrop", "CollapseEmbeddingNarrowing",
                                       "CollapseLexicalDiversityDrop"])
def test_diversity_alerts_compare_v3_with_v2_through_release_info(stack: Stack,
                                                                  alertname: str) -> None:
    def v3_alert() -> dict | None:
        for alert in stack.alerts():
            labels = alert["labels"]
            if labels["alertname"] == alertname and labels.get("release") == "v3":
                return alert
        return None

    alert = _wait(v3_alert, 60, f"{alertname} for v3", [])
    assert alert["state"] in ("pending", "firing")
    assert alert["labels"]["previous_release"] == "v2"
    assert "v1" not in _states(stack, alertname)  # the first release has no predecessor
