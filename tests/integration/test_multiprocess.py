"""Multiprocess mode in one process: state files, the merge, dead workers, the writers."""

from __future__ import annotations

import logging
import os
import random
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from collapse_otel.config import CollapseConfig
from collapse_otel.engine.aggregator import Aggregator
from collapse_otel.engine.feeding import observe_all
from collapse_otel.engine.stream import COUNTERS, StreamState
from collapse_otel.multiprocess import MultiprocessSource, clear_directory, mark_process_dead
from collapse_otel.multiprocess.__main__ import main as exporter_main
from collapse_otel.multiprocess.files import health_of, save, scan, stream_counters
from collapse_otel.multiprocess.paths import worker_path
from collapse_otel.records import AnswerRecord, StreamKey
from collapse_otel.signals.minhash import MinHasher
from collapse_otel.worker.pipeline import Pipeline
from tests.support.waiting import wait_progressing

CFG = CollapseConfig(refresh_seconds=0.0)
WORDS = ["river", "harbour", "bridge", "market", "castle", "tower", "garden", "museum", "station", "square", "north", "south", "old", "new", "green", "quiet", "busy", "early", "late", "grand"]


def records(n: int, seed: int = 3, release: str = "v1", ts: float | None = None
            ) -> list[AnswerRecord]:
    rng = random.Random(seed)
    out: list[AnswerRecord] = []
    for i in range(n):
        if i % 5 == 4:
            text = out[rng.randrange(len(out))].answer
        else:
            text = " ".join(rng.choice(WORDS) for _ in range(30)) + f" item {i}"
        out.append(AnswerRecord(text, 20 + i % 90, 10 + i % 400, (f"doc-{i % 9}",),
                                release=release, timestamp=ts or time.time()))
    return out


def write_worker(directory: Path, pid: int, recs: list[AnswerRecord],
                 config: CollapseConfig = CFG) -> Aggregator:
    agg = Aggregator(config)
    observe_all(agg, recs)
    stats = type("S", (), {"dropped": {"queue_full": 1}, "queue_depth": 2,
                           "processing_seconds": 0.5, "records_processed": len(recs)})()
    save(worker_path(directory, pid), agg, {"kind": "worker", "pid": pid, "token": f"t{pid}",
                                            **health_of(agg, stats)})
    return agg


def split(directory: Path, recs: list[AnswerRecord], workers: int = 3) -> None:
    for w in range(workers):
        write_worker(directory, 100 + w, recs[w::workers])


def one_stream(snapshot):
    assert len(snapshot.streams) == 1
    return snapshot.streams[0]


def test_counter_layout_is_the_stream_state_layout():
    state = StreamState(StreamKey("s", "r", "c"), 1.0, pane_answers=5, pane_seconds=60.0,
                        threshold=0.8, minhasher=MinHasher(), sample_size=10)
    assert tuple(state.counts) == COUNTERS
    agg = Aggregator(CFG)
    observe_all(agg, records(20))
    blob = agg._streams[StreamKey("unknown_service", "v1", "default")].to_bytes()
    key, _, counts, prompt, completion, _ = stream_counters(blob)
    restored = StreamState.from_bytes(blob, threshold=0.8, minhasher=MinHasher(),
                                      sample_size=CFG.sample_size)
    assert (key, counts, prompt, completion) == (restored.key, restored.counts,
                                                 restored.prompt_hist, restored.completion_hist)


def test_merge_of_three_workers_equals_one_process(tmp_path):
    recs = records(300)
    split(tmp_path, recs)
    single = Aggregator(CFG)
    observe_all(single, recs)
    merged = one_stream(MultiprocessSource(tmp_path, CFG).snapshot())
    want = one_stream(single.snapshot(max_age=0))
    assert merged.answers_total == want.answers_total == 300
    assert merged.tokens_total == want.tokens_total
    assert merged.prompt_tokens == want.prompt_tokens
    assert merged.completion_tokens == want.completion_tokens
    assert merged.window.window_answers == 300
    for key in ("exact_duplicate_ratio", "repeated_ngram_within_answer", "completion_tokens_cv",
                "distinct_1", "distinct_4", "context_distinct_ratio", "entities_per_answer",
                "embedding_mean_cosine_similarity"):
        assert merged.window.values[key] == pytest.approx(want.window.values[key], rel=1e-9)
    # each worker counts only the repeats whose first copy it saw itself
    assert merged.duplicate_answers_total["exact"] < want.duplicate_answers_total["exact"]


def test_files_are_private_and_written_atomically(tmp_path):
    split(tmp_path, records(30))
    names = sorted(os.listdir(tmp_path))
    assert names == ["collapse-100.state", "collapse-101.state", "collapse-102.state"]
    assert all(os.stat(tmp_path / n).st_mode & 0o777 == 0o600 for n in names)


def test_health_is_summed(tmp_path):
    split(tmp_path, records(30))
    source = MultiprocessSource(tmp_path, CFG)
    snap, stats = source.snapshot(), source.stats()
    assert stats.records_processed == 30 and stats.queue_depth == 6
    assert stats.dropped == {"queue_full": 3}
    assert snap.memory_budget_bytes == 3 * (CFG.memory_budget_mb << 20)
    assert source.files == {"worker": 3, "archive": 0}


