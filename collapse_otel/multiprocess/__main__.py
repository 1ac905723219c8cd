"""``python -m collapse_otel.multiprocess``: the standalone exporter of a multiprocess directory.

    python -m collapse_otel.multiprocess --dir /run/collapse --port 9464   # serve /metrics
    python -m collapse_otel.multiprocess --dir /run/collapse --clear       # at deploy
    python -m collapse_otel.multiprocess --dir /run/collapse --mark-dead 4242

Serving runs until SIGTERM or SIGINT. The analysis settings (``COLLAPSE_OTEL_*``) must be
those of the workers: files written under another configuration are skipped.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m collapse_otel.multiprocess", allow_abbrev=False,
                                description="Serve the merged /metrics of a multiprocess "
                                            "directory, or clear it, or archive a dead worker.")
    p.add_argument("--dir", default=None,
                   help="the multiprocess directory (default: COLLAPSE_OTEL_MULTIPROC_DIR)")
    p.add_argument("--host", default=None,
                   help="address to bind (default: COLLAPSE_OTEL_METRICS_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, default=None,
                   help="port to bind (default: COLLAPSE_OTEL_METRICS_PORT, 9464)")
    p.add_argument("--clear", action="store_true",
                   help="remove every collapse-otel file of the directory and exit")
    p.add_argument("--mark-dead", type=int, metavar="PID", default=None,
                   help="archive the state of the dead worker PID and exit")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from ..cli import single_threaded_blas

    single_threaded_blas()
    args = _parser().parse_args(argv)
    from ..config import CollapseConfig

    overrides = {"multiproc_dir": args.dir} if args.dir else {}
    config = CollapseConfig.resolve(**overrides)
    if not config.multiproc_dir:
        print("no directory: pass --dir or set COLLAPSE_OTEL_MULTIPROC_DIR", file=sys.stderr)
        return 2
    from . import clear_directory, mark_process_dead

    if args.clear:
        print(f"removed {clear_directory(config.multiproc_dir)} file(s)")
        return 0
    if args.mark_dead is not None:
        done = mark_process_dead(args.mark_dead, config.multiproc_dir, config=config)
        return 0 if done else 1
    from ..export.server import start_prometheus_server
    from .source import MultiprocessSource

    source = MultiprocessSource(config.multiproc_dir, config)
    server = start_prometheus_server(args.port, args.host, source=source, config=config)
    print(f"serving {server.url} from {config.multiproc_dir}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
