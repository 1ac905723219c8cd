"""Wiring of ``collapse-otel serve``: listeners, state restore and snapshots, orderly stop.

Start: check that the state directory is writable (else refuse to start), take it (one
server per state file; crash leftovers removed), restore the last snapshot (a corrupt one is
set aside and counted), replay the write-ahead log past it, open the listeners, then report
ready. A snapshot is taken on the worker between two batches, so the state it writes and the
log position it records agree; the log segments it covers are then deleted. A failing
snapshot fails readiness until one succeeds. Stop (SIGTERM / SIGINT): report not ready,
close the listeners, count every held answer, wait for the worker, write a final snapshot
(exit status 1 if it failed).
"""

from __future__ import annotations

import gc
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from prometheus_client.registry import CollectorRegistry

from .. import forksafe
from ..config import CollapseConfig
from ..export.server import collapse_registry
from ..state.file import StateError, StateStore, write_atomic
from . import grpc_server
from .http import HttpApp, make_server
from .metrics import ServeCollector
from .receiver import Receiver
from .settings import ServeSettings, SettingsError, collapse_config, resolve
from .wal import WriteAheadLog

_log = logging.getLogger("collapse_otel.serve")
TICK_SECONDS = 1.0
SNAPSHOT_WAIT_SECONDS = 300.0   # for the worker to reach the cut (it analyses what is queued)


