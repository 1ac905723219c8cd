"""The answer hash file: hashes only, mode 0600, bounded by rotation, never raising into the
host; the aggregator writes it on request (COLLAPSE_OTEL_ANSWER_HASH_FILE), on the capture
pipeline's worker thread."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from collapse_otel.audit.inputs import read_hashes
from collapse_otel.compare import window_of_answers
from collapse_otel.config import CollapseConfig
from collapse_otel.engine import Aggregator
from collapse_otel.records import AnswerRecord
from collapse_otel.state.answer_hashes import AnswerHashWriter, answer_hash, writer_for
from collapse_otel.text import normalize, text_hash
from collapse_otel.worker.pipeline import Pipeline

TEXTS = [f"Answer number {i}: the Kestrel office opens at {i} o'clock." for i in range(50)]


def test_lines_are_hashes_of_the_normalised_text_and_the_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "hashes"
    w = AnswerHashWriter(path, 1 << 20)
    assert w.write([AnswerRecord(t) for t in TEXTS[:3]] + [AnswerRecord(None)]) == 3
    assert w.write([AnswerRecord("  ANSWER number 0:  the kestrel OFFICE opens at 0 o'clock. ")]) == 1
    w.close()
    lines = path.read_text().splitlines()
    assert lines[:3] == [f"{text_hash(normalize(t)):016x}" for t in TEXTS[:3]]
    assert lines[3] == lines[0] and all(len(x) == 16 for x in lines)
    assert "Kestrel" not in path.read_text() and "kestrel" not in path.read_text()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert read_hashes(path) == {answer_hash(t) for t in TEXTS[:3]}
    assert (w.written, w.failures) == (4, 0)


def test_rotation_bounds_the_file(tmp_path: Path) -> None:
    path = tmp_path / "hashes"
    w = AnswerHashWriter(path, 10 * 17)   # ten hashes
    for t in TEXTS[:25]:
        w.write([AnswerRecord(t)])
    # 1-10 filled the file; 11 moved them to .1; 21 moved 11-20 there (replacing 1-10)
    assert os.path.getsize(path) == 5 * 17 and os.path.getsize(f"{path}.1") == 170
    assert w.rotations == 2 and w.written == 25
    assert read_hashes(f"{path}.1") == {answer_hash(t) for t in TEXTS[10:20]}
    assert read_hashes(path) == {answer_hash(t) for t in TEXTS[20:25]}


def test_a_file_moved_away_is_reopened(tmp_path: Path) -> None:
    path = tmp_path / "hashes"
    w = AnswerHashWriter(path, 1 << 20)
    w.write([AnswerRecord(TEXTS[0])])
    os.replace(path, tmp_path / "archived")    # logrotate, or another process rotating
    w.write([AnswerRecord(TEXTS[1])])
    assert read_hashes(path) == {answer_hash(TEXTS[1])}
    assert read_hashes(tmp_path / "archived") == {answer_hash(TEXTS[0])}


def test_failures_are_counted_never_raised(tmp_path: Path, caplog) -> None:
    w = AnswerHashWriter(tmp_path / "no-such-dir" / "hashes", 1 << 20)
    assert w.write([AnswerRecord(t) for t in TEXTS[:4]]) == 0
    assert w.write([AnswerRecord(TEXTS[4])]) == 0
    assert (w.written, w.failures) == (0, 5)
    warnings = [r for r in caplog.records if "answer hashes" in r.getMessage()]
    assert len(warnings) == 1 and "FileNotFoundError" in warnings[0].getMessage()
    assert "Kestrel" not in caplog.text

    class Broken:
        @property
        def answer(self):
            raise RuntimeError("unreadable")

    assert w.write([Broken()]) == 0 and w.failures == 6


def test_config_and_environment(tmp_path: Path) -> None:
    assert writer_for(CollapseConfig()) is None
    cfg = CollapseConfig.resolve({"COLLAPSE_OTEL_ANSWER_HASH_FILE": str(tmp_path / "h"),
                                  "COLLAPSE_OTEL_ANSWER_HASH_FILE_MB": "3"})
    w = writer_for(cfg)
    assert w is not None and w.path == str(tmp_path / "h") and w.max_bytes == 3 << 20
    assert not (tmp_path / "h").exists()   # nothing opened before the first answer
    assert CollapseConfig.resolve({"COLLAPSE_OTEL_ANSWER_HASH_FILE_MB": "0"}) == CollapseConfig()


def test_the_pipeline_worker_writes_hashes_on_request(tmp_path: Path) -> None:
    path = tmp_path / "answers.hashes"
    pipeline = Pipeline(CollapseConfig(answer_hash_file=str(path), refresh_seconds=3600))
    try:
        for t in TEXTS:
            assert pipeline.submit(AnswerRecord(t, release="v1"))
        pipeline.submit(AnswerRecord(None, release="v1"))   # content capture off: no hash
        assert pipeline.flush(10)
    finally:
        pipeline.shutdown()
    assert path.read_text().splitlines() == [f"{answer_hash(t):016x}" for t in TEXTS]
    hashes = pipeline.aggregator.answer_hashes
    assert pipeline.stats().records_processed == 51 and hashes.failures == 0


def test_a_failing_hash_file_leaves_the_host_and_the_signals_alone(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    pipeline = Pipeline(CollapseConfig(answer_hash_file=str(blocker / "hashes"),
                                       refresh_seconds=3600))
    try:
        for t in TEXTS[:10]:
            assert pipeline.submit(AnswerRecord(t, release="v1"))
        assert pipeline.flush(10)
    finally:
        pipeline.shutdown()
    assert pipeline.aggregator.answer_hashes.failures == 10
    assert pipeline.stats().records_processed == 10 and pipeline.stats().dropped == {}
    assert pipeline.aggregator.errors_total == 0


def test_a_truncated_answer_is_hashed_whole(tmp_path: Path) -> None:
    path = tmp_path / "h"
    agg = Aggregator(CollapseConfig(answer_hash_file=str(path), max_answer_chars=50))
    long = " ".join(TEXTS)
    agg.observe_batch([AnswerRecord(long), AnswerRecord(TEXTS[0]), AnswerRecord(None)])
    assert path.read_text().splitlines() == [f"{answer_hash(long):016x}",
                                             f"{answer_hash(TEXTS[0]):016x}"]


def test_off_by_default_and_never_from_offline_analysis(tmp_path: Path, monkeypatch) -> None:
    assert Aggregator(CollapseConfig()).answer_hashes is None
    monkeypatch.setenv("COLLAPSE_OTEL_ANSWER_HASH_FILE", str(tmp_path / "h"))
    assert Aggregator().answer_hashes is not None   # the environment asks for it
    window_of_answers(TEXTS)   # compare / audit analyse with their own config: no hashes
    assert not (tmp_path / "h").exists()
