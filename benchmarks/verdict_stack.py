"""Releases deployed as processes and judged by a real Prometheus running the generated rules:
the online verdict as production computes it, for the online validation
(``benchmarks.validation_online``) and the end-to-end tests.

Each (service, release, cohort) is one ``benchmarks.release_process`` process, its lineage in
``COLLAPSE_OTEL_*`` env vars, as in a rolling deploy. Prometheus reads its targets from a
file, so releases can be deployed and retired while it runs; a retired release's target stays
listed (``up`` 0, its series go stale) and its last values still count for the release that
follows it, within ``previous_release_lookback``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from collapse_otel.mixin import MixinConfig, generate
from collapse_otel.mixin.render import ALERTS_PATH, RULES_PATH
from collapse_otel.mixin.verdict import (
    bound,
    degraded_critical,
    families_degraded,
    family_degraded,
    suspected,
    zscore,
)

from .prometheus import PrometheusServer, free_port, scrape_config, write_targets
from .release_process import ReleaseProcess, write_answers

# the production rules with short waits: an alert fires after 5 s, rules run every second
SHORT = {"verdict_for": "5s", "rule_interval": "1s", "previous_release_lookback": "10m"}
ALERT = "CollapseReleaseRegression"
PREVIOUS = "previous_release"
JOB = "collapse-otel"
T = TypeVar("T")


def epoch(rfc3339: str) -> float:
    """Prometheus' RFC 3339 timestamps (nanoseconds, 'Z') as epoch seconds on Python 3.10+."""
    stamp = re.sub(r"(\.\d{6})\d*", r"\1", rfc3339).replace("Z", "+00:00")
    return datetime.fromisoformat(stamp).timestamp()


def active(alert: Mapping[str, str] | None) -> bool:
    """An ALERTS series pending or firing."""
    return alert is not None and alert["alertstate"] in ("pending", "firing")


class VerdictStack:
    """Release processes and one Prometheus with the production rules (``overrides``: the
    ``MixinConfig`` fields changed, ``SHORT`` by default)."""

    def __init__(self, workdir: Path, overrides: Mapping[str, str] | None = None,
                 binary: str | None = None) -> None:
        self.workdir, self.binary = workdir, binary
        self.procs: dict[tuple[str, str], ReleaseProcess] = {}
        self.previous: dict[tuple[str, str], str] = {}
        self.prom: PrometheusServer | None = None
        self.cfg = MixinConfig().with_overrides(dict(SHORT if overrides is None else overrides))
        self._targets = workdir / "prometheus" / "targets.json"

    def deploy(self, service: str, release: str, texts: Sequence[str],
               completion_tokens: Sequence[int] | None = None, previous: str | None = None,
               cohort: str = "default") -> ReleaseProcess:
        """Start the release's process (it analyses its answers, then serves /metrics)."""
        path = write_answers(self.workdir / f"{service}-{release}-{cohort}.json", texts,
                             completion_tokens)
        if previous is not None:
            self.previous[(service, release)] = previous
        proc = self.procs[(service, release)] = ReleaseProcess(
            self.workdir, free_port(), path, service, release, cohort, previous)
        if self.prom is not None:
            self._write_targets()
        return proc

    def retire(self, service: str, release: str) -> None:
        """Stop the release's process (its answers file goes too), as a finished rollout
        does."""
        proc = self.procs[(service, release)]
        proc.stop()
        (self.workdir / f"{service}-{release}-{proc.cohort}.json").unlink(missing_ok=True)

    def _write_targets(self) -> None:
        write_targets(self._targets, [p.target for p in self.procs.values()])

    def start_prometheus(self) -> None:
        files = generate(self.cfg)
        work = self._targets.parent
        work.mkdir(parents=True, exist_ok=True)
        (work / "rules.yaml").write_text(files[RULES_PATH])
        (work / "alerts.yaml").write_text(files[ALERTS_PATH])
        self._write_targets()
        self.prom = PrometheusServer(scrape_config({}, rule_files=["rules.yaml", "alerts.yaml"],
                                                   target_files={JOB: self._targets}),
                                     work, self.binary)

    def query(self, expr: str) -> list[dict]:
        assert self.prom is not None, "start_prometheus first"
        return self.prom.query(expr)

    def wait(self, predicate: Callable[[], T], timeout: float, what: str) -> T:
        """Poll ``predicate`` until truthy; a release process that exits fails the wait."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for key, proc in self.procs.items():
                if proc.process.poll() is not None and not proc.stopped:
                    raise RuntimeError(f"{key} exited: {proc.log_path.read_text()}")
            result = predicate()
            if result:
                return result
            time.sleep(0.5)
        raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")

    @staticmethod
    def _sel(service: str, release: str) -> str:
        return f'{{service="{service}", release="{release}"}}'

    def compared(self) -> set[tuple[str, str]]:
        """(service, release) pairs Prometheus has compared with their previous release."""
        return {(r["metric"]["service"], r["metric"]["release"])
                for r in self.query(f"count by (service, release) ({zscore(PREVIOUS)})")}

    def families(self, service: str, release: str) -> set[str]:
        """Degraded families against the previous release, as the recording rule names them."""
        return {r["metric"]["family"]
                for r in self.query(family_degraded(PREVIOUS) + self._sel(service, release))}

    def count(self, service: str, release: str) -> int:
        found = self.query(families_degraded(PREVIOUS) + self._sel(service, release))
        assert len(found) <= 1, found
        return int(float(found[0]["value"][1])) if found else 0

    def suspected(self, service: str, release: str) -> bool:
        """The verdict series the alert and the canary gates read (1: collapse suspected)."""
        (found,) = self.query(suspected(PREVIOUS) + self._sel(service, release))
        return float(found["value"][1]) == 1

    def bounds(self, service: str, release: str) -> dict[str, float]:
        """Signal -> the anytime-valid lower bound of its change toward collapse."""
        return {r["metric"]["signal"]: float(r["value"][1])
                for r in self.query(bound(PREVIOUS) + self._sel(service, release))}

    def critical(self, service: str, release: str) -> set[str]:
        """Signals whose bound passed their critical margin."""
        return {r["metric"]["signal"]
                for r in self.query(degraded_critical(PREVIOUS) + self._sel(service, release))}

    def alerts(self, service: str, release: str) -> dict[str, dict]:
        """severity -> the ALERTS series of CollapseReleaseRegression for one release."""
        sel = f'{{alertname="{ALERT}", service="{service}", release="{release}"}}'
        return {r["metric"]["severity"]: r["metric"] for r in self.query("ALERTS" + sel)}

    def ever_alerted(self, service: str, release: str) -> bool:
        """Whether CollapseReleaseRegression was ever pending or firing for the release since
        Prometheus started (not only at this instant)."""
        sel = f'{{alertname="{ALERT}", service="{service}", release="{release}"}}'
        return bool(self.query(f"count_over_time(ALERTS{sel}[10m])"))

    def evaluated_since(self, moment: float) -> bool:
        """True once every rule group (recording rules, alerts, the audit's alerts) has been
        evaluated twice after ``moment`` (epoch seconds)."""
        assert self.prom is not None
        groups = self.prom.api("rules")["groups"]
        return len(groups) >= 2 and all(epoch(g["lastEvaluation"]) > moment + g["interval"]
                                        for g in groups)

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        if self.prom is not None:
            self.prom.stop()
        for proc in self.procs.values():
            proc.stop()
