"""State saved under one configuration and restored under another: what is compatible is
kept, the rest rebuilt and counted; nothing raises on the batches and scrapes that follow."""

from __future__ import annotations

import random

import pytest

from collapse_otel.config import CollapseConfig
from collapse_otel.engine import Aggregator
from collapse_otel.export.prometheus import snapshot_families
from collapse_otel.records import AnswerRecord
from collapse_otel.signals.duplicates import DuplicateIndex
from collapse_otel.signals.minhash import MinHasher
from collapse_otel.signals.reservoir import ReservoirSample
from collapse_otel.state.file import StateStore
from tests.support.vocabulary import VOCAB


def answers(n: int, seed: int) -> list[AnswerRecord]:
    rng = random.Random(seed)
    return [AnswerRecord(" ".join(rng.choice(VOCAB) for _ in range(60)), release="v1",
                         context_ids=(f"d{rng.randrange(50)}",)) for _ in range(n)]


def test_restore_under_another_configuration_keeps_counting(tmp_path):
    old = Aggregator(CollapseConfig(embedding_dim=128, sample_size=400, window_answers=4000,
                                    refresh_seconds=0))
    batch = answers(600, 1)
    old.observe_batch(batch + batch[:50])             # 50 exact repeats
    store = StateStore(tmp_path / "state")
    store.save(old)
    new = Aggregator(CollapseConfig(embedding_dim=64, sample_size=200, window_answers=1000,
                                    near_duplicate_threshold=0.9, refresh_seconds=0))
    assert store.restore(new).outcome == "restored"
    assert new.state_rebuilt.keys() == {"embedder", "sample_size", "threshold", "window"}
    (state,) = new._streams.values()
    assert state.pane_answers == 500 and state.current.sample.k == 200
    assert len(state.current.sample.items) == 200
    assert all(not item.embedding for item in state.current.sample.items)
    # counters survive, and the next batches and scrapes work
    results = new.observe_batch(answers(300, 2) + batch[:10])
    assert all(r is not None for r in results)
    assert sum(r.exact_duplicate for r in results) == 10   # exact hashes were kept
    (stream,) = new.snapshot(max_age=0).streams
    assert stream.answers_total == 650 + 310
    assert stream.duplicate_answers_total["exact"] == 50 + 10
    assert stream.window.get("embedding_vendi_score") is not None   # rebuilt from new answers
    samples = {(s.name, s.labels.get("part")): s.value
               for fam in snapshot_families(new.snapshot()) for s in fam.samples}
    assert samples[("collapse_state_rebuilt_total", "embedder")] >= 1
    assert samples[("collapse_state_rebuilt_total", "window")] == 1


def test_new_lsh_parameters_rekey_the_stored_answers():
    old = Aggregator(CollapseConfig(refresh_seconds=0))
    texts = answers(200, 3)
    old.observe_batch(texts)
    data = old.to_bytes()
    new = Aggregator(CollapseConfig(refresh_seconds=0))
    new._minhasher = MinHasher(bands=8, rows=4)
    new._analyzer.minhasher = new._minhasher
    new.restore(data)
    assert new.state_rebuilt.get("minhash", 0) >= 1
    words = texts[7].answer.split()
    words[3] = "changed"
    result = new.observe(AnswerRecord(" ".join(words), release="v1"))
    assert result.near_duplicate      # found through the re-keyed stored answer


def test_state_from_the_same_configuration_rebuilds_nothing():
    agg = Aggregator(CollapseConfig(refresh_seconds=0))
    agg.observe_batch(answers(100, 4))
    again = Aggregator.from_bytes(agg.to_bytes(), CollapseConfig(refresh_seconds=0))
    assert again.state_rebuilt == {}
    assert again.to_bytes() == agg.to_bytes()


def test_merge_refuses_incompatible_sketches():
    a, b = DuplicateIndex(0.8), DuplicateIndex(0.9)
    with pytest.raises(ValueError):
        a.merge(b)
    with pytest.raises(ValueError):
        DuplicateIndex(0.8).merge(DuplicateIndex(0.8, MinHasher(bands=5, rows=6)))
    with pytest.raises(ValueError):
        ReservoirSample(10).merge(ReservoirSample(20))
    DuplicateIndex(0.8).merge(DuplicateIndex(0.8))   # compatible: fine
