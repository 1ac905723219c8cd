"""Snapshots never block the aggregator for the whole state, never double its memory, and
are private files."""

from __future__ import annotations

import gc
import io
import os
import random
import stat
import struct
import threading
import time
import tracemalloc

import pytest

from collapse_otel.config import CollapseConfig
from collapse_otel.engine import Aggregator
from collapse_otel.records import AnswerRecord
from collapse_otel.state import file as state
from collapse_otel.state.file import StateStore
from tests.support.vocabulary import VOCAB


def filled(streams: int = 12, per_stream: int = 800) -> Aggregator:
    agg = Aggregator(CollapseConfig(refresh_seconds=3600))
    rng = random.Random(5)
    for s in range(streams):
        agg.observe_batch([AnswerRecord(" ".join(rng.choice(VOCAB) for _ in range(90)),
                                        release=f"v{s}") for _ in range(per_stream)])
    return agg


def windows(agg: Aggregator) -> dict:
    return {s.key: (s.answers_total, s.window) for s in agg.snapshot(max_age=0).streams}


def test_the_lock_is_free_between_streams():
    """A slow writer (a slow disk) must not stop analysis: between two streams' frames the
    aggregator takes new answers. Before, to_bytes held the lock for every stream at once."""
    agg = filled(streams=6, per_stream=300)
    frames, observed_during = [], []

    def slow_write(data: bytes) -> None:
        frames.append(data)
        done = threading.Event()

        def observe() -> None:
            agg.observe_batch([AnswerRecord("a new answer while the snapshot runs",
                                            release="v0")])
            done.set()

        threading.Thread(target=observe, daemon=True).start()
        observed_during.append(done.wait(5))

    agg.write_state(slow_write)
    assert len(frames) == 6 + 2     # header, one frame per stream, end mark
    assert all(observed_during)


def test_a_snapshot_does_not_hold_a_second_copy_of_the_state(tmp_path):
    agg = filled()
    store = StateStore(tmp_path / "state")
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        size = store.save(agg)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert size == store.path.stat().st_size
    assert peak < size / 3, (peak, size)   # one stream's frame at a time, not the whole file
    fresh = Aggregator(CollapseConfig(refresh_seconds=3600))
    assert store.restore(fresh).outcome == "restored"
    assert windows(fresh) == windows(agg)


def test_state_files_are_private(tmp_path):
    store = StateStore(tmp_path / "state")
    store.save(filled(2, 50))
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    seen_modes = []
    real_replace = os.replace

    def spy(src, dst):
        seen_modes.append(stat.S_IMODE(os.stat(src).st_mode))
        return real_replace(src, dst)

    os.replace = spy
    try:
        old_umask = os.umask(0)     # even with a permissive umask
        try:
            store.save(filled(2, 50))
        finally:
            os.umask(old_umask)
    finally:
        os.replace = real_replace
    assert seen_modes == [0o600]
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_version_1_files_are_still_read(tmp_path):
    """The layout before streaming: length and checksum up front, a stream count."""
    agg = filled(3, 100)
    frames = []
    agg.write_state(frames.append)
    header, *streams, end = frames
    assert end == struct.pack("<Q", 0)
    payload_v1 = bytes((50, 1)) + header[2:10] + struct.pack("<Q", len(streams)) + \
        b"".join(streams)
    import hashlib

    path = tmp_path / "old.state"
    path.write_bytes(struct.pack(">8sH6xQ32s", b"COLSTATE", 1, len(payload_v1),
                                 hashlib.sha256(payload_v1).digest()) + payload_v1)
    fresh = Aggregator(CollapseConfig(refresh_seconds=3600))
    assert StateStore(path).restore(fresh).outcome == "restored"
    assert windows(fresh) == windows(agg)
    assert state.decode(path.read_bytes()) == payload_v1


def test_a_corrupt_stream_frame_leaves_the_state_untouched():
    agg = filled(3, 100)
    data = agg.to_bytes()
    target = filled(1, 30)
    before = windows(target)
    with pytest.raises(ValueError):   # cut inside the last stream's frame
        target.restore(data[:-100])
    assert windows(target) == before
    # a checksum failure found after the last stream also leaves it untouched
    target2 = filled(1, 30)
    before2 = windows(target2)

    def bad_checksum() -> None:
        raise state.CorruptState("checksum mismatch")

    buf = io.BytesIO(agg.to_bytes())
    with pytest.raises(state.CorruptState):
        target2.read_state(buf.read, bad_checksum)
    assert windows(target2) == before2


def test_scrapes_go_on_during_a_snapshot(tmp_path):
    agg = filled(8, 400)
    agg.snapshot(max_age=0)
    stop, scrape_times = threading.Event(), []

    def scrape() -> None:
        while not stop.is_set():
            start = time.perf_counter()
            agg.snapshot()
            scrape_times.append(time.perf_counter() - start)

    t = threading.Thread(target=scrape, daemon=True)
    t.start()
    StateStore(tmp_path / "s").save(agg)
    stop.set()
    t.join(5)
    assert scrape_times   # scrapes completed while the snapshot was being written
