"""The aggregator's state as a stream of frames: a header, one frame per stream, an end mark.

Written one stream at a time, so a snapshot holds the aggregator's lock for one stream at a
time, never for the whole state, and never builds a second copy of the whole state in
memory (the frames go straight to their file). Version 1 (a stream count up front instead of
an end mark) is still read.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator

TAG_AGGREGATOR = 50
VERSION = 3      # 3: the header carries the configuration fingerprint
_U64 = struct.Struct("<Q")
MAX_FRAME = 1 << 40   # a length above this is corruption, not a stream

Read = Callable[[int], bytes]


def header(folded: int, fingerprint: dict | None = None) -> bytes:
    fp = json.dumps(fingerprint or {}, sort_keys=True).encode()
    return bytes((TAG_AGGREGATOR, VERSION)) + _U64.pack(folded) + _U64.pack(len(fp)) + fp


def frame(blob: bytes) -> bytes:
    """One stream's bytes with their length (never empty: a stream starts with its tag)."""
    return _U64.pack(len(blob)) + blob


END = _U64.pack(0)


def exact_reader(read: Read) -> Read:
    """``read`` that returns exactly n bytes or raises ValueError (a truncated state)."""
    def take(n: int) -> bytes:
        data = read(n)
        if len(data) != n:
            raise ValueError("truncated aggregator state")
        return data
    return take


def read_frames(read: Read) -> tuple[int, dict | None, Iterator[bytes]]:
    """(records folded by the stream cap, the configuration fingerprint the state was written
    with (None before version 3), the streams' bytes one by one)."""
    take = exact_reader(read)
    tag, version = take(2)
    if tag != TAG_AGGREGATOR:
        raise ValueError(f"wrong state tag {tag} (expected {TAG_AGGREGATOR})")
    if version not in (1, 2, 3):
        raise ValueError(f"unsupported aggregator state version {version}")
    folded = _U64.unpack(take(8))[0]
    count = _U64.unpack(take(8))[0] if version == 1 else None
    fingerprint = None
    if version >= 3:
        size = _U64.unpack(take(8))[0]
        if size > 1 << 16:
            raise ValueError("corrupt aggregator state header")
        try:
            fingerprint = json.loads(take(size))
        except ValueError:
            raise ValueError("corrupt aggregator state fingerprint") from None
        if not isinstance(fingerprint, dict):
            raise ValueError("corrupt aggregator state fingerprint")

    def frames() -> Iterator[bytes]:
        done = 0
        while count is None or done < count:
            size = _U64.unpack(take(8))[0]
            if size == 0 and count is None:
                return
            if size == 0 or size > MAX_FRAME:
                raise ValueError("corrupt aggregator state frame")
            yield take(size)
            done += 1

    return folded, fingerprint, frames()