class Service:
    """One receiver process. ``start()`` then ``stop()``; ``ports`` tells where it listens."""

    def __init__(self, settings: ServeSettings, config: CollapseConfig | None = None, *,
                 aggregator: object = None) -> None:
        self.settings = settings
        self.config = config = config or collapse_config(settings)
        self.receiver = Receiver(settings, config, aggregator)
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(ServeCollector(self.receiver))
        collapse_registry(self.registry, source=self.receiver.pipeline)
        self.store = StateStore(settings.state_file) if settings.state_file else None
        # with a state file the log is always read (what a run with it on left is replayed);
        # it is written only when ``wal`` is on
        self.wal: WriteAheadLog | None = None
        if self.store is not None:
            self.wal = WriteAheadLog(wal_directory(self.store.path), settings.wal_fsync,
                                     settings.wal_fsync_interval_ms)
            self.receiver.wal_log = self.wal
            self.receiver.wal = self.wal if settings.wal else None
        self.ports: dict[str, int] = {}
        self.restore_outcome = "disabled"
        self._servers: list[Any] = []
        self._grpc: Any = None
        self._stop = threading.Event()
        self._house: threading.Thread | None = None
        self._snapshot_lock = forksafe.Lock()

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> Service:
        s = self.settings
        if self.store is not None:
            self.store.check_writable()       # StateError: refuse to start, say why
            self.store.hold()                 # ... or in use by another process
            result = self.store.restore(self.receiver.pipeline.aggregator)
            self.restore_outcome = result.outcome
            if result.outcome == "corrupt":
                with self.receiver.stats._lock:
                    self.receiver.stats.state_corrupt += 1
            try:
                self._replay((result.mark or {}).get("wal") or {})
            except OSError as exc:    # say which file, not "cannot listen"
                # the log is made with the state store, above
                wal = cast(WriteAheadLog, self.wal).directory
                raise StateError(f"cannot use the write-ahead log {wal}: "
                                 f"{exc.strerror or exc}") from None
        app = HttpApp(self.receiver, self.registry, s.token)
        same = s.metrics_port < 0 or s.metrics_port == s.otlp_http_port != 0
        otlp = make_server(s.host, s.otlp_http_port, app, otlp=True, metrics=same)
        self._serve(otlp, "otlp_http")
        if not same:
            self._serve(make_server(s.host, s.metrics_port, app, otlp=False, metrics=True),
                        "metrics")
        else:
            self.ports["metrics"] = self.ports["otlp_http"]
        if s.otlp_grpc_port >= 0:
            if grpc_server.available():
                self._grpc, self.ports["otlp_grpc"] = grpc_server.start_grpc(
                    self.receiver, s.host, s.otlp_grpc_port, s.token, s.grpc_workers)
            else:
                _log.warning("collapse-otel serve: OTLP/gRPC disabled, grpcio is not installed "
                             "(pip install grpcio); OTLP/HTTP is on")
        self._house = threading.Thread(target=self._housekeeping, name="collapse-serve-house",
                                       daemon=True)
        self._house.start()
        self.receiver.ready = True
        _log.info("collapse-otel serve: ready %s (state: %s)", self.ports, self.restore_outcome)
        return self

    def _replay(self, mark: dict) -> None:
        """Queue again what the log holds past the snapshot's mark, before listening."""
        wal, r = self.wal, self.receiver
        assert wal is not None
        covered = int(mark.get("covered", 0))
        r._ingested = covered      # the worker is not running yet
        replayed = bad = 0
        for entry in wal.replay():
            if entry.seq > covered:
                if r.replay(entry, mark):
                    replayed += 1
                else:
                    bad += 1
        wal.start(max(covered, int(mark.get("ingested", 0))) + 1)
        wal.drop_through(covered)   # a crash after a snapshot, before its segments went
        if replayed or bad:
            _log.info("collapse-otel serve: replayed %d logged request(s) the last snapshot "
                      "did not cover (%d unreadable)", replayed, bad)

    def _serve(self, httpd: Any, name: str) -> None:
        self.ports[name] = httpd.server_address[1]
        thread = threading.Thread(target=httpd.serve_forever, name=f"collapse-serve-{name}",
                                  daemon=True)
        thread.start()
        self._servers.append(httpd)

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop intake, count held answers, drain; False when the final snapshot failed."""
        r = self.receiver
        r.closing = True
        self._stop.set()
        if self._grpc is not None:
            self._grpc.stop(grace=5).wait(10)
        for httpd in self._servers:
            httpd.shutdown()
            httpd.server_close()
        r.drain(timeout)
        saved = self.store is None or self.snapshot()
        r.pipeline.shutdown(timeout)
        if self.wal is not None:
            self.wal.close()
        if self.store is not None:
            self.store.release()
        return saved

    def _housekeeping(self) -> None:
        next_snapshot = time.monotonic() + self.settings.snapshot_seconds
        while not self._stop.wait(TICK_SECONDS if self.store is None else
                                  min(TICK_SECONDS, self.settings.snapshot_seconds)):
            try:
                self.receiver.tick()
                if self.store is not None and time.monotonic() >= next_snapshot:
                    self.snapshot()
                    next_snapshot = time.monotonic() + self.settings.snapshot_seconds
            except Exception:   # keep ticking whatever happens
                _log.warning("collapse-otel serve: housekeeping failed", exc_info=True)

    def snapshot(self) -> bool:
        """Write the aggregator state now (False when persistence is off or it failed)."""
        if self.store is None:
            return False
        stats = self.receiver.stats
        with self._snapshot_lock:
            try:
                if not self.receiver.pipeline.barrier(self._save_at_cut, SNAPSHOT_WAIT_SECONDS):
                    raise TimeoutError("the worker did not reach the snapshot")
            except Exception as exc:
                stats.snapshot_done("failure")
                problem = f"the last snapshot to {self.store.path} failed ({type(exc).__name__})"
                self.receiver.snapshot_problem = problem
                _log.warning("collapse-otel serve: %s; /readyz answers 503 until one succeeds",
                             problem)
                return False
            self.receiver.snapshot_problem = None
        with stats._lock:
            stats.last_snapshot_time = time.time()
        stats.snapshot_done("success")
        return True

    def _save_at_cut(self) -> None:
        """On the worker, between batches: the state and the log position it covers, in one
        file; then the log segments it covers go."""
        assert self.store is not None and self.wal is not None
        mark = self.receiver.wal_mark()
        self.wal.rotate()
        self.store.save(self.receiver.pipeline.aggregator, {"wal": mark})
        self.wal.drop_through(mark["covered"])


def wal_directory(state_file: Path) -> Path:
    """``<state file>.wal``, beside the state file."""
    return state_file.with_name(state_file.name + ".wal")


def main(argv: Sequence[str] | None = None) -> int:
    """``collapse-otel serve``: run until SIGTERM / SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        settings, args = resolve(sys.argv[1:] if argv is None else argv)
        service = Service(settings).start()
    except SettingsError as exc:
        sys.stderr.write(f"collapse-otel serve: {_one_line(exc)}\n")
        return 2
    except StateError as exc:
        sys.stderr.write(f"collapse-otel serve: {_one_line(exc)}\n")
        return 1
    except OSError as exc:
        sys.stderr.write(f"collapse-otel serve: cannot listen: {_one_line(exc)}\n")
        return 1
    # The aggregator holds millions of long-lived objects: with the default thresholds a full
    # collection ran every few seconds under load and paused request threads for 60-70 ms
    # (measured). Freeze what start-up built and collect the young generation less often.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    fixed_mmap_threshold()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):   # before anyone is told where we listen
        signal.signal(sig, lambda *_: stop.set())
    if args.print_port_file:
        write_atomic(Path(args.print_port_file), json.dumps(
            {**service.ports, "restore": service.restore_outcome}).encode())
    while not stop.wait(1.0):
        pass
    _log.info("collapse-otel serve: stopping")
    if not service.stop():
        _log.error("collapse-otel serve: the final snapshot failed; answers since the last "
                   "good snapshot are not saved (exit status 1)")
        return 1
    return 0


def fixed_mmap_threshold(size: int = 128 * 1024) -> bool:
    """Blocks of ``size`` bytes and more come from mmap and go back to the system when freed.

    glibc raises its mmap threshold each time such a block is freed (up to 32 MiB); past that,
    the native memory of parsing large requests comes from the heap and stays resident once
    freed. Under an attribute bomb RSS rose to 2-3x what the byte bound allows (measured:
    70-84 MiB over the baseline with a 32 MiB bound, 47 MiB with the threshold fixed). Setting
    it turns the adjustment off. serve's own process only, never a host application's."""
    try:
        import ctypes

        return bool(ctypes.CDLL(None).mallopt(-3, size))   # M_MMAP_THRESHOLD
    except (OSError, AttributeError):   # not glibc
        return False


def _one_line(exc: BaseException) -> str:
    """Operators read the reason in one line (YAML errors span several)."""
    return " ".join(str(exc).split())
