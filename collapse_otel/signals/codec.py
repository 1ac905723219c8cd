"""A tiny versioned binary codec for sketch state (no pickle: state may cross trust boundaries).

Every sketch's ``to_bytes`` starts with a tag byte and a version byte; readers reject what they
do not know with ValueError, so a corrupt or foreign snapshot is reported, never executed.
"""

from __future__ import annotations

import struct

import numpy as np

_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")


class Writer:
    def __init__(self, tag: int, version: int) -> None:
        self._parts: list[bytes] = [bytes((tag, version))]

    def u64(self, v: int) -> Writer:
        self._parts.append(_U64.pack(v))
        return self

    def f64(self, v: float) -> Writer:
        self._parts.append(_F64.pack(v))
        return self

    def blob(self, b: bytes) -> Writer:
        self._parts.append(_U64.pack(len(b)))
        self._parts.append(b)
        return self

    def text(self, s: str) -> Writer:
        return self.blob(s.encode("utf-8", "surrogatepass"))

    def array(self, a: np.ndarray, dtype: str) -> Writer:
        arr = np.ascontiguousarray(a, dtype=dtype)
        self.u64(arr.ndim)
        for dim in arr.shape:
            self.u64(dim)
        return self.blob(arr.tobytes())

    def int_counts(self, counts: dict[int, int]) -> Writer:
        keys = np.fromiter(counts.keys(), dtype=np.uint64, count=len(counts))
        vals = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
        return self.array(keys, "<u8").array(vals, "<i8")

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


class Reader:
    def __init__(self, data: bytes, tag: int, versions: tuple[int, ...] = (1,)) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) < 2:
            raise ValueError("not a collapse-otel sketch")
        self._d = memoryview(data)
        if self._d[0] != tag:
            raise ValueError(f"wrong sketch tag {self._d[0]} (expected {tag})")
        if self._d[1] not in versions:
            raise ValueError(f"unsupported sketch version {self._d[1]}")
        self.version = self._d[1]
        self._pos = 2

    def _take(self, n: int) -> memoryview:
        if n < 0 or self._pos + n > len(self._d):
            raise ValueError("truncated sketch bytes")
        out = self._d[self._pos:self._pos + n]
        self._pos += n
        return out

    def u64(self) -> int:
        result: int = _U64.unpack(self._take(8))[0]
        return result

    def f64(self) -> float:
        result: float = _F64.unpack(self._take(8))[0]
        return result

    def blob(self) -> bytes:
        return bytes(self._take(self.u64()))

    def text(self) -> str:
        return self.blob().decode("utf-8", "surrogatepass")

    def array(self, dtype: str) -> np.ndarray:
        ndim = self.u64()
        if ndim > 4:
            raise ValueError("bad array rank")
        shape = tuple(self.u64() for _ in range(ndim))
        raw = self.blob()
        arr = np.frombuffer(raw, dtype=dtype)
        if arr.size != int(np.prod(shape, dtype=np.int64)):
            raise ValueError("array size does not match its shape")
        result: np.ndarray = arr.reshape(shape).copy()
        return result

    def int_counts(self) -> dict[int, int]:
        keys = self.array("<u8")
        vals = self.array("<i8")
        if len(keys) != len(vals):
            raise ValueError("count table is inconsistent")
        return dict(zip(keys.tolist(), vals.tolist(), strict=True))

    def done(self) -> None:
        if self._pos != len(self._d):
            raise ValueError("trailing bytes after sketch")
