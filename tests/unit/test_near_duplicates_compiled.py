"""The compiled near-duplicate query equals the Python one, on the traffic it exists for.

On templated traffic most answers share LSH buckets with earlier siblings, and the worker ranks,
bounds and verifies candidates for each (the compiled core does it when it is built). Batches of
templated answers checked that way must give the verdicts, similarities, matches, counts and
index state (buckets and histogram caches, so the memory budget counts the same) of the numpy
path checking them one at a time: across two panes, an older pane restored from bytes (its
shingles then 64-bit), exact repeats, unshingled and sketched answers, and known questions.
"""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

from benchmarks.workloads import templated_answers
from collapse_otel.extension import PURE_ENV, compiled_core
from collapse_otel.signals.duplicates import (
    MAX_CANDIDATES,
    SHINGLE_SKETCH,
    DuplicateIndex,
    DuplicateResult,
    band_keys_for,
    check_and_add,
    check_and_add_many,
    compiled_match,
    match_in_window,
)
from collapse_otel.text import normalize, shingle_set, text_hash, tokenize


@pytest.fixture(autouse=True)
def _compiled(monkeypatch):
    monkeypatch.delenv(PURE_ENV, raising=False)
    if compiled_core() is None and os.environ.get("CI") != "true":
        pytest.skip("the extension is not built here (CI always builds it)")


def _answers(n: int, seed: int):
    texts = templated_answers(n, seed=seed)
    rng = random.Random(seed)
    long = " ".join(texts[:12])   # more shingles than the sketch keeps
    texts += [long, long.replace(" the ", " a ", 3), "ok", "", "yes sure"] + texts[:30]
    rng.shuffle(texts)
    hashes = [text_hash(normalize(t)) for t in texts]
    shingles = [(shingle_set(tokenize(t)) >> np.uint64(32)).astype(np.uint32) for t in texts]
    shingles = [s if len(s) < SHINGLE_SKETCH else s[:SHINGLE_SKETCH].copy() for s in shingles]
    keys = [band_keys_for(DuplicateIndex().minhasher, s) for s in shingles]
    questions = [rng.choice((0, 0, 11, 12, 13)) for _ in texts]
    return hashes, shingles, keys, questions


def _window(monkeypatch, pure: bool, batched: bool, n: int = 3000, seed: int = 23):
    """Verdicts and the two panes after the answers ran through them: the first half into a
    pane then restored from its bytes (as after a restart), the second half into a new one."""
    if pure:
        monkeypatch.setenv(PURE_ENV, "1")
    else:
        monkeypatch.delenv(PURE_ENV, raising=False)
    hashes, shingles, keys, questions = _answers(n, seed)
    half = len(hashes) // 2
    older, current = DuplicateIndex(0.8), DuplicateIndex(0.8)
    verdicts: list[DuplicateResult] = []
    for part, panes in ((range(half), [older]), (range(half, len(hashes)), None)):
        if panes is None:
            older = DuplicateIndex.from_bytes(older.to_bytes())
            panes = [older, current]
        if batched:
            for start in range(part.start, part.stop, 256):
                chunk = range(start, min(start + 256, part.stop))
                verdicts += check_and_add_many(panes, [hashes[i] for i in chunk],
                                               [shingles[i] for i in chunk],
                                               [keys[i] for i in chunk], 0.8,
                                               [questions[i] for i in chunk])
        else:
            verdicts += [check_and_add(panes, hashes[i], shingles[i], 0.8, keys[i],
                                       questions[i]) for i in part]
    return verdicts, (older, current)


def test_batched_compiled_checks_equal_one_by_one_numpy_checks(monkeypatch):
    want, _ = _window(monkeypatch, pure=True, batched=False)
    _, want_panes = _window(monkeypatch, pure=True, batched=True)
    got, got_panes = _window(monkeypatch, pure=False, batched=True)
    assert compiled_core() is not None

    assert got == want   # exact, near, similarity bit for bit, match position, cross-question
    assert sum(r.near for r in got) > 500 and sum(r.exact for r in got) > 50
    assert sum(r.near and r.cross_question for r in got) > 50
    assert len({r.max_similarity for r in got if not (r.exact or r.near)}) > 40
    # the index the numpy path leaves batch by batch (an answer added without a check keeps
    # no histogram, so one by one differs there), the histogram caches included
    for a, b in zip(want_panes, got_panes, strict=True):
        assert a.get() == b.get() and a.question_counts() == b.question_counts()
        assert a.text_hashes == b.text_hashes and a._exact == b._exact
        assert a._buckets == b._buckets
        assert all((x is None and y is None) or (x.dtype == y.dtype and np.array_equal(x, y))
                   for x, y in zip(a.shingles, b.shingles, strict=True))
        assert np.array_equal(a._hist_state, b._hist_state) and (a._hist_state == 1).sum() > 500
        assert np.array_equal(a._hist, b._hist)
        assert a.nbytes() == b.nbytes()
        assert a.to_bytes() == b.to_bytes()


def test_the_compiled_query_equals_match_in_window_on_each_answer(monkeypatch):
    """Answer by answer on a full templated window: the compiled query's similarity, match
    and histogram against match_in_window's, with and without two panes."""
    monkeypatch.setenv(PURE_ENV, "1")
    hashes, shingles, keys, questions = _answers(2500, seed=7)
    older, current = DuplicateIndex(0.8), DuplicateIndex(0.8)
    half = len(hashes) // 2
    check_and_add_many([older], hashes[:half], shingles[:half], keys[:half], 0.8)
    check_and_add_many([older, current], hashes[half:], shingles[half:], keys[half:], 0.8)
    monkeypatch.delenv(PURE_ENV, raising=False)
    core = compiled_core()
    assert core is not None
    compared = 0
    for panes in ([older], [older, current], [current]):
        for i in range(0, len(hashes), 7):
            sh = shingles[i]
            if keys[i] is None:
                continue
            for limit in (1, 5, MAX_CANDIDATES):
                hist = panes[-1].histogram(sh)
                want = match_in_window(panes, sh, keys[i], limit, 0.8, floor=0.8, hist=hist)
                got = compiled_match(core, panes, sh, keys[i], limit, 0.8)
                assert got is not None
                assert got[:2] == want
                assert (got[2] is None) == (hist is None)
                if hist is not None:
                    assert got[2] == hist.tobytes()
                compared += 1
    assert compared > 1000


def test_inputs_the_core_cannot_take_fall_back_to_the_python_path(monkeypatch):
    """Signed or 16-bit shingle arrays are not what the worker stores: the compiled query
    refuses them without changing anything, and the check gives the Python path's verdict."""
    core = compiled_core()
    hashes, shingles, keys, _ = _answers(400, seed=3)
    index = DuplicateIndex(0.8)
    check_and_add_many([index], hashes, shingles, keys, 0.8)
    i = next(i for i, k in enumerate(keys) if k is not None and index._buckets.keys() & k)
    before = (index._hist.copy(), index._hist_state.copy())
    assert compiled_match(core, [index], shingles[i].astype(np.int64), keys[i], 64, 0.8) is None
    assert compiled_match(core, [index], shingles[i].astype(np.uint16), keys[i], 64, 0.8) is None
    assert np.array_equal(before[0], index._hist)
    assert np.array_equal(before[1], index._hist_state)
    want = match_in_window([index], shingles[i], keys[i], 64, 0.8, floor=0.8,
                           hist=index.histogram(shingles[i]))
    assert compiled_match(core, [index], shingles[i], keys[i], 64, 0.8)[:2] == want
    assert want[0] >= 0.8   # an exact repeat of an earlier answer's shingles
