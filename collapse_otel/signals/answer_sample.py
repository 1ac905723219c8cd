"""What the window sample keeps of an answer, so every corpus signal and its spread can be
computed on the same fixed-size sample: the start of its text, its hashed entities and
retrieved context ids, and its unit embedding (float16: half the memory, and its rounding,
about 1e-3 per coordinate, moves the embedding signals by far less than their sampling error).
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np

from .codec import Reader, Writer

TAG_ANSWERS = 12
_TUPLE_BYTES = 56        # an empty tuple's header and slots (CPython)
_INT_BYTES = 40          # a 64-bit int object and its tuple slot
_ITEM_BYTES = 64 + 2 * _TUPLE_BYTES + 33   # the named tuple, two tuples, the bytes header


class SampledAnswer(NamedTuple):
    text: str                    # normalised, at most SAMPLE_CHARS characters
    entities: tuple[int, ...]    # hashed entity mentions
    contexts: tuple[int, ...]    # hashed retrieved context ids
    embedding: bytes             # unit row as float16 bytes; b"" when it had none


def sizeof(item: SampledAnswer) -> int:
    return (sys.getsizeof(item.text) + _ITEM_BYTES + len(item.embedding) +
            _INT_BYTES * (len(item.entities) + len(item.contexts)))


def unit_row(row: np.ndarray | None) -> bytes:
    """A float16 unit-norm copy of an embedding row; b"" for none or a zero / non-finite row."""
    if row is None:
        return b""
    row = np.asarray(row, dtype=np.float64)
    norm = float(np.linalg.norm(row))
    if not np.isfinite(norm) or norm <= 0:
        return b""
    return (row / norm).astype(np.float16).tobytes()


def embedding_matrix(items: list[SampledAnswer]) -> np.ndarray:
    """The unit rows of the items that have one, as float64 (n x dim)."""
    rows = [i.embedding for i in items if i.embedding]
    if not rows:
        return np.zeros((0, 0))
    dim = len(rows[0]) // 2
    rows = [r for r in rows if len(r) == 2 * dim]
    return np.frombuffer(b"".join(rows), dtype=np.float16).reshape(len(rows), dim) \
        .astype(np.float64)


def _lists(w: Writer, lists: list[tuple[int, ...]]) -> None:
    w.array(np.array([len(x) for x in lists], dtype=np.int64), "<i8")
    w.array(np.array([h for x in lists for h in x], dtype=np.uint64), "<u8")


def _read_lists(r: Reader, n: int) -> list[tuple[int, ...]]:
    lengths, flat = r.array("<i8"), r.array("<u8").tolist()
    if len(lengths) != n or (lengths < 0).any() or int(lengths.sum()) != len(flat):
        raise ValueError("sampled answer lists are inconsistent")
    ends = np.cumsum(lengths).tolist()
    return [tuple(flat[e - c:e]) for e, c in zip(ends, lengths.tolist(), strict=True)]


def encode(items: list[SampledAnswer]) -> bytes:
    w = Writer(TAG_ANSWERS, 1).u64(len(items))
    for item in items:
        w.text(item.text)
    _lists(w, [i.entities for i in items])
    _lists(w, [i.contexts for i in items])
    w.array(np.array([len(i.embedding) for i in items], dtype=np.int64), "<i8")
    w.blob(b"".join(i.embedding for i in items))
    return w.getvalue()


def decode(data: bytes) -> list[SampledAnswer]:
    r = Reader(data, TAG_ANSWERS)
    n = r.u64()
    if n > 1 << 24:
        raise ValueError("implausible sample size")
    texts = [r.text() for _ in range(n)]
    entities, contexts = _read_lists(r, n), _read_lists(r, n)
    lengths, blob = r.array("<i8"), r.blob()
    r.done()
    if len(lengths) != n or (lengths < 0).any() or int(lengths.sum()) != len(blob):
        raise ValueError("sampled answer embeddings are inconsistent")
    ends = np.cumsum(lengths).tolist()
    rows = [blob[e - c:e] for e, c in zip(ends, lengths.tolist(), strict=True)]
    return [SampledAnswer(*fields) for fields in zip(texts, entities, contexts, rows,
                                                     strict=True)]
