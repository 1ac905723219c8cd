"""A real Prometheus Pushgateway on 127.0.0.1 for end-to-end tests (the Debian binary
``prometheus-pushgateway``, in memory, one per test)."""

from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path

from tests.support.prometheus_server import free_port, stop_process, wait_ready
from tests.support.requires import require_binary

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
        try:
            wait_ready(self.process, f"{self.url}/-/ready", "pushgateway", self._log_path,
                       poll=0.1)
        except TimeoutError:
            self.stop()
            raise

    def metrics(self) -> str:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as r:
            return r.read().decode()

    def stop(self) -> None:
        stop_process(self.process)
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
