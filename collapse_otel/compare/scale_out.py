"""The scale-out options of ``compare`` and ``audit`` (``--dask``, ``--workers``,
``--blocksize``) and the Dask client they open, written once so both commands read alike.

Dask is an optional extra (``pip install 'collapse-otel[distributed]'``), imported only by
``dask_client``: a missing install or an unreachable scheduler becomes the command's usage
error (``dask_failure``), never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

MIB = 2**20


def add_scale_out(parser: argparse.ArgumentParser, what: str, same: str, unit: str) -> None:
    """The option group: ``what`` runs over partitions, ``same`` says what it equals, a
    partition is ``--blocksize`` MiB of an uncompressed JSONL ``unit``."""
    s = parser.add_argument_group("scale-out (pip install 'collapse-otel[distributed]')")
    s.add_argument("--dask", metavar="ADDRESS",
                   help=f"{what} over partitions on this Dask scheduler (tcp://host:8786), "
                        "or 'local' for a cluster of --workers processes on this machine; "
                        f"{same}")
    s.add_argument("--workers", type=int, default=2, metavar="N",
                   help="worker processes of --dask local (default 2)")
    s.add_argument("--blocksize", type=int, default=64, metavar="MIB",
                   help=f"MiB per partition of an uncompressed JSONL {unit} (default 64)")


def scale_out_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the scale-out options, if anything."""
    if args.workers < 1 or args.blocksize < 1:
        return "--workers and --blocksize must be >= 1"
    return None


@contextlib.contextmanager
def dask_client(args: argparse.Namespace) -> Iterator[int]:
    """A Dask client open on the scheduler at ``--dask``, or on a local cluster of
    ``--workers`` processes, closed after; yields the partition size in bytes."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=":0") \
        if args.dask == "local" else None
    try:
        with Client(cluster if cluster is not None else args.dask, timeout="30s"):
            yield args.blocksize * MIB
    finally:
        if cluster is not None:
            cluster.close()


def dask_failure(args: argparse.Namespace, exc: BaseException) -> str | None:
    """The usage error for a failure of ``--dask`` (None: not one, raise it)."""
    if not args.dask:
        return None
    if isinstance(exc, ImportError):
        return "--dask needs Dask: pip install 'collapse-otel[distributed]'"
    if isinstance(exc, OSError):   # the scheduler cannot be reached
        return f"cannot reach the Dask scheduler {args.dask}: {exc}"
    return None
