"""A real Prometheus Pushgateway on 127.0.0.1 for end-to-end tests (the Debian binary
``prometheus-pushgateway``, in memory, one per test)."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path

from .conftest import require_binary
from .prometheus_server import free_port

BINARY = "prometheus-pushgateway"


class PushgatewayServer:
    def __init__(self, workdir: Path) -> None:
        binary = require_binary(BINARY, package=BINARY)
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.address}"
        self._log_path = workdir / "pushgateway.log"
        self._log = self._log_path.open("w")
        self.process = subprocess.Popen(
            [binary, f"--web.listen-address={self.address}", "--persistence.file=",
             "--log.level=warn"], stdout=self._log, stderr=subprocess.STDOUT, cwd=workdir)
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"pushgateway exited: {self._log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("pushgateway did not become ready in 30 s")
            time.sleep(0.1)

    def metrics(self) -> str:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as r:
            return r.read().decode()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()


def pushgateway_scrape_config(address: str, rule_files: list[str],
                              interval: str = "1s") -> dict:
    """Prometheus scraping a Pushgateway as it must: ``honor_labels: true`` keeps the pushed
    ``job`` (and ``instance``) labels instead of the scrape target's."""
    return {
        "global": {"scrape_interval": interval, "scrape_timeout": interval,
                   "evaluation_interval": interval},
        "scrape_configs": [{"job_name": "pushgateway", "honor_labels": True,
                            "static_configs": [{"targets": [address]}]}],
        "rule_files": rule_files,
    }
