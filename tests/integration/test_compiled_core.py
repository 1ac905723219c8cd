"""The compiled core gives exactly the numpy path's values (its oracle) on real, odd and huge
text; the package runs on the numpy path when the extension is missing or forbidden; and the
core releases the interpreter lock while it works."""

from __future__ import annotations

import os
import re
import sys
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collapse_otel.engine.analysis import BatchAnalyzer
from collapse_otel.engine.hash_core import (
    PURE_ENV,
    compiled_batch_hashes,
    compiled_core,
    numpy_batch_hashes,
)
from collapse_otel.records import AnswerRecord
from collapse_otel.signals.embedding import HashedFeatureEmbedder
from collapse_otel.signals.minhash import MinHasher
from collapse_otel.text.entities import RuleBasedEntityExtractor
from collapse_otel.text.hashing import WORD_K, TokenHasher
from collapse_otel.text.normalize import clean_text, normalize, word_bytes
from tests.support.multilingual import VARIED
from tests.support.waiting import run_watched

ODD = [
    "", " ", "\n\t  ", "!!! ... ???", "a", "a b", "a b c", "a b c d", "a b c d e",
    "the the the the the the the the the the", "x" * 7, "y" * 8, "z" * 9, "w" * 600,
    "_" * 65, "a_b 0 9 __init__ 3.14159 1e-9", "ünïcödé wörds façade naïve",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ＦＵＬＬＷＩＤＴＨ ﬁ ligature ㎏ ½", "emoji 😀 👩‍👩‍👧 ❤️ text 🇫🇷",
    "e\u0301 combining a\u0308 marks \u200b zero\u200dwidth \ufeff bom",
    "lone \ud800 surrogate \udfff here", "nul\x00byte and \x7f del and \x1b esc",
    "Ελληνικά κείμενα και Кириллица текст и עברית טקסט", "한국어 문장은 띄어쓰기를 합니다",
    "mixed 中文 and English 和 日本語 text ไทย", "ab" * 2000, ("word " * 20_000).strip(),
]


def _texts() -> list[str]:
    from benchmarks.workloads import data_answers

    real = data_answers(offsets=(0, 37))[:700]
    varied = [t for texts in VARIED.values() for t in texts]
    return real + varied + ODD + [" ".join(real[:300])]  # one huge answer among short ones


def _pieces(texts: list[str]) -> list[bytes]:
    return [word_bytes(normalize(clean_text(t))) for t in texts]


def _assert_equal(pieces: list[bytes], minhasher: MinHasher, seq_n: int = 4, shingle_n: int = 5,
                  dim: int = 128) -> None:
    core = compiled_core()
    assert core is not None
    want = numpy_batch_hashes(pieces, minhasher, seq_n=seq_n, shingle_n=shingle_n, dim=dim)
    got = compiled_batch_hashes(core, pieces, minhasher, seq_n=seq_n, shingle_n=shingle_n,
                                dim=dim)
    assert np.array_equal(got.batch.tokens, want.batch.tokens)
    assert np.array_equal(got.batch.lengths, want.batch.lengths)
    for name in ("seq_total", "seq_unique", "shingles", "shingle_counts", "band_keys"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert np.array_equal(a, b), name
    if dim:
        assert got.embedding.shape == want.embedding.shape
        # bit for bit, sign of zero included
        assert got.embedding.tobytes() == want.embedding.tobytes()
    else:
        assert got.embedding is None and want.embedding is None


@pytest.fixture(autouse=True)
def _compiled(monkeypatch):
    monkeypatch.delenv(PURE_ENV, raising=False)
    if compiled_core() is None and os.environ.get("CI") != "true":
        pytest.skip("the extension is not built here (CI always builds it)")


def test_the_extension_is_built():
    assert compiled_core() is not None   # in CI the fixture does not skip: this fails there


def test_equal_on_real_multilingual_odd_and_huge_text():
    _assert_equal(_pieces(_texts()), MinHasher())


@pytest.mark.parametrize(("bands", "rows", "seed", "seq_n", "shingle_n", "dim"), [
    (10, 3, 0x5EED, 4, 5, 100),   # a dimension that is not a power of two
    (1, 1, 1, 1, 1, 0),           # no embedding, unigram shingles
    (7, 4, 99, 2, 3, 2),
    (20, 5, 7, 9, 12, 1024),
])
def test_equal_under_other_parameters(bands, rows, seed, seq_n, shingle_n, dim):
    _assert_equal(_pieces(_texts()[:200] + ODD), MinHasher(bands, rows, seed), seq_n,
                  shingle_n, dim)


def test_equal_on_raw_bytes_and_empty_batches():
    """Bytes no tokeniser would produce (every byte value, long runs) and batches of none."""
    rng = np.random.default_rng(5)
    raw = [bytes(rng.integers(0, 256, size=n, dtype=np.uint8)) for n in (0, 1, 8, 63, 4096)]
    raw += [bytes(range(256)) * 3, b"\xff" * 1000, b" " * 10]
    _assert_equal(raw, MinHasher())
    _assert_equal([], MinHasher())
    _assert_equal([b""] * 5, MinHasher())


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300),
                max_size=12))
