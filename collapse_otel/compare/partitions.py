"""Answer files and dataset versions cut into Dask partitions (``compare`` and ``audit --dask``).

An uncompressed JSONL file is cut into ``blocksize`` byte blocks at line ends by Dask's own
reader (``dask.bytes.read_bytes``); a gzipped file (gzip cannot be cut) or a CSV one (a row may
span lines) is one partition, which its task reads whole. A partition's rows are read by the
single process's parsers (inputs.py), so they are checked alike and a bad row is named by its
line. Dask is an optional extra, imported only inside ``file_blocks``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

from .inputs import jsonl_rows, read_rows

BLOCKSIZE = 64 * 2**20     # bytes per JSONL partition
SPLIT_EVERY = 8            # partials merged per tree node of a reduction


def file_blocks(path: str, kind: str, blocksize: int = BLOCKSIZE) -> list:
    """The file's partitions as Dask delayed bytes cut at line ends (``[None]``: the whole
    file, read by the partition's task)."""
    import dask

    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    if kind != "jsonl" or gzipped:
        return [None]
    from dask.bytes import read_bytes

    _sample, blocks = read_bytes(path, delimiter=b"\n", blocksize=blocksize, sample=False)
    return blocks[0] or [dask.delayed(b"")]


def partition_rows(path: str, kind: str, data: bytes | None,
                   required: str = "answer") -> Iterator[tuple[int, dict]]:
    """(line, row) of one partition: ``data`` is a JSONL block of ``file_blocks`` (lines
    count from the block's start), None the whole file."""
    if data is not None:
        return jsonl_rows(path, io.BytesIO(data), required)
    return read_rows(path, kind, required)
