"""Multiprocess mode with real servers: gunicorn (4 sync workers, a WSGI app) and uvicorn
(``--workers 4``, an ASGI app). 1,000 requests each observe one answer in whichever worker
takes them; /metrics, served by one of the workers, must count exactly 1,000, and the merged
window signals must equal those of one process fed the same 1,000 answers, exactly or
within the tolerances below. After a graceful stop the standalone exporter
(``python -m collapse_otel.multiprocess``) shows the same from the files the workers left.

Tolerances, from 400 random splits of these answers over 4 workers in one process (largest
difference seen in brackets; docs/multiprocess.md): the compression
ratio is computed on the sample in its order (gzip of chunks), which differs from one
process's order: within 2 of its standard errors (1.65); the n-gram diversity score: 0.1%
(0.028%); the near-duplicate verdict of an answer can depend on the order two similar
answers are met: the near-duplicate ratio within 2 standard errors (1.26). Every other
sample of the stream is equal up to float rounding.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from collapse_otel.config import CollapseConfig
from collapse_otel.engine.aggregator import Aggregator
from collapse_otel.engine.feeding import observe_all
from collapse_otel.export.encode import generate_text
from collapse_otel.export.prometheus import CollapseCollector
from collapse_otel.spans.build import make_record
from tests.support.multiproc_answers import COUNT, answers, request
from tests.support.requires import require_module

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = ROOT / "tests" / "support"   # the app and gunicorn settings, imported by name
SERVICE = "multiproc-test"
WORKERS = 4
# (metric, distinguishing label) -> (signal key, standard errors) or relative tolerance;
# anything not listed: equal up to float rounding
TOLERANCE = {
    ("collapse_compression_ratio", ""): ("compression_ratio", 2.0),
    ("collapse_duplicate_answer_ratio", "near"): ("near_duplicate_ratio", 2.0),
    # near clusters follow the same order-dependent near-duplicate verdicts
    ("collapse_coverage_deficit", "near_answers"): ("near_answer_coverage_deficit", 2.0),
    ("collapse_ngram_diversity_score", ""): 0.001,
}
FLOAT_ROUNDING = 1e-9   # "exact": sums of the same floats in another order
# the duplicate counters sum each worker's own verdicts (docs/multiprocess.md): compared, not equal
NOT_COMPARED = {"collapse_duplicate_answers_total", "collapse_window_signal_stderr"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read()


def _wait(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def _series(text: str) -> dict[tuple, float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _stream(series: dict[tuple, float]) -> dict[tuple, float]:
    """The samples of the test's stream, without its stream labels."""
    out = {}
    for (name, labels), value in series.items():
        d = dict(labels)
        if d.pop("service", None) == SERVICE and d.pop("release", None) == "v1":
            d.pop("cohort", None)
            out[(name, tuple(sorted(d.items())))] = value
    return out


def _config() -> CollapseConfig:
    return CollapseConfig(service=SERVICE, refresh_seconds=0.0)


@pytest.fixture(scope="module")
def reference() -> dict[tuple, float]:
    """One process fed the same 1,000 answers, as /metrics would show it."""
    cfg = _config()
    texts = answers()
    aggregator = Aggregator(cfg)
    observe_all(aggregator, [make_record(cfg, texts[i], **request(i)) for i in range(COUNT)])
    registry = CollectorRegistry()
    registry.register(CollapseCollector(lambda: aggregator.snapshot(max_age=0)))
    return _stream(_series(generate_text(registry).decode()))


def compare(merged: dict[tuple, float], reference: dict[tuple, float]) -> dict[str, float]:
    """Assert merged == reference within the tolerances; the relative differences found."""
    found = {}
    assert {k for k in reference if k[0] not in NOT_COMPARED} <= set(merged)
    for key, want in reference.items():
        name, labels = key
        if name in NOT_COMPARED:
            continue
        got = merged[key]
        label = next((v for k, v in labels if k in ("kind", "scope", "n", "type", "le")), "")
        tol = TOLERANCE.get((name, label), FLOAT_ROUNDING)
        if isinstance(tol, tuple):   # in standard errors of the one-process value
            se = reference[("collapse_window_signal_stderr", (("signal", tol[0]),))]
            diff, tol = abs(got - want) / se, tol[1]
        else:
            diff = abs(got - want) / max(abs(want), 1e-12) if got != want else 0.0
        found[f"{name}{'{' + label + '}' if label else ''}"] = diff
        assert diff <= tol, f"{name} {dict(labels)}: merged {got} vs one process {want}"
    return found


