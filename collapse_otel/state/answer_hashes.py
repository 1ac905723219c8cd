"""Hashes of the service's own answers, so a training set can be checked for them later.

On request (``COLLAPSE_OTEL_ANSWER_HASH_FILE``) the aggregator appends one line per answer with
text, as it analyses it (on the capture pipeline's worker thread): the xxh3-64 of its
normalised text, the hash it computes for exact duplicates anyway, as 16 lowercase hex
characters. Only hashes, never text. The file is created with mode 0600 and bounded: when the next batch would
take it past ``COLLAPSE_OTEL_ANSWER_HASH_FILE_MB``, it is renamed to ``FILE.1`` (replacing the
older one) and a new file starts, so at most twice the bound is on disk. ``collapse-otel audit
--own-answers FILE --own-answers FILE.1`` reads them back.

The writer never raises into the host: a failed write is counted (``failures``, answers whose
hash was not written) and logged once per exception kind, without the path's contents.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from .. import forksafe
from ..text.hashing import text_hash
from ..text.normalize import clean_text, normalize

_log = logging.getLogger(__name__)
HASH_CHARS = 16
ROTATED_SUFFIX = ".1"


class _Answer(Protocol):
    @property
    def answer(self) -> str | None: ...


class _Prepared(Protocol):
    """What the writer reads of the aggregator's analysed answer (``PreparedAnswer``)."""

    @property
    def record(self) -> _Answer: ...
    @property
    def has_text(self) -> bool: ...
    @property
    def truncated(self) -> bool: ...
    @property
    def text_hash(self) -> int: ...


def answer_hash(text: str) -> int:
    """xxh3-64 of the normalised text, as the aggregator hashes answers for exact duplicates
    (the whole text: a training row holds the whole answer)."""
    return text_hash(normalize(clean_text(text)))


def format_hash(value: int) -> str:
    return f"{value:0{HASH_CHARS}x}"


class AnswerHashWriter:
    """Appends answer hashes to ``path``; rotates to ``path.1`` past ``max_bytes``."""

    def __init__(self, path: str | os.PathLike[str], max_bytes: int) -> None:
        if max_bytes < HASH_CHARS + 1:
            raise ValueError("max_bytes must hold at least one hash")
        self.path = str(path)
        self.max_bytes = max_bytes
        self.written = 0      # hashes written
        self.failures = 0     # hashes not written because a write failed
        self.rotations = 0
        self._fd: int | None = None
        self._logged: set[str] = set()
        self._lock = forksafe.Lock()   # observe_batch may run on several threads

    def write(self, records: Iterable[object]) -> int:
        """Append the hash of every record's answer that has text; the number written.
        Never raises."""
        try:
            values = [answer_hash(text) for r in records
                      if isinstance(text := getattr(r, "answer", None), str)]
        except Exception as exc:   # a record whose text cannot be read: skip the batch
            self._failed(exc, 1)
            return 0
        return self._write(values)

    def write_prepared(self, prepared: Iterable[_Prepared | None]) -> int:
        """The aggregator's analysed answers (``PreparedAnswer``, None for a failed one):
        the text hash it computed, or the whole text's when it truncated the answer. Never
        raises."""
        try:
            values = [answer_hash(p.record.answer or "") if p.truncated else p.text_hash
                      for p in prepared if p is not None and p.has_text]
        except Exception as exc:
            self._failed(exc, 1)
            return 0
        return self._write(values)

    def _write(self, values: list[int]) -> int:
        if not values:
            return 0
        data = "".join(format_hash(v) + "\n" for v in values).encode("ascii")
        with self._lock:
            try:
                self._append(data)
            except Exception as exc:
                self._close()
                self._failed(exc, len(values))
                return 0
            self.written += len(values)
        return len(values)

    def _append(self, data: bytes) -> None:
        fd = self._current()
        if os.fstat(fd).st_size + len(data) > self.max_bytes:
            self._rotate()
            fd = self._current()
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]

    def _current(self) -> int:
        """The open file, reopened when another process (or a person) moved it away."""
        if self._fd is not None:
            try:
                same = os.path.samestat(os.fstat(self._fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                return self._fd
            self._close()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                           0o600)
        return self._fd

    def _rotate(self) -> None:
        self._close()
        with contextlib.suppress(FileNotFoundError):   # another process rotated it first
            os.replace(self.path, self.path + ROTATED_SUFFIX)
        self.rotations += 1

    def _close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)

    def close(self) -> None:
        with self._lock:
            self._close()

    def _failed(self, exc: BaseException, n: int) -> None:
        self.failures += n
        kind = type(exc).__name__
        if kind not in self._logged:
            self._logged.add(kind)
            _log.warning("collapse-otel: cannot write answer hashes (%s); counted, logged "
                         "once per kind", kind)


def writer_for(config: object) -> AnswerHashWriter | None:
    """The writer a config asks for (``answer_hash_file``), or None. Opens nothing yet and
    never raises."""
    path = getattr(config, "answer_hash_file", "")
    if not path:
        return None
    try:
        return AnswerHashWriter(Path(path).expanduser(),
                                int(getattr(config, "answer_hash_file_mb", 64)) << 20)
    except Exception as exc:   # never into the host
        _log.warning("collapse-otel: answer hashes off (%s)", type(exc).__name__)
        return None
