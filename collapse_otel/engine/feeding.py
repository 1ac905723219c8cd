"""Feeding an aggregator and reading one stream back: helpers for scripts, tests and the
analysis loop (bounded chunks of records)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..records import AnswerRecord, StreamKey
from .snapshot import AggregatorSnapshot, WindowSignals

if TYPE_CHECKING:
    from .aggregator import Aggregator

CHUNK = 4096  # records analysed together at most (bounded temporary arrays) ...
CHUNK_CHARS = 1 << 18  # ... and at most this much answer text (the analysis holds about 32
#                        bytes per character of a chunk: 8 MiB)


def window_of(snapshot: AggregatorSnapshot, key: StreamKey) -> WindowSignals | None:
    for stream in snapshot.streams:
        if stream.key == key:
            return stream.window
    return None


def chunks(records: Sequence[AnswerRecord]) -> Iterable[Sequence[AnswerRecord]]:
    """Consecutive pieces of at most CHUNK records and CHUNK_CHARS characters of answer text
    (at least one record each), so a batch of long answers is analysed in bounded memory."""
    start, chars = 0, 0
    for i, rec in enumerate(records):
        size = len(rec.answer) if isinstance(rec.answer, str | bytes) else 0
        if i > start and (i - start >= CHUNK or chars + size > CHUNK_CHARS):
            yield records[start:i]
            start, chars = i, 0
        chars += size
    if start < len(records):
        yield records[start:] if start else records


def observe_all(aggregator: Aggregator, records: Iterable[AnswerRecord],
                batch_size: int = 256) -> None:
    """Feed an iterable of records in batches (scripts, tests, the demo)."""
    batch: list[AnswerRecord] = []
    for rec in records:
        batch.append(rec)
        if len(batch) >= batch_size:
            aggregator.observe_batch(batch)
            batch = []
    if batch:
        aggregator.observe_batch(batch)
