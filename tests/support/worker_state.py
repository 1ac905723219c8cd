"""A worker's state file as a multiprocess worker writes it, from any aggregator."""

from __future__ import annotations

from collapse_otel.engine import Aggregator
from collapse_otel.multiprocess.files import health_of, save
from collapse_otel.multiprocess.paths import worker_path


def write_worker_state(directory, pid: int, agg: Aggregator, unmatched: int = 0) -> None:
    stats = type("S", (), {"dropped": {}, "queue_depth": 0, "processing_seconds": 0.1,
                           "records_processed": 1, "outcomes_unmatched": {"feedback": unmatched},
                           "references": 10})()
    save(worker_path(directory, pid), agg, {"kind": "worker", "pid": pid, "token": f"t{pid}",
                                            **health_of(agg, stats)})
