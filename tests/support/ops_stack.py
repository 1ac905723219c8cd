"""The end-to-end ops stack: ``collapse-otel demo --continuous`` (releases v1, v2, v3 in one
process, v1 the pinned baseline), a healthy canary v4 in a second process (tests/
canary_release.py: previous v3, baseline v1, configured), and a real Prometheus scraping both
every 3 s with the generated recording and alert rules, evaluated every second.

Windows and ``for:`` durations are shortened through the mixin config (the same generator
users run); the rules are the production rules otherwise.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from collapse_otel.mixin import MixinConfig, generate
from collapse_otel.mixin.render import ALERTS_PATH, RULES_PATH
from collapse_otel.mixin.verdict import families_degraded, judged
from tests.support.prometheus_server import PrometheusServer, free_port, scrape_config
from tests.support.requires import require_binary
from tests.support.waiting import cpu_seconds, wait_progressing

ROOT = Path(__file__).resolve().parents[2]
RELEASES = ("v1", "v2", "v3")
CANARY = "v4"
SCRAPE = "3s"  # the scrape interval and timeout
E2E_OVERRIDES = {
    "rate_window_short": "15s", "rate_window_long": "30s", "baseline_window": "5m",
    "baseline_offset": "10m", "previous_release_lookback": "5m", "duplicate_window": "30s",
    "duplicate_for": "3s", "repetition_for": "3s", "verdict_for": "3s", "dropping_for": "3s",
    "feedback_for": "3s", "holdout_for": "3s", "loop_for": "3s",
}
GRAFANA_BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m"}


def get_json(url: str, timeout: float = 5.0) -> dict:
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
    cfg: MixinConfig
    files: dict[str, str]  # the generated files Prometheus loaded
    pids: tuple[int, ...] = ()  # the demo, the canary and Prometheus


    def query(self, expr: str, at: float | None = None) -> list[dict]:
        params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
        body = get_json(f"{self.prom}/api/v1/query?" + urllib.parse.urlencode(params))
        assert body["status"] == "success", f"{body.get('error')}: {expr}"
        return body["data"]["result"]

    def label_values(self, label: str, selector: str) -> list[str]:
        url = (f"{self.prom}/api/v1/label/{label}/values?"
               + urllib.parse.urlencode({"match[]": selector}))
        return get_json(url)["data"]

    def progress(self) -> tuple:
        """Answers Prometheus has counted and the CPU time of the stack's processes: grows
        while the demo, the canary and the scrapes run, however slowly (the progress the
        stack's waits require). Under load every scrape can time out for a while: the
        counted answers then stand still, but the processes still work."""
        try:
            result = self.query('sum(collapse_answers_total{job="collapse-otel"})')
        except OSError:
            result = []
        counted = float(result[0]["value"][1]) if result else 0.0
        return counted, tuple(cpu_seconds(pid) for pid in self.pids)

    def scrapes(self, window: str = "1m") -> int:
        """Samples in ``window`` of the least-scraped answers series."""
        result = self.query(f'min(count_over_time(collapse_answers_total'
                            f'{{job="collapse-otel"}}[{window}]))')
        return int(float(result[0]["value"][1])) if result else 0

    def clean_instant(self, lookback: float = 60.0, steady: float = 6.0) -> float | None:
        """The latest instant of the last minute before which both targets' scrapes had
        succeeded for ``steady`` seconds, or None. On a busy machine a scrape can outlast its
        timeout: the target's series then go stale, and the chain of recording rules
        (signal, change, judged, families, verdict) evaluated during that gap records nothing
        for a few evaluations. An instant after a steady stretch sees the whole chain."""
        end = time.time() - 1
        step = 0.5
        params = {"query": 'count(up{job="collapse-otel"} == 1)',
                  "start": f"{end - lookback:.3f}", "end": f"{end:.3f}", "step": str(step)}
        body = get_json(f"{self.prom}/api/v1/query_range?" + urllib.parse.urlencode(params))
        clean = sorted(float(t) for series in body["data"]["result"]
                       for t, v in series["values"] if float(v) == 2)
        latest = run_start = previous = None
        for t in clean:
            if previous is None or t - previous > step * 1.5:
                run_start = t
            if t - run_start >= steady:
                latest = t
            previous = t
        return latest

    def alerts(self) -> list[dict]:
        return get_json(f"{self.prom}/api/v1/alerts")["data"]["alerts"]

    def rules(self) -> list[dict]:
        groups = get_json(f"{self.prom}/api/v1/rules")["data"]["groups"]
        return [r for g in groups for r in g["rules"]]


def wait(predicate: Callable[[], object], stall: float, what: str,
         procs: list[subprocess.Popen] = (), progress: Callable[[], object] | None = None):
    """Until ``predicate`` is truthy; fails after ``stall`` seconds without progress (by
    default the CPU time of ``procs``), not after a fixed time: on a busy machine the stack
    is slower, not stuck."""
    try:
        return wait_progressing(predicate, what, procs=procs, stall=stall,
                                progress=progress or (lambda: [cpu_seconds(p.pid)
                                                               for p in procs]))
    except AssertionError as exc:
        pytest.fail(str(exc))


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _start(tmp: Path, name: str, args: list[str], procs: list, logs: list) -> str:
    """Start ``python -m args`` logging to tmp/name.log; its metrics host:port."""
    log_path = tmp / f"{name}.log"
    log = log_path.open("w")
    logs.append(log)
    procs.append(subprocess.Popen([sys.executable, "-m", *args], stdout=log,
                                  stderr=subprocess.STDOUT, cwd=ROOT))
    found = wait(lambda: re.search(r"metrics: http://(127\.0\.0\.1:\d+)", log_path.read_text()),
                 60, f"the {name}'s metrics URL", procs)
    return found.group(1)


@contextlib.contextmanager
def running_stack(tmp: Path) -> Iterator[Stack]:
    require_binary("prometheus")
    procs: list[subprocess.Popen] = []
    logs: list = []
    prom = None
    try:
        demo = _start(tmp, "demo", ["collapse_otel.cli", "demo", "--port", str(free_port()),
                                    "--duration", "120", "--answers", "3000", "--continuous"],
                      procs, logs)
        canary = _start(tmp, "canary", ["tests.support.canary_release", "--port", str(free_port()),
                                        "--release", CANARY, "--rate", "25",
                                        "--follow", f"http://{demo}/metrics"], procs, logs)
        cfg = MixinConfig().with_overrides(E2E_OVERRIDES)
        files = generate(cfg)
        work = tmp / "prometheus"
        work.mkdir()
        (work / "rules.yaml").write_text(files[RULES_PATH])
        (work / "alerts.yaml").write_text(files[ALERTS_PATH])
        # scrapes every 3 s with a 3 s timeout: under load a scrape of the demo's four
        # releases takes over a second, and a timed-out scrape makes every series stale
        prom = PrometheusServer(scrape_config({"collapse-otel": [demo, canary]}, SCRAPE,
                                              rule_files=["rules.yaml", "alerts.yaml"],
                                              evaluation="1s"), work)
        procs.append(prom.process)
        s = Stack(prom.base, cfg, files, tuple(p.pid for p in procs))
        wait(lambda: len(s.query('count by (release) (collapse_answers_total'
                                 '{job="collapse-otel"})')) == 4, 60, "four releases", procs)
        # entity richness at equal coverage, with its error, for every release (v3 names few
        # entities: it stands at the coverage it reaches)
        wait(lambda: len(s.query('collapse_window_signal_stderr{job="collapse-otel", '
                                 'signal="entity_hill_0"}')) == 4,
             60, "entity richness of every release, with its error", procs, s.progress)
        # the verdict: v3 degraded against v2 and v1; the canary judged against v3 and v1
        wait(lambda: s.query(f'{families_degraded("previous_release")}{{release="v3"}}'),
             60, "the verdict on v3", procs, s.progress)
        wait(lambda: all(s.query(f'{judged(ref)}{{release="{CANARY}"}}')
                         for ref in ("previous_release", "baseline_release")),
             60, "the verdict on the canary", procs, s.progress)
        # a few more scrapes of every series, so every rate() has several samples
        wait(lambda: s.scrapes("30s") >= 5, 60, "five scrapes of every series", procs,
             s.progress)
        yield s
    finally:
        if prom is not None:
            prom.stop()
        for proc in reversed(procs):
            _stop(proc)
        for log in logs:
            log.close()


def regex_escape(value: str) -> str:
    """Grafana's escaping of multi-value Prometheus variables (inside a PromQL string)."""
    return re.sub(r"[$^*{}\[\]'+?.()|\\]", lambda m: "\\\\" + m.group(), value)


def substitute(expr: str, values: dict[str, str]) -> str:
    def repl(match: re.Match) -> str:
        return values[match.group(1) or match.group(2)]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", repl, expr)


def variable_values(stack: Stack, model: dict, chosen: dict[str, str]) -> dict[str, str]:
    """Values as Grafana would substitute them, read through each variable's own query:
    ``chosen`` picks single values (which must be among the query's answers), multi-value
    variables take all they find (Grafana's "All" resolves the same way), others the first."""
    values = dict(GRAFANA_BUILTINS)
    for var in model["templating"]["list"]:
        if var["type"] != "query":
            continue
        query = substitute(var["query"]["query"], values)
        selector, label = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query).groups()
        found = stack.label_values(label, selector)
        assert found, f"variable ${var['name']} has no values ({query})"
        name = var["name"]
        if name in chosen:
            assert chosen[name] in found, (name, found)
            values[name] = chosen[name]
        elif var.get("multi"):
            values[name] = "(" + "|".join(regex_escape(v) for v in found) + ")"
        else:
            values[name] = found[0]
    return values