def _env(directory: Path, metrics_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COLLAPSE_OTEL_", "OTEL_"))}
    env.update(COLLAPSE_OTEL_MULTIPROC_DIR=str(directory),
               COLLAPSE_OTEL_MULTIPROC_WRITE_SECONDS="0.5", COLLAPSE_OTEL_REFRESH_SECONDS="0",
               COLLAPSE_OTEL_SERVICE=SERVICE, COLLAPSE_OTEL_METRICS_HOST="127.0.0.1",
               COLLAPSE_OTEL_METRICS_PORT=str(metrics_port), OPENBLAS_NUM_THREADS="1",
               OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join((str(SUPPORT), str(ROOT))))
    return env


class Running:
    """A process group started for the test, stopped (SIGTERM, then SIGKILL) at exit."""

    def __init__(self, cmd: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, env=env, cwd=SUPPORT, stdout=self._out,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._out.close()
        return self.proc.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _send(app_port: int) -> Counter:
    def one(i: int) -> int:
        return int(_get(f"http://127.0.0.1:{app_port}/answer?i={i}", timeout=30))

    with ThreadPoolExecutor(8) as pool:
        return Counter(pool.map(one, range(COUNT)))


def _scrape_until_complete(port: int, seconds: float = 90.0) -> dict[tuple, float]:
    def complete():
        stream = _stream(_series(_get(f"http://127.0.0.1:{port}/metrics").decode()))
        done = stream.get(("collapse_answers_total", ())) == COUNT and \
            stream.get(("collapse_window_answers", ())) == COUNT
        return stream if done else None
    return _wait(complete, seconds, "/metrics to count every answer")


def _exporter(directory: Path, tmp_path: Path) -> dict[tuple, float]:
    port = _free_port()
    exporter = Running([sys.executable, "-m", "collapse_otel.multiprocess", "--dir",
                        str(directory), "--port", str(port)], _env(directory, port),
                       tmp_path / "exporter.log")
    try:
        return _scrape_until_complete(port, 60)
    finally:
        exporter.stop()


def _command(server: str, app_port: int) -> list[str]:
    if server == "gunicorn":
        from gunicorn import config

        # gunicorn >= 24 opens a control socket in ~/.gunicorn, shared by every instance
        quiet = ["--no-control-socket"] if hasattr(config, "ControlSocketDisable") else []
        return [sys.executable, "-m", "gunicorn", "-w", str(WORKERS), "-b",
                f"127.0.0.1:{app_port}", "-c", str(SUPPORT / "multiproc_gunicorn.py"),
                "--graceful-timeout", "20", *quiet, "multiproc_app:wsgi_app"]
    return [sys.executable, "-m", "uvicorn", "multiproc_app:asgi_app", "--workers",
            str(WORKERS), "--host", "127.0.0.1", "--port", str(app_port), "--no-access-log",
            "--log-level", "warning"]


@pytest.mark.parametrize("server", ["gunicorn", "uvicorn"])
def test_thousand_answers_over_four_workers(server, tmp_path, reference):
    require_module(server)
    directory, app_port, metrics_port = tmp_path / "mp", _free_port(), _free_port()
    fleet = Running(_command(server, app_port), _env(directory, metrics_port),
                    tmp_path / f"{server}.log")
    try:
        _wait(lambda: _get(f"http://127.0.0.1:{app_port}/ready"), 90, f"{server} to start")
        start = time.monotonic()
        by_pid = _send(app_port)
        sent = time.monotonic()
        merged = _scrape_until_complete(metrics_port)
        seen = time.monotonic()
        assert sum(by_pid.values()) == COUNT and len(by_pid) >= 2, by_pid
        differences = compare(merged, reference)
        assert 0 < merged[("collapse_duplicate_answers_total", (("kind", "exact"),))] <= \
            reference[("collapse_duplicate_answers_total", (("kind", "exact"),))]
        print(f"\n{server}: answers by worker {sorted(by_pid.values())}; 1,000 requests in "
              f"{sent - start:.1f} s, all counted on /metrics {seen - sent:.1f} s later; "
              f"duplicates counted exact/near {_dups(merged)} vs one process "
              f"{_dups(reference)}; largest differences "
              f"{ {k: round(v, 5) for k, v in differences.items() if v} }")
        if server == "gunicorn":
            _one_worker_exits(by_pid, directory, metrics_port, fleet.proc.pid)
    finally:
        code = fleet.stop()
    output = fleet.output()
    assert code == 0, output[-3000:]
    for bad in ("Traceback", "collapse-otel", "[ERROR]", " ERROR"):
        assert bad not in output, output[-3000:]
    names = sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))
    if server == "gunicorn":   # child_exit archived every worker at the stop
        assert names == ["collapse-archive.state"], names
    else:                      # no hook: one file per worker, each written at exit
        assert len(names) == len(by_pid) and all(n.endswith(".state") for n in names), names
    assert all(os.stat(directory / n).st_mode & 0o777 == 0o600 for n in names)
    compare(_exporter(directory, tmp_path), reference)


