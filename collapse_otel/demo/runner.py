"""``collapse-otel demo``: serve simulated RAG traffic for three releases, export, summarise.

Every third user also books a table through a tool-calling agent (demo/booking.py), whose
turns loop in the collapsed release v3: the agent loop signals.

The agent is instrumented the way a user would do it (a CollapseCallbackHandler in the
chain's callbacks, the release in run metadata, feedback and judge results recorded by the
run id of each turn), the metrics are served on 127.0.0.1 while
traffic flows, and the closing table is read from the same rows Prometheus scrapes. The
lineage is configured as a deploy pipeline would: releases v1, v2, v3 in that order, v1 (the
healthy one) the pinned baseline, so the release verdict and its alerts work on the demo.
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import sys
import threading
import time
from typing import TextIO

from ..capture import CollapseCallbackHandler, Pipeline
from ..config import CollapseConfig
from ..export.server import PrometheusServer, start_prometheus_server
from .agent import RELEASES, Traffic
from .booking import BookingAgent
from .feedback import THRESHOLDS, Raters
from .table import health_line, render, signal_table

SERVICE = "rag-demo"
BASELINE = "v1"
BOOKING_EVERY = 3   # a booking agent turn (tool calls only) every third question


class _Progress:
    """One self-rewriting line on a terminal; a line per 10% elsewhere (logs, CI)."""

    def __init__(self, stream: TextIO, total: int) -> None:
        self.stream, self.total = stream, total
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self._last_decile = -1

    def update(self, done: int, counts: dict[str, int], elapsed: float) -> None:
        share = done / self.total if self.total else 1.0
        decile = int(share * 10)
        if not self.tty and decile == self._last_decile:
            return
        self._last_decile = decile
        bar = "#" * int(share * 30)
        per = "  ".join(f"{r} {n}" for r, n in counts.items())
        line = f"[{bar[:30]:<30}] {share:4.0%}  {per}  {elapsed:5.1f}s"
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _serve(port: int, addr: str, pipeline: Pipeline, err: TextIO) -> PrometheusServer:
    try:
        return start_prometheus_server(port, addr, source=pipeline)
    except OSError as exc:
        err.write(f"collapse-otel demo: {addr}:{port} unavailable ({exc.strerror}); "
                  "using a free port\n")
        return start_prometheus_server(0, addr, source=pipeline)


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event):
    """SIGINT / SIGTERM set ``stop`` (clean exit) instead of raising mid-request."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def run_demo(port: int | None = None, duration: float = 20.0, answers: int = 600,
             serve: bool = False, addr: str | None = None, seed: int = 0,
             out: TextIO | None = None, err: TextIO | None = None,
             continuous: bool = False) -> int:
    """Run the demo; returns the process exit code. ``continuous``: keep the traffic's pace
    (``answers`` per release every ``duration`` seconds) until interrupted."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    config = CollapseConfig.resolve(service=SERVICE, refresh_seconds=1.0,
                                    release_order=",".join(RELEASES), baseline_release=BASELINE,
                                    evaluation_thresholds=THRESHOLDS)
    port = config.prometheus_port if port is None else port
    addr = config.prometheus_host if addr is None else addr
    pipeline = Pipeline(config)
    handler = CollapseCallbackHandler(pipeline=pipeline, service=SERVICE, emit_spans=False)
    traffic = Traffic(seed)
    stop = threading.Event()
    with _stop_on_signals(stop):
        server = _serve(port, addr, pipeline, err)
        try:
            pace = (f"{answers} answers each every ~{duration:g}s until interrupted (Ctrl-C)"
                    if continuous else f"{answers} answers each over ~{duration:g}s")
            err.write(f"collapse-otel demo: simulated LangChain RAG agent, releases "
                      f"{' '.join(RELEASES)} (baseline {BASELINE}), {pace}\n"
                      f"metrics: {server.url}\n")
            err.flush()
            _traffic(traffic, handler, answers, duration, stop, _Progress(err, answers * 3),
                     continuous, Raters(seed))
            pipeline.flush(timeout=60)
            snapshot = pipeline.aggregator.snapshot(max_age=0)
            out.write("\n" + render(signal_table(snapshot, RELEASES)) + "\n\n")
            out.write(health_line(snapshot, pipeline.stats()) + "\n")
            out.flush()
            if serve and not stop.is_set():
                err.write(f"serving {server.url} until interrupted (Ctrl-C)\n")
                err.flush()
                while not stop.wait(0.5):
                    pass
        finally:
            server.close()
            pipeline.shutdown(timeout=5)
    return 0


def _traffic(traffic: Traffic, handler: CollapseCallbackHandler, answers: int, duration: float,
             stop: threading.Event, progress: _Progress, continuous: bool = False,
             raters: Raters | None = None) -> None:
    """Ask every release the same questions, paced to spread ``answers`` over ``duration``
    (and on at that pace until ``stop`` when ``continuous``); users and judges rate the
    answers by the run id of their turn."""
    raters = raters or Raters()
    counts = dict.fromkeys(traffic.agents, 0)
    bookings = {release: BookingAgent(release) for release in traffic.agents}
    start = time.monotonic()
    for i in itertools.count() if continuous else range(answers):
        question = traffic.next_question()
        for release, agent in traffic.agents.items():
            run_id = raters.run_id()
            agent.ask(question, config={"callbacks": [handler], "metadata": {"release": release},
                                        "run_name": "rag-agent", "run_id": run_id})
            raters.rate(release, run_id, handler.pipeline)
            counts[release] += 1
            if i % BOOKING_EVERY == 0:   # every third user also books a table
                bookings[release].book(f"table {i % 40}", 2 + i % 5, config={
                    "callbacks": [handler], "metadata": {"release": release}})
        progress.update(sum(counts.values()), counts, time.monotonic() - start)
        wait = start + duration * (i + 1) / answers - time.monotonic()
        if (wait > 0 and stop.wait(wait)) or stop.is_set():
            break
    progress.close()
