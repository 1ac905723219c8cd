"""A real Prometheus on 127.0.0.1 (the Debian binary), for the online validation and the
end-to-end tests (``tests/support/prometheus_server.py`` adds the skip when the binary is missing)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(process: subprocess.Popen, url: str, name: str, log: Path,
               timeout: float = 30, poll: float = 0.2) -> None:
    """Until ``url`` answers 200; the log in the error when the process exits first."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: {log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} did not become ready in {timeout:.0f} s")
        time.sleep(poll)


def stop_process(process: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds."""
    if process.poll() is None:
        process.terminate()
    if process.poll() is None:
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=grace / 2)


class PrometheusServer:
    """Starts Prometheus with ``config`` (a dict, written as JSON, which is valid YAML) in
    ``workdir`` and waits until it is ready; ``query`` runs an instant query. ``binary``: the
    executable (default: ``prometheus`` on the PATH)."""

    def __init__(self, config: dict, workdir: Path, binary: str | None = None) -> None:
        binary = binary or shutil.which("prometheus")
        if binary is None:
            raise FileNotFoundError("prometheus not installed (apt-get install prometheus)")
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "prometheus.yml").write_text(json.dumps(config))
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self._log = (workdir / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [binary, f"--config.file={workdir / 'prometheus.yml'}",
             f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
             "--log.level=warn"],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=workdir)
        try:
            wait_ready(self.process, f"{self.base}/-/ready", "prometheus",
                       workdir / "prometheus.log")
        except TimeoutError:
            self.stop()
            raise

    def api(self, path: str, **params: str) -> dict:
        url = f"{self.base}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.loads(r.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, promql: str) -> list[dict]:
        return self.api("query", query=promql)["result"]

    def stop(self) -> None:
        stop_process(self.process, grace=20)
        self._log.close()


def scrape_config(jobs: dict[str, list[str]], interval: str = "1s",
                  rule_files: list[str] | None = None, evaluation: str | None = None,
                  target_files: dict[str, Path] | None = None) -> dict:
    """A Prometheus config scraping ``job -> [host:port, ...]`` every ``interval`` (which is
    also the scrape timeout) and evaluating rules every ``evaluation`` (``interval``);
    ``target_files``: jobs whose targets a file lists (``write_targets``), read again when
    it changes, so targets can come and go while Prometheus runs."""
    config: dict = {
        "global": {"scrape_interval": interval, "scrape_timeout": interval,
                   "evaluation_interval": evaluation or interval},
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": targets}]}
                           for job, targets in jobs.items()],
    }
    config["scrape_configs"] += [
        {"job_name": job, "file_sd_configs": [{"files": [str(path)],
                                               "refresh_interval": interval}]}
        for job, path in (target_files or {}).items()]
    if rule_files:
        config["rule_files"] = rule_files
    return config


def write_targets(path: Path, targets: list[str]) -> None:
    """The target file of a ``target_files`` job, replaced whole (Prometheus never reads half
    of it)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([{"targets": targets}]))
    tmp.replace(path)
