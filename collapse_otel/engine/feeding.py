"""Feeding an aggregator and reading one stream back: helpers for scripts and tests."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..records import AnswerRecord, StreamKey
from .snapshot import AggregatorSnapshot, WindowSignals

if TYPE_CHECKING:
    from .aggregator import Aggregator

def window_of(snapshot: AggregatorSnapshot, key: StreamKey) -> WindowSignals | None:
    for stream in snapshot.streams:
        if stream.key == key:
            return stream.window
    return None


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
