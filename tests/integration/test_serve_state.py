"""State across restarts: the snapshot format, corrupt files set aside, kill -9 then restart."""

from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import urllib.error

import pytest

from collapse_otel.config import CollapseConfig
from collapse_otel.engine import Aggregator
from collapse_otel.records import AnswerRecord
from collapse_otel.state import file as state
from collapse_otel.state.file import CorruptState, StateError, StateStore
from tests.support.serve import (
    REPO,
    ServerProcess,
    answer_text,
    by_stream,
    get,
    post,
    rag_trace,
    request_of,
    value,
    wait_for,
)


def filled_aggregator(n: int = 300) -> Aggregator:
    agg = Aggregator(CollapseConfig.resolve(environ={}))
    rng = random.Random(3)
    agg.observe_batch([AnswerRecord(answer_text(rng), 10, 5, (f"d{i % 7}",), service="s",
                                    release=f"v{i % 3}") for i in range(n)])
    return agg


def windows(agg: Aggregator) -> dict:
    snap = agg.snapshot(max_age=0)
    return {s.key: (s.answers_total, s.window.window_answers, s.window.get("exact_duplicate_ratio"))
            for s in snap.streams}


def test_round_trip_and_atomic_file(tmp_path):
    agg = filled_aggregator()
    store = StateStore(tmp_path / "sub" / "state.bin")
    size = store.save(agg)
    assert size == store.path.stat().st_size
    assert [p.name for p in store.path.parent.iterdir()] == ["state.bin"]   # no temp left
    fresh = Aggregator(CollapseConfig.resolve(environ={}))
    assert store.restore(fresh).outcome == "restored"
    assert windows(fresh) == windows(agg)


