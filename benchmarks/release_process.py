"""One release of one service, as a deployed process: answers go through the real capture path
(``observe`` into a ``Pipeline``), then ``/metrics`` is served until the process is killed.

    python -m benchmarks.release_process --port P --answers FILE

Labels and lineage come from the environment, as in a deployment manifest:
``COLLAPSE_OTEL_SERVICE``, ``COLLAPSE_OTEL_RELEASE``, ``COLLAPSE_OTEL_COHORT``,
``COLLAPSE_OTEL_PREVIOUS_RELEASE`` (``COLLAPSE_OTEL_BASELINE_RELEASE``). ``FILE`` is a JSON list
of answers: strings, or ``{"text": ..., "completion_tokens": ...}`` objects. The process
prints ``ready <answers>`` once every answer is analysed and the gauges are fresh.

The helpers below (``write_answers``, ``ReleaseProcess``) start such processes for the online
validation (``benchmarks.validation_online``) and the end-to-end tests.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .prometheus import stop_process

ROOT = Path(__file__).resolve().parent.parent
LINEAGE_ENV = ("COLLAPSE_OTEL_SERVICE", "COLLAPSE_OTEL_RELEASE", "COLLAPSE_OTEL_COHORT",
               "COLLAPSE_OTEL_PREVIOUS_RELEASE", "COLLAPSE_OTEL_BASELINE_RELEASE",
               "COLLAPSE_OTEL_RELEASE_ORDER")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--answers", type=Path, required=True)
    args = parser.parse_args(argv)

    from collapse_otel.capture import Pipeline, observe

    answers = json.loads(args.answers.read_text(encoding="utf-8"))
    pipeline = Pipeline()      # CollapseConfig.resolve(): labels and lineage from the env
    for answer in answers:
        text, tokens = (answer, None) if isinstance(answer, str) else \
            (answer["text"], answer.get("completion_tokens"))
        observe(text, completion_tokens=tokens, pipeline=pipeline)
    if not pipeline.flush(timeout=300):
        sys.exit("flush timed out")
    stats = pipeline.stats()
    if stats.dropped or stats.records_processed != len(answers):   # never lose answers quietly
        sys.exit(f"analysed {stats.records_processed} of {len(answers)}: {stats.dropped}")
    serve_until_terminated(pipeline, args.port, stats.records_processed)


def serve_until_terminated(pipeline: Any, port: int, ready: int) -> None:
    """Serve the pipeline's /metrics on 127.0.0.1:``port``, print ``ready N URL`` (what
    :class:`ReleaseProcess` waits for) and return on SIGTERM."""
    from collapse_otel.export.server import start_prometheus_server

    server = start_prometheus_server(port, "127.0.0.1", source=pipeline)
    print(f"ready {ready} {server.url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    server.close()


def write_answers(path: Path, texts: Sequence[str],
                  completion_tokens: Sequence[int] | None = None) -> Path:
    """A JSON answers file for one process (texts with their token counts when given), 0600:
    it holds answer text."""
    rows = list(texts) if completion_tokens is None else [
        {"text": t, "completion_tokens": n}
        for t, n in zip(texts, completion_tokens, strict=True)]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", encoding="utf-8") as f:
        json.dump(rows, f)
    return path


class ReleaseProcess:
    """``python -m benchmarks.release_process`` for one (service, release, cohort), its lineage
    in ``COLLAPSE_OTEL_*`` env vars; ``wait_ready`` blocks until it serves /metrics.
    ``module``: another process taking ``--port`` and ``--answers`` and printing ``ready N``
    the same way (tests/support/agent_releases.py: agent turns instead of answers)."""

    def __init__(self, workdir: Path, port: int, answers: Path, service: str, release: str,
                 cohort: str = "default", previous: str | None = None,
                 extra_env: Mapping[str, str] | None = None,
                 module: str = "benchmarks.release_process") -> None:
        self.port, self.service, self.release, self.cohort = port, service, release, cohort
        self.stopped = False
        env = {k: v for k, v in os.environ.items() if k not in LINEAGE_ENV}
        env.update({"COLLAPSE_OTEL_SERVICE": service, "COLLAPSE_OTEL_RELEASE": release,
                    "COLLAPSE_OTEL_COHORT": cohort, "OPENBLAS_NUM_THREADS": "1",
                    "PYTHONPATH": str(ROOT)})
        if previous is not None:
            env["COLLAPSE_OTEL_PREVIOUS_RELEASE"] = previous
        env.update(extra_env or {})
        self.log_path = workdir / f"{service}-{release}-{cohort}.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, "--port", str(port),
             "--answers", str(answers)],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float) -> int:
        """Answers analysed (the number the process printed once ready)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_path.read_text().splitlines():
                if line.startswith("ready "):
                    return int(line.split()[1])
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.service}/{self.release} exited "
                                   f"{self.process.returncode}: {self.log_path.read_text()}")
            time.sleep(0.2)
        raise TimeoutError(f"{self.service}/{self.release} not ready in {timeout:.0f}s: "
                           f"{self.log_path.read_text()}")

    def terminate(self) -> None:
        """Ask the process to stop (SIGTERM) without waiting: stop many, then wait."""
        self.stopped = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        self.terminate()
        stop_process(self.process)
        self._log.close()


if __name__ == "__main__":
    main()