def test_equal_on_random_text(texts):
    _assert_equal(_pieces(texts), MinHasher())


def test_long_tokens_use_derived_word_multipliers():
    """Tokens over 64 words (512 bytes) reach the multipliers derived past the table."""
    assert len(WORD_K) == 64
    long = [b"q" * 513, b"r" * 1024 + b" s", bytes(range(0x80, 0x100)) * 9]
    _assert_equal(long, MinHasher())
    hasher = TokenHasher()
    got = compiled_batch_hashes(compiled_core(), long, MinHasher(), seq_n=4, shingle_n=5)
    assert got.batch.tokens[0] == hasher.hash_tokens([b"q" * 513])[0]


def _prepared(monkeypatch, pure: bool) -> list:
    if pure:
        monkeypatch.setenv(PURE_ENV, "1")
    else:
        monkeypatch.delenv(PURE_ENV, raising=False)
    analyzer = BatchAnalyzer(max_answer_chars=100_000,
                             entity_extractor=RuleBasedEntityExtractor(),
                             embedder=HashedFeatureEmbedder(128), minhasher=MinHasher(),
                             hasher=TokenHasher())
    records = [AnswerRecord(t, timestamp=1.0) for t in _texts()[:300] + ODD]
    return analyzer.prepare(records)


def test_the_analysis_is_the_same_on_either_path(monkeypatch):
    """What the aggregator receives per answer, compiled against forced numpy."""
    compiled = _prepared(monkeypatch, pure=False)
    assert compiled_core() is not None
    numpy = _prepared(monkeypatch, pure=True)
    assert compiled_core() is None   # the variable forces the fallback
    assert len(compiled) == len(numpy)
    for a, b in zip(compiled, numpy, strict=True):
        assert (a.seq_rep, a.band_keys, a.text_hash) == (b.seq_rep, b.band_keys, b.text_hash)
        assert (a.shingles is None) == (b.shingles is None)
        if a.shingles is not None:
            assert a.shingles.dtype == b.shingles.dtype
            assert np.array_equal(a.shingles, b.shingles)
        assert a.embedding.tobytes() == b.embedding.tobytes()


_RUN = """
import sys
{block}
from collapse_otel.engine.aggregator import Aggregator
from collapse_otel.engine.feeding import observe_all
from collapse_otel.config import CollapseConfig
from collapse_otel.engine.hash_core import compiled_core
from collapse_otel.records import AnswerRecord
from dataclasses import replace
from benchmarks.workloads import data_answers, generated_answers
agg = Aggregator(CollapseConfig(refresh_seconds=3600))
texts = data_answers()[:300] + generated_answers(400)  # 10% near copies among the generated
observe_all(agg, [AnswerRecord(t) for t in texts])
snap = agg.snapshot(max_age=0)
print(compiled_core() is not None)
print([repr(replace(s, first_seen=0.0)) for s in snap.streams])
"""


def _run(block: str, env: dict[str, str]) -> list[str]:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = run_watched([sys.executable, "-c", _RUN.format(block=block)], cwd=root,
                       env={**os.environ, "PYTHONPATH": root, **env})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.splitlines()


def test_the_package_runs_without_the_extension_with_the_same_results():
    """A process where the extension cannot be imported (as when it failed to build), one where
    the variable forbids it, and one that uses it: the same stream values."""
    used = _run("", {})
    missing = _run("sys.modules['collapse_otel._ccore'] = None", {})
    forced = _run("", {PURE_ENV: "1"})
    assert used[0] == "True" and missing[0] == "False" and forced[0] == "False"
    assert used[1] == missing[1] == forced[1]
    near = re.search(r" duplicate_answers_total=[^{]*\{'exact': \d+, 'near': (\d+)", used[1])
    assert "repeated_ngram_within_answer" in used[1] and int(near.group(1)) > 0


def test_the_core_releases_the_interpreter_lock():
    """With a switch interval of 1000 s the main thread gets the lock back from a busy thread
    only if that thread releases it: it does so inside the compiled call, so the main thread
    runs while the call is still under way."""
    core, minhasher = compiled_core(), MinHasher()
    pieces = [b"many words repeated over and over again " * 5_000] * 40
    state = {"in_call": False, "seen_in_call": None}
    started = threading.Event()

    def work():  # nothing between the flag and the call may release the lock
        state["in_call"] = True
        started.set()
        core.batch(pieces, WORD_K, minhasher._a, minhasher._band_salt, 10, 3, 4, 5, 128)
        state["in_call"] = False

    old = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        worker = threading.Thread(target=work)
        worker.start()
        started.wait()
        state["seen_in_call"] = state["in_call"]
        worker.join()
    finally:
        sys.setswitchinterval(old)
    assert state["seen_in_call"] is True


def test_the_variable_is_read_at_every_batch(monkeypatch):
    monkeypatch.setenv(PURE_ENV, "yes")
    assert compiled_core() is None
    monkeypatch.setenv(PURE_ENV, "0")
    assert compiled_core() is not None