def test_an_incompatible_file_is_skipped_counted_and_logged_once(tmp_path, caplog):
    split(tmp_path, records(30), workers=2)
    write_worker(tmp_path, 200, records(10, seed=9), CollapseConfig(sample_size=50))
    source = MultiprocessSource(tmp_path, CFG, cache_seconds=0)
    with caplog.at_level(logging.WARNING, "collapse_otel"):
        assert one_stream(source.snapshot()).answers_total == 30
        assert one_stream(source.snapshot()).answers_total == 30
    assert source.skipped == {"incompatible": 1}
    assert len([r for r in caplog.records if "another configuration" in r.getMessage()]) == 1


def test_a_corrupt_file_never_fails_a_scrape(tmp_path):
    split(tmp_path, records(30), workers=2)
    (tmp_path / "collapse-300.state").write_bytes(b"COLSTATE" + os.urandom(200))
    good = tmp_path / "collapse-100.state"
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "collapse-301.state").write_bytes(bytes(data))
    source = MultiprocessSource(tmp_path, CFG)
    assert one_stream(source.snapshot()).answers_total == 30
    assert source.skipped == {"corrupt": 2}


def test_unchanged_files_are_not_read_again(tmp_path, monkeypatch):
    split(tmp_path, records(60))
    source = MultiprocessSource(tmp_path, CFG, cache_seconds=0)
    first = source.snapshot()
    from collapse_otel.multiprocess import source as source_module

    def fail(*args, **kwargs):
        raise AssertionError("scanned or recomputed again")

    monkeypatch.setattr(source_module, "scan", fail)
    monkeypatch.setattr(source_module, "compute_window", fail)
    again = source.snapshot()
    assert again is not first and again.streams[0].window is first.streams[0].window


def test_dead_workers_are_archived_and_their_counts_stay(tmp_path):
    recs = records(300)
    split(tmp_path, recs)
    before = one_stream(MultiprocessSource(tmp_path, CFG).snapshot())
    assert mark_process_dead(101, tmp_path, config=CFG)
    assert not mark_process_dead(101, tmp_path, config=CFG)   # nothing left to archive
    assert mark_process_dead(100, tmp_path, config=CFG)
    assert sorted(n for n in os.listdir(tmp_path) if not n.startswith(".")) == [
        "collapse-102.state", "collapse-archive.state"]
    source = MultiprocessSource(tmp_path, CFG)
    after = one_stream(source.snapshot())
    assert after.answers_total == before.answers_total == 300
    assert after.duplicate_answers_total == before.duplicate_answers_total
    assert after.window.window_answers == 300
    for key, value in before.window.values.items():
        if key not in ("compression_ratio", "ngram_diversity_score", "near_duplicate_ratio"):
            assert after.window.values[key] == pytest.approx(value, rel=1e-9), key
    assert source.files == {"worker": 1, "archive": 1}
    assert source.stats().records_processed == 300 and source.stats().queue_depth == 2
    assert os.stat(tmp_path / "collapse-archive.state").st_mode & 0o777 == 0o600


def test_a_worker_being_archived_is_never_counted_twice(tmp_path):
    split(tmp_path, records(90))
    kept = (tmp_path / "collapse-101.state").read_bytes()
    assert mark_process_dead(101, tmp_path, config=CFG)
    (tmp_path / "collapse-101.state").write_bytes(kept)   # as a reader may still list it
    assert one_stream(MultiprocessSource(tmp_path, CFG).snapshot()).answers_total == 90


def test_the_window_of_a_dead_worker_slides_out_with_time(tmp_path):
    cfg = CollapseConfig(refresh_seconds=0.0, window_seconds=60.0)
    write_worker(tmp_path, 100, records(40, ts=time.time() - 3600), cfg)
    write_worker(tmp_path, 101, records(10, seed=8), cfg)
    stream = one_stream(MultiprocessSource(tmp_path, cfg).snapshot())
    assert stream.answers_total == 50 and stream.window.window_answers == 10


