"""Audit dataset versions on a Dask cluster; the figures equal the single-process audit's.

    pip install 'collapse-otel[distributed]'
    python examples/audit_on_dask.py                      # a 2-worker cluster on this machine
    python examples/audit_on_dask.py tcp://scheduler:8786 v1.jsonl v2.jsonl   # a real cluster

Without files it writes two small versions and a holdout to a temporary directory. On a real
cluster every worker must read the files at the same path (a shared file system), and runs
the same collapse-otel version as this driver.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from distributed import Client, LocalCluster

from collapse_otel.audit.distributed import run_audit_distributed
from collapse_otel.audit.engine import AuditOptions
from collapse_otel.audit.inputs import Holdout
from collapse_otel.audit.report import render_text


def _sample(tmp: Path) -> tuple[list[str], Holdout]:
    rows = [{"text": f"Answer {i}: the report for region {i % 17} is ready and shows "
                     f"{i * 7 % 101} open items for week {i % 52}.",
             "source": "synthetic" if i % 3 == 0 else "human"} for i in range(3000)]
    paths = []
    for n, part in enumerate((rows[:1500], rows[1500:]), 1):
        path = tmp / f"v{n}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in part))
        paths.append(str(path))
    return paths, Holdout("holdout", [1], [rows[42]["text"]])


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        if len(argv) > 1:
            address, paths, holdout = argv[0], argv[1:], None
        else:
            address = argv[0] if argv else None
            paths, holdout = _sample(Path(tmp))
        cluster = None if address else LocalCluster(n_workers=2, threads_per_worker=1,
                                                    host="127.0.0.1", dashboard_address=None)
        try:
            with Client(address or cluster):
                result = run_audit_distributed(paths, AuditOptions(diversity=None),
                                               holdout=holdout, blocksize=64 * 2**20)
        finally:
            if cluster is not None:
                cluster.close()
    sys.stdout.write(render_text(result))
    return result.exit_status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