@pytest.mark.parametrize("damage", ["truncate", "flip", "magic", "version", "empty", "garbage"])
def test_corrupt_snapshot_is_set_aside_never_raises(tmp_path, damage):
    store = StateStore(tmp_path / "state.bin")
    store.save(filled_aggregator(50))
    data = bytearray(store.path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[-10] ^= 0xFF
    elif damage == "magic":
        data[0:8] = b"NOTSTATE"
    elif damage == "version":
        data[8:10] = (99).to_bytes(2, "big")
    elif damage == "empty":
        data = bytearray()
    else:
        data = bytearray(random.Random(1).randbytes(5000))
    store.path.write_bytes(bytes(data))
    with pytest.raises(CorruptState):
        state.decode(bytes(data))
    fresh = Aggregator(CollapseConfig.resolve(environ={}))
    result = store.restore(fresh)
    assert result.outcome == "corrupt" and result.moved_to is not None
    assert not store.path.exists() and result.moved_to.read_bytes() == bytes(data)
    assert fresh.snapshot().streams == ()


def test_valid_checksum_but_foreign_payload_is_set_aside(tmp_path):
    store = StateStore(tmp_path / "state.bin")
    store.path.write_bytes(state.encode(b"not an aggregator at all"))
    assert store.restore(Aggregator(CollapseConfig.resolve(environ={}))).outcome == "corrupt"


def _send(url: str, seed: int, traces: int, release: str) -> None:
    rng = random.Random(seed)
    spans = [s for _ in range(traces) for s in rag_trace(rng, answer_text(rng, 20))]
    assert post(url, request_of({("agent", release): spans}).SerializeToString())[0] == 200


def test_kill_9_then_restart_restores_the_last_snapshot(tmp_path):
    state_file = tmp_path / "collapse.state"
    args = ("--state-file", str(state_file), "--snapshot-seconds", "0.3")
    server = ServerProcess(tmp_path, *args)
    try:
        for i, release in enumerate(("v1", "v2", "v1")):
            _send(server.url, i, 120, release)
        wait_for(lambda: value(server.metrics(), "collapse_answers_total") == 360, 30,
                 "answers analysed")
        # a snapshot that started after the last answer was analysed holds all of them
        seen = value(server.metrics(), "collapse_serve_snapshots_total", outcome="success")
        wait_for(lambda: value(server.metrics(), "collapse_serve_snapshots_total",
                               outcome="success") >= seen + 2, 30, "two more snapshots")
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(10)
    finally:
        server.stop()
    expected_agg = Aggregator(CollapseConfig.resolve(environ={}))
    expected_agg.restore(state.decode(state_file.read_bytes()))   # what the last snapshot held
    expected = windows(expected_agg)
    assert sum(v[0] for v in expected.values()) == 360
    with ServerProcess(tmp_path, *args) as restarted:
        assert restarted.info["restore"] == "restored"
        text = restarted.metrics()
        answers = by_stream(text, "collapse_answers_total")
        assert answers == {tuple(k): float(v[0]) for k, v in expected.items()}
        # window gauges are computed within a time budget per scrape: a busy machine may need
        # a few scrapes before every restored stream has its window
        expected_window = {tuple(k): float(v[1]) for k, v in expected.items()}
        window = wait_for(lambda: (w := by_stream(restarted.metrics(),
                                                  "collapse_window_answers")) == expected_window
                          and w, 60, "every restored window computed")
        assert window[("agent", "v1", "default")] == 240
        # it keeps counting on top of the restored state
        _send(restarted.url, 9, 10, "v2")
        wait_for(lambda: by_stream(restarted.metrics(), "collapse_answers_total")
                 [("agent", "v2", "default")] == 130, 30, "new answers on restored state")


def test_corrupt_state_file_at_start_is_reported_and_the_server_runs(tmp_path):
    state_file = tmp_path / "collapse.state"
    state_file.write_bytes(b"COLSTATE" + b"\x00" * 20)
    with ServerProcess(tmp_path, "--state-file", str(state_file)) as server:
        assert server.info["restore"] == "corrupt"
        text = server.metrics()
        assert value(text, "collapse_serve_state_corrupt_total") == 1
        assert list(tmp_path.glob("collapse.state.corrupt-*"))
        _send(server.url, 1, 5, "v1")
        wait_for(lambda: value(server.metrics(), "collapse_answers_total") == 5, 30, "answers")
    assert state_file.exists()   # the clean shutdown wrote a fresh, valid snapshot
    fresh = Aggregator(CollapseConfig.resolve(environ={}))
    fresh.restore(state.decode(state_file.read_bytes()))
    assert sum(s.answers_total for s in fresh.snapshot().streams) == 5


def test_sigterm_writes_a_final_snapshot(tmp_path):
    state_file = tmp_path / "collapse.state"
    server = ServerProcess(tmp_path, "--state-file", str(state_file), "--snapshot-seconds",
                           "3600")
    _send(server.url, 4, 25, "v3")
    wait_for(lambda: value(server.metrics(), "collapse_answers_total") == 25, 30, "answers")
    assert server.stop(signal.SIGTERM) == 0
    fresh = Aggregator(CollapseConfig.resolve(environ={}))
    fresh.restore(state.decode(state_file.read_bytes()))
    assert sum(s.answers_total for s in fresh.snapshot().streams) == 25


# -- an unusable state location is a configuration error, not a corrupt file ----------------

def test_parent_that_is_a_file_is_not_corrupt(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"a regular file")
    store = StateStore(blocker / "collapse.state")
    with pytest.raises(StateError, match="not-a-dir"):
        store.restore(Aggregator(CollapseConfig.resolve(environ={})))
    with pytest.raises(StateError, match="not writable"):
        store.check_writable()
    assert blocker.read_bytes() == b"a regular file"       # nothing set aside or replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-dir"]


def test_check_writable_creates_the_directory_and_leaves_nothing(tmp_path):
    store = StateStore(tmp_path / "new" / "dir" / "collapse.state")
    store.check_writable()
    assert list((tmp_path / "new" / "dir").iterdir()) == []


def test_command_refuses_to_start_without_a_writable_state_directory(tmp_path):
    blocker = tmp_path / "state-dir"
    blocker.write_text("a file where the directory should be")
    result = subprocess.run(
        [sys.executable, "-m", "collapse_otel.serve", "--otlp-http-port", "0",
         "--otlp-grpc-port", "-1", "--metrics-port", "0",
         "--state-file", str(blocker / "collapse.state")],
        cwd=REPO, capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "collapse-otel serve:" in line]
    assert len(lines) == 1 and "not writable" in lines[0] and str(blocker) in lines[0], \
        result.stderr
    assert blocker.read_text() == "a file where the directory should be"


def _readyz(server: ServerProcess) -> tuple[int, bytes]:
    url = f"http://127.0.0.1:{server.info['otlp_http']}/readyz"
    try:
        return 200, get(url)
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_failing_snapshots_fail_readiness_and_the_exit_status(tmp_path):
    """Without the write-ahead log, spans are still taken while snapshots fail (with it, they
    are refused: see test_serve_wal.py)."""
    state_dir = tmp_path / "state"
    args = ("--state-file", str(state_dir / "collapse.state"), "--snapshot-seconds", "0.2",
            "--wal", "off")
    server = ServerProcess(tmp_path, *args)
    try:
        assert _readyz(server) == (200, b"ready\n")
        wait_for((state_dir / "collapse.state").exists, 30, "a first snapshot")
        state_dir.rename(tmp_path / "state.moved")           # the directory goes away ...
        state_dir.write_text("and a file takes its place")
        code, body = wait_for(lambda: (r := _readyz(server))[0] == 503 and r, 30,
                              "readiness to fail")
        assert b"snapshot" in body and b"failed" in body
        assert value(server.metrics(), "collapse_serve_ready") == 0
        _send(server.url, 5, 3, "v1")                        # spans are still taken
        state_dir.unlink()                                   # ... and comes back
        (tmp_path / "state.moved").rename(state_dir)
        wait_for(lambda: _readyz(server)[0] == 200, 30, "readiness to come back")
        state_dir.rename(tmp_path / "state.moved")
        state_dir.write_text("gone again")
        wait_for(lambda: _readyz(server)[0] == 503, 30, "readiness to fail again")
        assert server.stop(signal.SIGTERM) == 1             # the final snapshot failed too
        assert "snapshot" in server.proc.stderr.read()
    finally:
        server.stop()


# -- crash leftovers and private directories --------------------------------------------------

def test_leftovers_of_any_pid_are_removed_at_start_and_the_state_is_held(tmp_path):
    """kill -9 during a snapshot leaves ``.<name>.tmp-<pid>`` (as large as the state, with
    answer text); the restarted server has another pid, so a cleanup of its own pid's file
    left them forever. Every one is removed at start, whatever pid it names (a live one too:
    with the lock held nobody else writes them)."""
    state_dir = tmp_path / "new" / "state"
    state_file = state_dir / "collapse.state"
    state_dir.mkdir(parents=True)
    leftovers = [state_dir / f".collapse.state.tmp-{pid}" for pid in (1, 4_000_000, os.getpid())]
    leftovers.append(state_dir / ".collapse.state.probe-77")
    for path in leftovers:
        path.write_bytes(b"half a snapshot with answer text" * 1000)
    other = state_dir / ".other.state.tmp-5"     # another state file's: not ours to remove
    other.write_bytes(b"x")
    with ServerProcess(tmp_path, "--state-file", str(state_file)) as server:
        assert [p for p in leftovers if p.exists()] == []
        assert other.exists()
        # a second server on the same state is refused, not left to overwrite it
        result = subprocess.run(
            [sys.executable, "-m", "collapse_otel.serve", *server.args[:8],
             "--state-file", str(state_file)],
            cwd=REPO, capture_output=True, text=True, timeout=60)
        assert result.returncode == 1 and "in use by another process" in result.stderr


def test_state_directories_are_created_private(tmp_path):
    state_file = tmp_path / "a" / "b" / "collapse.state"
    with ServerProcess(tmp_path, "--state-file", str(state_file), "--snapshot-seconds", "0.2"):
        wait_for(lambda: state_file.exists(), 30, "a snapshot")
    for d in (tmp_path / "a", tmp_path / "a" / "b"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
