"""Acknowledged means durable: serve logs every accepted request before it answers 200, and
a restart after kill -9 replays what the last snapshot did not cover, exactly once."""

from __future__ import annotations

import http.client
import random
import signal
import stat
import threading
from pathlib import Path

import pytest

from collapse_otel.config import CollapseConfig
from collapse_otel.engine import Aggregator
from collapse_otel.serve.settings import SettingsError, resolve
from collapse_otel.serve.wal import KIND_PROTOBUF, MAGIC, WriteAheadLog
from collapse_otel.state.file import load_into
from tests.support.serve import (
    PROTOBUF,
    ServerProcess,
    answer_text,
    post,
    rag_trace,
    request_of,
    value,
    wait_for,
)


def counted_in(state_file: Path) -> int:
    """Answers the state file holds (what a restarted server would export)."""
    agg = Aggregator(CollapseConfig.resolve(environ={}))
    load_into(state_file, agg)
    return sum(s.answers_total for s in agg.snapshot().streams)


class Client(threading.Thread):
    """Posts OTLP/HTTP protobuf requests on one keep-alive connection until stopped or the
    server goes away. Every request carries whole traces and, to exercise traces that wait
    for their root, answers whose root span comes only in the client's next request."""

    def __init__(self, port: int, seed: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port, self.rng, self.stop = port, random.Random(seed), stop
        self.acked = 0        # answers in requests answered 200
        self.unsure = 0       # answers in requests sent whose answer never came
        self.refused = 0      # answers in requests answered 429 / 503 (not to be counted)
        self.requests = 0

    def _body(self, late_roots: list) -> tuple[bytes, int, list]:
        rng = self.rng
        spans = list(late_roots)
        answers = 0
        later = []
        for i in range(12):
            trace = rag_trace(rng, answer_text(rng, 24), extra_spans=0)
            answers += 1
            if i < 3:     # the root (last span) goes with the next request
                later.append(trace.pop())
            spans.extend(trace)
        release = rng.choice(("v1", "v2"))
        return request_of({("agent", release): spans}).SerializeToString(), answers, later

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        late: list = []
        while not self.stop.is_set():
            body, answers, later = self._body(late)
            try:
                conn.request("POST", "/v1/traces", body, {"Content-Type": PROTOBUF})
                resp = conn.getresponse()
                resp.read()
            except (OSError, http.client.HTTPException):
                self.unsure += answers     # sent, never acknowledged: may or may not count
                return
            self.requests += 1
            if resp.status == 200:
                self.acked += answers
                late = later
            else:
                self.refused += answers
                late = []


@pytest.mark.parametrize("fsync", ["always", "off"])
def test_kill_9_under_load_loses_no_acknowledged_answer(tmp_path, fsync):
    """Rounds of load, each ended by kill -9 at a random moment (snapshots every 0.3 s, so
    some kills land during one), then a restart on the same state. At the end a clean stop
    writes a final snapshot: it must hold every acknowledged answer, and none twice. The
    default policy and the weakest: a killed process loses nothing the kernel has, fsynced
    or not (what fsync adds is a machine crash's guarantee)."""
    state_file = tmp_path / "state" / "collapse.state"
    args = ("--state-file", str(state_file), "--snapshot-seconds", "0.3", "--wal-fsync", fsync)
    rng = random.Random(19)
    clients: list[Client] = []
    leftovers = []
    for round_ in range(5):
        server = ServerProcess(tmp_path, *args)
        leftovers.append(len(list(state_file.parent.glob(".*.tmp-*"))))
        stop = threading.Event()
        batch = [Client(server.info["otlp_http"], 100 * round_ + i, stop) for i in range(3)]
        for c in batch:
            c.start()
        goal = rng.randrange(400, 1200)      # the kill lands at a random moment of the load
        wait_for(lambda b=batch, g=goal: sum(c.acked for c in b) >= g, 120, "load acknowledged")
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(30)
        stop.set()
        for c in batch:
            c.join(60)
        clients.extend(batch)
    with ServerProcess(tmp_path, *args) as server:
        leftovers.append(len(list(state_file.parent.glob(".*.tmp-*"))))
        assert server.stop() == 0
    acked = sum(c.acked for c in clients)
    unsure = sum(c.unsure for c in clients)
    counted = counted_in(state_file)
    print(f"\nkill -9 x5 (fsync {fsync}): acknowledged {acked}, counted {counted}, in flight at the kills "
          f"{unsure}, lost {max(0, acked - counted)}, leftovers at each start {leftovers}")
    assert acked >= 2000
    assert counted >= acked, f"lost {acked - counted} of {acked} acknowledged answers"
    assert counted <= acked + unsure, f"counted {counted - acked - unsure} answers twice"
    assert leftovers == [0] * 6


# -- the log itself -------------------------------------------------------------------------

def test_records_survive_and_a_torn_or_corrupt_tail_is_cut(tmp_path):
    directory = tmp_path / "state" / "s.wal"
    wal = WriteAheadLog(directory, "always")
    list(wal.replay())
    wal.start(1)
    bodies = [b"first", b"second" * 100, b"third"]
    with wal.lock:
        seqs = [wal.append(KIND_PROTOBUF, b) for b in bodies]
    wal.sync(seqs[-1])
    wal.close()
    assert seqs == [1, 2, 3]
    (segment,) = directory.iterdir()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(segment.stat().st_mode) == 0o600
    whole = segment.read_bytes()

    def replayed() -> list[tuple[int, bytes]]:
        log = WriteAheadLog(directory, "off")
        out = [(e.seq, e.body) for e in log.replay()]
        log.start(1)
        log.close()
        return out

    assert replayed() == list(zip(seqs, bodies, strict=True))
    segment.write_bytes(whole[:-2])                  # torn: the crash cut the last record
    assert replayed() == list(zip(seqs[:2], bodies[:2], strict=True))
    assert len(segment.read_bytes()) == len(whole) - 8 - 9 - len(bodies[2])   # cut there
    damaged = bytearray(whole)
    damaged[len(MAGIC) + 8 + 9 + 2] ^= 0xFF          # a flipped bit in the first body
    segment.write_bytes(bytes(damaged))
    assert replayed() == []                          # the checksum refuses it and the rest


def test_undo_takes_back_the_last_record_only(tmp_path):
    wal = WriteAheadLog(tmp_path / "w", "off")
    list(wal.replay())
    wal.start(5)
    with wal.lock:
        a = wal.append(KIND_PROTOBUF, b"kept")
        b = wal.append(KIND_PROTOBUF, b"taken back")
        wal.undo(b)
        c = wal.append(KIND_PROTOBUF, b"next")
    wal.close()
    assert (a, b, c) == (5, 6, 6)
    log = WriteAheadLog(tmp_path / "w", "off")
    assert [(e.seq, e.body) for e in log.replay()] == [(5, b"kept"), (6, b"next")]


def test_settings_name_the_fsync_policies(tmp_path):
    settings, _ = resolve(["--wal-fsync", "interval", "--wal-fsync-interval-ms", "50"],
                          environ={})
    assert (settings.wal, settings.wal_fsync, settings.wal_fsync_interval_ms) == \
        (True, "interval", 50)
    assert resolve([], environ={"COLLAPSE_OTEL_SERVE_WAL": "off"})[0].wal is False
    assert resolve([], environ={})[0].wal_fsync == "always"
    with pytest.raises(SettingsError, match="wal_fsync must be one of"):
        resolve(["--wal-fsync", "sometimes"], environ={})


# -- serve with the log ---------------------------------------------------------------------

def _held_and_whole(seed: int) -> tuple[bytes, int]:
    """One request: a whole trace and an answer whose root never comes (it is held)."""
    rng = random.Random(seed)
    whole = rag_trace(rng, answer_text(rng, 20))
    held = rag_trace(rng, answer_text(rng, 20))[:-1]
    return request_of({("agent", "v1"): whole + held}).SerializeToString(), 2


def test_a_trace_held_at_the_snapshot_is_replayed_once_and_the_rest_not_again(tmp_path):
    """The snapshot between the request and the kill holds the whole trace's answer but not
    the held one: a restart must replay the held trace only (2 answers in the end, not 1
    or 3)."""
    state_file = tmp_path / "collapse.state"
    config = tmp_path / "serve.yaml"
    config.write_text("hold_seconds: 3600\n")
    args = ("--state-file", str(state_file), "--snapshot-seconds", "0.2", "--config",
            str(config))
    server = ServerProcess(tmp_path, *args)
    try:
        body, _ = _held_and_whole(1)
        assert post(server.url, body)[0] == 200
        wait_for(lambda: value(server.metrics(), "collapse_answers_total") == 1, 60,
                 "the whole trace counted")
        assert value(server.metrics(), "collapse_serve_held_traces") == 1
        seen = value(server.metrics(), "collapse_serve_snapshots_total", outcome="success")
        wait_for(lambda: value(server.metrics(), "collapse_serve_snapshots_total",
                               outcome="success") >= seen + 2, 60, "two more snapshots")
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(30)
    finally:
        server.stop()
    assert counted_in(state_file) == 1
    with ServerProcess(tmp_path, *args) as restarted:
        wait_for(lambda: value(restarted.metrics(), "collapse_serve_held_traces") == 1, 60,
                 "the held trace held again")
        assert value(restarted.metrics(), "collapse_serve_wal_replayed_requests_total") == 1
        assert value(restarted.metrics(), "collapse_answers_total") == 1
        assert restarted.stop() == 0            # the final snapshot counts the held answer
    assert counted_in(state_file) == 2


def test_snapshots_delete_the_log_they_cover(tmp_path):
    state_file = tmp_path / "collapse.state"
    wal_dir = tmp_path / "collapse.state.wal"
    with ServerProcess(tmp_path, "--state-file", str(state_file), "--snapshot-seconds",
                       "0.2") as server:
        for seed in range(5):
            assert post(server.url, _held_and_whole(seed)[0])[0] == 200
        logged = value(server.metrics(), "collapse_serve_wal_bytes")
        assert logged > 5 * 1000
        wait_for(lambda: value(server.metrics(), "collapse_serve_wal_bytes") < 1000, 60,
                 "the log covered by a snapshot deleted")
        assert sum(p.stat().st_size for p in wal_dir.iterdir()) < 1000


def test_wal_off_writes_no_log(tmp_path):
    state_file = tmp_path / "collapse.state"
    with ServerProcess(tmp_path, "--state-file", str(state_file), "--wal", "off") as server:
        assert post(server.url, _held_and_whole(3)[0])[0] == 200
        wait_for(lambda: value(server.metrics(), "collapse_answers_total") == 1, 60, "counted")
        assert value(server.metrics(), "collapse_serve_wal_bytes") == 0
    assert list((tmp_path / "collapse.state.wal").iterdir()) == []


def test_a_request_the_log_cannot_take_is_refused_not_acknowledged(tmp_path):
    """Acknowledged means logged: when the log cannot be written (its directory is gone),
    the client gets 503 + Retry-After and retries, instead of a 200 for an answer a crash
    would lose. When the directory is back, requests are taken again."""
    state_dir = tmp_path / "state"
    args = ("--state-file", str(state_dir / "collapse.state"), "--snapshot-seconds", "0.2")
    with ServerProcess(tmp_path, *args) as server:
        assert post(server.url, _held_and_whole(1)[0])[0] == 200
        wait_for((state_dir / "collapse.state").exists, 30, "a first snapshot")
        state_dir.rename(tmp_path / "state.moved")
        state_dir.write_text("a file where the directory was")
        wait_for(lambda: value(server.metrics(), "collapse_serve_snapshots_total",
                               outcome="failure") >= 1, 30, "a failed snapshot")
        code, headers, _ = post(server.url, _held_and_whole(2)[0])
        assert code == 503 and headers.get("Retry-After") == "1"
        assert value(server.metrics(), "collapse_serve_wal_errors_total") == 1
        state_dir.unlink()
        (tmp_path / "state.moved").rename(state_dir)
        wait_for(lambda: post(server.url, _held_and_whole(3)[0])[0] == 200, 30,
                 "requests taken again")


def test_grpc_and_gzip_json_requests_are_replayed_from_the_log(tmp_path):
    """Every kind of logged body replays: OTLP/gRPC (the SDK's exporter) and OTLP/JSON sent
    gzip-compressed, acknowledged, then kill -9 before any snapshot: the restart counts them
    all, once."""
    import gzip
    import json

    grpc = pytest.importorskip("grpc")
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as pb_grpc

    state_file = tmp_path / "collapse.state"
    args = ("--state-file", str(state_file), "--snapshot-seconds", "3600",
            "--otlp-grpc-port", "0")
    server = ServerProcess(tmp_path, *args)
    try:
        rng = random.Random(5)
        spans = [s for _ in range(5) for s in rag_trace(rng, answer_text(rng, 20))]
        with grpc.insecure_channel(f"127.0.0.1:{server.info['otlp_grpc']}") as channel:
            pb_grpc.TraceServiceStub(channel).Export(request_of({("agent", "v1"): spans}),
                                                     timeout=30)
        span = {"traceId": rng.randbytes(16).hex(), "spanId": rng.randbytes(8).hex(),
                "name": "chat", "endTimeUnixNano": "1700000001000000000",
                "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                               {"key": "gen_ai.completion.0.content",
                                "value": {"stringValue": "It opens at nine."}}]}
        body = json.dumps({"resourceSpans": [{"resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "agent"}},
            {"key": "service.version", "value": {"stringValue": "v1"}}]},
            "scopeSpans": [{"spans": [span]}]}]}).encode()
        code, _, _ = post(server.url, gzip.compress(body), "application/json",
                          {"Content-Encoding": "gzip"})
        assert code == 200
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(30)
    finally:
        server.stop()
    with ServerProcess(tmp_path, *args) as restarted:
        assert value(restarted.metrics(), "collapse_serve_wal_replayed_requests_total") == 2
        assert restarted.stop() == 0
    assert counted_in(state_file) == 6


def test_an_unusable_log_directory_stops_serve_with_its_reason(tmp_path):
    import subprocess
    import sys

    from tests.support.serve import REPO

    (tmp_path / "collapse.state.wal").write_text("a file where the log directory goes")
    result = subprocess.run(
        [sys.executable, "-m", "collapse_otel.serve", "--otlp-http-port", "0",
         "--otlp-grpc-port", "-1", "--metrics-port", "0",
         "--state-file", str(tmp_path / "collapse.state")],
        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "cannot use the write-ahead log" in result.stderr, result.stderr


def test_interval_policy_fsyncs_in_the_background(tmp_path):
    """With ``interval`` the request does not wait for the fsync; the sync thread does it
    within the interval."""
    wal = WriteAheadLog(tmp_path / "w", "interval", interval_ms=20)
    list(wal.replay())
    wal.start(1)
    try:
        with wal.lock:
            seq = wal.append(KIND_PROTOBUF, b"body")
        wal.sync(seq)                       # returns at once: not fsynced by the caller
        wait_for(lambda: wal._synced >= seq, 30, "the background fsync")
    finally:
        wal.close()
