"""A real Prometheus on 127.0.0.1 for end-to-end tests (one per test): ``benchmarks.prometheus``,
skipped on a laptop without the binary and failed in CI."""

from __future__ import annotations

from pathlib import Path

from benchmarks.prometheus import PrometheusServer as _PrometheusServer
from benchmarks.prometheus import free_port, scrape_config, stop_process, wait_ready
from tests.support.requires import require_binary

__all__ = ["PrometheusServer", "free_port", "scrape_config", "stop_process", "wait_ready"]


class PrometheusServer(_PrometheusServer):
    def __init__(self, config: dict, workdir: Path) -> None:
        super().__init__(config, workdir, binary=require_binary("prometheus"))