def test_the_hooks_are_light_to_import_in_a_gunicorn_master():
    import subprocess
    import sys

    code = ("import sys; from collapse_otel.multiprocess import clear_directory, "
            "mark_process_dead; print('numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_clear_directory_removes_only_collapse_files(tmp_path):
    split(tmp_path, records(30))
    (tmp_path / "other.txt").write_text("x")
    assert clear_directory(tmp_path) == 3
    assert os.listdir(tmp_path) == ["other.txt"]
    assert clear_directory(tmp_path / "new") == 0 and (tmp_path / "new").is_dir()


def test_the_exporter_command_clears_and_archives(tmp_path, capsys, monkeypatch):
    split(tmp_path, records(30))
    monkeypatch.setenv("COLLAPSE_OTEL_REFRESH_SECONDS", "0")
    assert exporter_main(["--dir", str(tmp_path), "--mark-dead", "100"]) == 0
    assert exporter_main(["--dir", str(tmp_path), "--mark-dead", "100"]) == 1
    assert exporter_main(["--dir", str(tmp_path), "--clear"]) == 0
    # two workers' files, the archive and its lock file
    assert "removed 4 file(s)" in capsys.readouterr().out
    assert os.listdir(tmp_path) == []


def mp_config(directory: Path, **kw) -> CollapseConfig:
    return CollapseConfig(multiproc_dir=str(directory), multiproc_write_seconds=0.2,
                          refresh_seconds=0.0, **kw)


def test_a_pipeline_writes_its_state_by_its_worker_and_at_flush(tmp_path):
    p = Pipeline(mp_config(tmp_path))
    try:
        for r in records(20):
            p.submit(r)
        assert p.flush(5)
        path = worker_path(tmp_path)
        with open(path, "rb") as f:
            assert scan(f, path).entries[0].counts["answers"] == 20
        for r in records(5, seed=4):
            p.submit(r)

        def written() -> int:
            with open(path, "rb") as f:
                return scan(f, path).entries[0].counts["answers"]
        # by the worker thread, no flush
        wait_progressing(lambda: written() == 25, "25 answers written", progress=written,
                         poll=0.05)
    finally:
        p.shutdown()


def test_a_failing_write_never_reaches_the_host(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    p = Pipeline(mp_config(blocker / "mp"))
    with caplog.at_level(logging.WARNING, "collapse_otel"):
        for r in records(10):
            assert p.submit(r)
        assert p.flush(5) and p.flush(5)
    p.shutdown()
    assert len([r for r in caplog.records if "multiprocess state" in r.getMessage()]) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_worker_writes_its_own_file(tmp_path):
    p = Pipeline(mp_config(tmp_path))
    try:
        for r in records(7):
            p.submit(r)
        assert p.flush(5)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                ok = all(p.submit(r) for r in records(3, seed=2)) and p.flush(5)
                code = 0 if ok else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert os.path.exists(worker_path(tmp_path, pid))
        assert one_stream(MultiprocessSource(tmp_path, p.config).snapshot()).answers_total == 10
    finally:
        p.shutdown()


def test_a_second_worker_cannot_bind_metrics_and_says_nothing_above_info(tmp_path, caplog,
                                                                          monkeypatch):
    from collapse_otel.capture import instrumentor, metrics_export

    monkeypatch.setattr(metrics_export.ServerRetry, "INTERVAL", 0.1)
    split(tmp_path, records(30))
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    with caplog.at_level(logging.DEBUG, "collapse_otel"):
        inst = instrumentor.instrument(langchain=False, multiproc_dir=str(tmp_path),
                                       prometheus_port=port, refresh_seconds=0.0)
    try:
        assert inst.metrics_server is None
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        taken.close()   # the serving worker exits: this one takes the port over
        wait_progressing(lambda: inst.metrics_server, "the port taken over",
                         progress=lambda: None, poll=0.05)
        body = urllib.request.urlopen(inst.metrics_server.url, timeout=10).read().decode()
        assert 'collapse_answers_total{cohort="default",release="v1",service=' in body
        assert "} 30.0" in body and 'collapse_multiprocess_files{kind="worker"} 3.0' in body
    finally:
        taken.close()
        instrumentor.uninstrument()


def test_an_app_mounted_in_every_worker_serves_the_merged_view(tmp_path, monkeypatch):
    from collapse_otel.export import make_wsgi_app

    split(tmp_path, records(30))
    monkeypatch.setenv("COLLAPSE_OTEL_MULTIPROC_DIR", str(tmp_path))
    app = make_wsgi_app()
    body = b"".join(app({"REQUEST_METHOD": "GET"}, lambda *args: None)).decode()
    assert 'collapse_answers_total{cohort="default",release="v1",service="unknown_service"} ' \
        '30.0' in body
    assert 'collapse_multiprocess_files{kind="worker"} 3.0' in body
    assert 'collapse_multiprocess_files_skipped_total{reason="corrupt"} 0.0' in body


def test_a_failing_merge_keeps_the_last_view_and_never_raises(tmp_path, monkeypatch, caplog):
    from collapse_otel.multiprocess import source as source_module

    split(tmp_path, records(30))
    source = MultiprocessSource(tmp_path, CFG, cache_seconds=0)
    first = source.snapshot()
    monkeypatch.setattr(source, "_open_all", lambda: None)   # the directory keeps changing
    with caplog.at_level(logging.WARNING, "collapse_otel"):
        assert source.snapshot() is first and source.snapshot() is first
    assert len(caplog.records) == 1
    monkeypatch.undo()

    def broken(*args, **kwargs):
        raise ValueError("bad sketch")

    monkeypatch.setattr(source_module, "merge_streams", broken)
    write_worker(tmp_path, 103, records(5, seed=6))   # the stream changed: recomputed
    stream = one_stream(source.snapshot())
    assert stream.answers_total == 35 and stream.window is first.streams[0].window
