"""End to end: a real Prometheus scrapes ``collapse-otel demo --serve``; PromQL sees collapse.

Skips without the Debian ``prometheus`` package, fails without it when CI=true.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from collapse_otel.demo.agent import sample_answers
from collapse_otel.export import names as N
from tests.support.prometheus_server import PrometheusServer, free_port, scrape_config
from tests.support.promtool_metrics import promtool_problems
from tests.support.requires import require_binary

pytestmark = pytest.mark.e2e
ANSWERS = 700   # per release
RELEASES = {"v1", "v2", "v3"}


def _get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except OSError:
            pass
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    require_binary("prometheus")
    tmp: Path = tmp_path_factory.mktemp("e2e")
    demo_port = free_port()
    script = Path(sys.executable).with_name("collapse-otel")   # the installed console script
    command = [str(script)] if script.exists() else [sys.executable, "-m", "collapse_otel.cli"]
    demo = subprocess.Popen(
        [*command, "demo", "--serve", "--port", str(demo_port), "--duration", "3",
         "--answers", str(ANSWERS)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics_url = f"http://127.0.0.1:{demo_port}/metrics"
    prom = None
    try:
        prom = PrometheusServer(scrape_config({"collapse-demo": [f"127.0.0.1:{demo_port}"]}),
                                tmp / "prometheus")
        query = prom.query
        _wait(lambda: _get(metrics_url), 60, "the demo's /metrics")
        # The demo is done when every release has all its answers; then let two scrapes land.
        _wait(lambda: {r["metric"]["release"]: float(r["value"][1])
                       for r in query("collapse_answers_total")} ==
              dict.fromkeys(RELEASES, float(ANSWERS)), 90, "all demo answers in Prometheus")
        scrapes = f'sum(count_over_time(up{{instance="127.0.0.1:{demo_port}"}}[1h]))'
        done = float(query(scrapes)[0]["value"][1])
        _wait(lambda: float(query(scrapes)[0]["value"][1]) >= done + 2, 60, "two more scrapes")
        yield {"query": query, "metrics_url": metrics_url, "demo": demo}
    finally:
        if prom is not None:
            prom.stop()
        if demo.poll() is None:
            demo.kill()
            demo.wait(timeout=10)


def _releases(results: list[dict]) -> set[str]:
    return {r["metric"].get("release") for r in results}


def test_every_contract_metric_has_a_series_per_release(stack):
    query = stack["query"]
    for metric in (*N.STREAM_METRICS, N.RELEASE_INFO):
        name = f"{metric.name}_bucket" if metric.kind == "histogram" else metric.sample_name
        assert _releases(query(name)) == RELEASES, name
    for metric in N.HEALTH_METRICS:
        if metric is N.STATE_REBUILT:
            continue   # counts restores under a changed configuration: the demo has none
        assert query(metric.sample_name), metric.name


def _by_release(query, promql: str) -> dict[str, float]:
    return {r["metric"]["release"]: float(r["value"][1]) for r in query(promql)}


def test_promql_shows_v3_worse_than_v1(stack):
    query = stack["query"]
    counters = _by_release(query, 'sum by (release) (collapse_duplicate_answers_total)'
                                  ' / sum by (release) (collapse_answers_total)')
    assert counters["v3"] > counters["v1"]
    for promql, worse in (
            ('collapse_duplicate_answer_ratio{kind="exact"}', "higher"),
            ('collapse_repeated_ngram_ratio{scope="within_answer"}', "higher"),
            ('collapse_hill_number{kind="entities",q="0"}', "lower"),
            ("collapse_embedding_vendi_score", "lower")):
        value = _by_release(query, promql)
        assert (value["v3"] > value["v1"]) if worse == "higher" else (value["v3"] < value["v1"]), \
            (promql, value)
    # As an SRE writes it; Prometheus drops empty labels, so v1 has no previous_release.
    assert query('collapse_embedding_vendi_score{release="v3"} < on (service, cohort) '
                 'collapse_embedding_vendi_score{release="v1"}')
    joined = query('collapse_embedding_vendi_score * on (service, release) group_left '
                   '(previous_release) collapse_release_info')
    previous = {r["metric"]["release"]: r["metric"].get("previous_release", "") for r in joined}
    assert previous == {"v1": "", "v2": "v1", "v3": "v2"}


def test_exposition_is_clean_and_carries_no_answer_text(stack):
    exposition = _get(stack["metrics_url"])
    assert promtool_problems(exposition) == []
    text = exposition.decode()
    answers = sample_answers(ANSWERS)     # the demo's answers: same seed, same traffic
    fragments = {f.strip() for texts in answers.values() for t in texts
                 for f in re.split(r"[.?!:;]", t) if len(f.strip()) >= 12}
    assert len(fragments) > 100
    assert [f for f in fragments if f in text] == []


def test_sigterm_stops_the_serving_demo_cleanly(stack):
    demo = stack["demo"]
    assert demo.poll() is None                       # still serving after its table
    demo.send_signal(signal.SIGTERM)
    out, err = demo.communicate(timeout=20)
    assert demo.returncode == 0, err
    assert "collapse_embedding_vendi_score" in out and "serving http://127.0.0.1:" in err