def _dups(stream: dict[tuple, float]) -> tuple[int, int]:
    return tuple(int(stream[("collapse_duplicate_answers_total", (("kind", k),))])
                 for k in ("exact", "near"))


def _listener(port: int, pids) -> int | None:
    """Which of ``pids`` listens on ``port`` (Linux /proc), None if unknown."""
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    inodes = {f"socket:[{cols[9]}]" for cols in (line.split() for line in lines)
              if cols[1].endswith(f":{port:04X}") and cols[3] == "0A"}
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                        return pid
    return None


def _children(parent: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                    out.append(int(entry))
    return out


def _one_worker_exits(by_pid: Counter, directory: Path, metrics_port: int,
                      master: int) -> None:
    """The worker serving /metrics is stopped while the others run: child_exit archives its
    file, another worker takes the port over (they retry the bind), the counts stay."""
    serving = _listener(metrics_port, by_pid)
    pid = serving or max(by_pid, key=by_pid.get)
    os.kill(pid, signal.SIGTERM)   # a worker of the gunicorn this test started
    _wait(lambda: not (directory / f"collapse-{pid}.state").exists() and
          (directory / "collapse-archive.state").exists(), 30, "the worker to be archived")
    merged = _scrape_until_complete(metrics_port, 30)
    assert merged[("collapse_answers_total", ())] == COUNT
    if serving is not None:   # the port moved to another worker (maybe the replacement)
        now = _listener(metrics_port, _children(master))
        assert now is not None and now != serving
        print(f"/metrics moved from worker {serving} to {now} "
              f"({'a running worker' if now in by_pid else 'its replacement'})")


def test_random_splits_stay_within_the_tolerances(tmp_path, reference):
    """In one process, with no server: 10 random splits of the answers over 4 workers'
    aggregators, merged from their files, against the same tolerances."""
    from collapse_otel.multiprocess import MultiprocessSource
    from collapse_otel.multiprocess.files import health_of, save
    from collapse_otel.multiprocess.paths import worker_path

    cfg = _config()
    texts = answers()
    recs = [make_record(cfg, texts[i], **request(i)) for i in range(COUNT)]
    for seed in range(10):
        rng = random.Random(seed)
        parts: list[list] = [[] for _ in range(WORKERS)]
        for rec in recs:
            parts[rng.randrange(WORKERS)].append(rec)
        directory = tmp_path / str(seed)
        for w, part in enumerate(parts):
            agg = Aggregator(cfg)
            observe_all(agg, part)
            save(worker_path(directory, 100 + w), agg,
                 {"kind": "worker", "token": str(w), **health_of(agg, None)})
        registry = CollectorRegistry()
        registry.register(CollapseCollector(MultiprocessSource(directory, cfg).snapshot))
        compare(_stream(_series(generate_text(registry).decode())), reference)
