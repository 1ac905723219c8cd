"""CollapseAgentLoopSpike end to end: real LangGraph agents deployed as release processes,
scraped by a real Prometheus running the generated rules and alerts.

Service ``weather``, one process per release (tests/agent_releases.py): each runs 60 turns of
LangGraph's ReAct agent through ``CollapseCallbackHandler`` and serves ``/metrics``; its labels
and predecessor come from ``COLLAPSE_OTEL_*`` env vars. In some turns the weather service is
down: the tool fails and the agent calls it again with the same arguments until LangGraph's
recursion limit stops the turn. v1's backend is down in 1 turn, v2's in 2 (a healthy release:
as loopy as v1, within noise), v3's in 30 (its agents loop). The rules are the production rules
(same generator) with ``for: 5s`` and 1 s intervals; the alert keeps its production thresholds
(5 points, z at alpha 0.05, 50 agent turns).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchmarks.release_process import ReleaseProcess
from collapse_otel.mixin import MixinConfig, generate
from collapse_otel.mixin.loops import TURNS
from collapse_otel.mixin.render import ALERTS_PATH, RULES_PATH
from collapse_otel.mixin.verdict import VALUE, zscore
from tests.support.prometheus_server import PrometheusServer, free_port, scrape_config
from tests.support.requires import require_binary

pytest.importorskip("langgraph.prebuilt")

pytestmark = pytest.mark.e2e

OVERRIDES = {"loop_for": "5s", "rule_interval": "1s", "previous_release_lookback": "10m"}
ALERT = "CollapseAgentLoopSpike"
SERVICE = "weather"
TURNS_PER_RELEASE = 60
DOWN = {"v1": 1, "v2": 2, "v3": 30}       # turns whose weather service is down
PREVIOUS = {"v2": "v1", "v3": "v2"}
CITIES = ("Oslo", "Bergen", "Tromso", "Lisbon", "Porto")
SIGNAL = '{service="weather", signal="agent_loop_ratio"}'


def _turns(down: int) -> list[dict]:
    """The release's turns, the failing ones spread over the run."""
    every = TURNS_PER_RELEASE // down
    return [{"city": CITIES[i % len(CITIES)], "down": i % every == 0 and i // every < down}
            for i in range(TURNS_PER_RELEASE)]


def _by_release(rows: list[dict]) -> dict[str, float]:
    return {r["metric"]["release"]: float(r["value"][1]) for r in rows}


def _wait(predicate: Callable[[], Any], timeout: float, what: str,
          procs: dict[str, ReleaseProcess]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for release, proc in procs.items():
            if proc.process.poll() is not None:
                pytest.fail(f"{release} exited: {proc.log_path.read_text()}")
        result = predicate()
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def test_agent_loop_spike_fires_for_the_looping_release_only(tmp_path: Path) -> None:
    require_binary("prometheus")
    assert [sum(t["down"] for t in _turns(n)) for n in DOWN.values()] == list(DOWN.values())
    procs: dict[str, ReleaseProcess] = {}
    prom = None
    try:
        for release, down in DOWN.items():
            path = tmp_path / f"{release}.json"
            path.write_text(json.dumps(_turns(down)), encoding="utf-8")
            procs[release] = ReleaseProcess(tmp_path, free_port(), path, SERVICE, release,
                                            previous=PREVIOUS.get(release),
                                            module="tests.support.agent_releases")
        for release, proc in procs.items():
            assert proc.wait_ready(300) == TURNS_PER_RELEASE, release
        files = generate(MixinConfig().with_overrides(OVERRIDES))
        work = tmp_path / "prometheus"
        work.mkdir()
        (work / "rules.yaml").write_text(files[RULES_PATH])
        (work / "alerts.yaml").write_text(files[ALERTS_PATH])
        prom = PrometheusServer(scrape_config({"collapse-otel": [p.target for p in
                                                                 procs.values()]},
                                              rule_files=["rules.yaml", "alerts.yaml"]), work)

        def every_release(expr: str) -> dict[str, float]:
            """``expr`` by release, once it has a value for every release (each scrape and
            each rule group runs on its own clock)."""
            return _wait(lambda: len(got := _by_release(prom.query(expr))) == 3 and got,
                         120, expr, procs)

        # what capture counted, exactly: every turn judged, the failing ones looping
        looping = every_release('collapse_agent_turns_total{service="weather", looping="true"}')
        assert looping == {r: float(n) for r, n in DOWN.items()}
        for kind in ("repeated_tool_call", "step_limit"):
            assert _by_release(prom.query(
                f'collapse_agent_loops_total{{service="weather", kind="{kind}"}}')) == looping
        assert _by_release(prom.query(
            'collapse_agent_loops_total{service="weather", kind="repeated_answer"}')) == \
            dict.fromkeys(DOWN, 0.0)

        # the loop rate's recording rules, for every release
        rates = every_release(VALUE + SIGNAL)
        assert rates == {r: pytest.approx(n / TURNS_PER_RELEASE) for r, n in DOWN.items()}
        assert every_release(f'{TURNS}{{service="weather"}}') == \
            dict.fromkeys(DOWN, float(TURNS_PER_RELEASE))
        judged = _wait(lambda: len(got := _by_release(prom.query(
            zscore("previous_release") + SIGNAL))) == 2 and got,
            120, "v2 and v3 compared with their previous release", procs)
        assert judged["v2"] < 1 < 5 < judged["v3"]

        def firing() -> list[dict]:
            return [a for a in prom.api("alerts")["alerts"]
                    if a["labels"]["alertname"] == ALERT and a["state"] == "firing"]

        (alert,) = _wait(firing, 180, f"{ALERT} firing", procs)
        assert alert["labels"]["release"] == "v3"
        assert alert["labels"]["previous_release"] == "v2"
        assert alert["labels"]["signal"] == "agent_loop_ratio"
        assert float(alert["value"]) == pytest.approx((30 - 2) / TURNS_PER_RELEASE)
        # never pending nor firing for the healthy releases, though v2 was judged all along
        ever = prom.query(f'count by (release) (count_over_time(ALERTS{{alertname="{ALERT}"}}'
                          '[10m]))')
        assert {r["metric"]["release"] for r in ever} == {"v3"}
    finally:
        for proc in procs.values():
            proc.terminate()
        if prom is not None:
            prom.stop()
        for proc in procs.values():
            proc.stop()
