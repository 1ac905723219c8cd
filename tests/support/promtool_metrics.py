"""``promtool check metrics`` on an exposition: what the real Prometheus tooling objects to."""

from __future__ import annotations

import subprocess

from tests.support.requires import require_binary


def promtool_problems(exposition: bytes) -> list[str]:
    """``promtool check metrics`` findings; skips without promtool unless CI=true."""
    promtool = require_binary("promtool")
    proc = subprocess.run([promtool, "check", "metrics"], input=exposition,
                          capture_output=True, timeout=60)
    return [line for line in (proc.stdout + proc.stderr).decode().splitlines() if line.strip()]
