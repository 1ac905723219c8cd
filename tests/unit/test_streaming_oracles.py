"""Every streaming form against its exact batch definition; merge(A, B) == A then B; bytes."""

from __future__ import annotations

import random

import numpy as np
import pytest

from collapse_otel.signals import answer_sample, batch
from collapse_otel.signals.accumulators import (
    FrequencyTable,
    MeanAccumulator,
    MomentStats,
)
from collapse_otel.signals.answer_sample import SampledAnswer, unit_row
from collapse_otel.signals.corpus import corpus_signals
from collapse_otel.signals.duplicates import DuplicateIndex, sorted_jaccard
from collapse_otel.signals.embedding import EmbeddingSketch, HashedFeatureEmbedder
from collapse_otel.signals.reservoir import ReservoirSample
from collapse_otel.text import normalize, shingle_set, text_hash, tokenize
from tests.support.data import load_texts

WORDS = [
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon", "phi",
    "chi", "psi", "omega",
]


def make_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 30))) for _ in range(n)]


def test_mean_accumulator_matches_mean_seq_rep():
    token_lists = [tokenize(t) for t in make_texts(200)]
    acc = MeanAccumulator()
    for tokens in token_lists:
        if len(tokens) >= 4:
            acc.update(batch.seq_rep_n(tokens, 4))
    assert acc.get() == pytest.approx(batch.mean_seq_rep_n(token_lists, 4), abs=1e-12)


def test_moments_match_coefficient_of_variation():
    values = [random.Random(1).randint(1, 500) for _ in range(300)]
    m = MomentStats()
    for v in values:
        m.update(v)
    assert m.get() == pytest.approx(batch.coefficient_of_variation(values), rel=1e-9)


def test_sampled_answers_keep_their_parts_through_merge_and_bytes():
    """Entities, context ids and embedding rows ride with sampled answers; merged samples
    and their bytes give back the batch entity and context signals."""
    rng = random.Random(2)
    lists = [[rng.choice("ABCDEFGHIJ") for _ in range(rng.randint(0, 6))] for _ in range(300)]
    ctx = [[f"d{rng.randint(0, 30)}" for _ in range(rng.randint(0, 3))] for _ in range(300)]
    rows = HashedFeatureEmbedder(16).embed([f"answer {i} text" for i in range(300)])
    items = [SampledAnswer(str(i), tuple(text_hash(e) for e in ents),
                           tuple(text_hash(c) for c in ids), unit_row(row))
             for i, (ents, ids, row) in enumerate(zip(lists, ctx, rows, strict=True))]
    a = ReservoirSample(k=1000, seed=1, sizeof=answer_sample.sizeof)
    b = ReservoirSample(k=1000, seed=1, sizeof=answer_sample.sizeof)
    a.update_many(items[:150])
    b.offer(150, lambda i: items[150 + i])
    merged = ReservoirSample.from_bytes(a.merge(b).to_bytes(answer_sample.encode),
                                        answer_sample.decode, answer_sample.sizeof)
    assert merged.get() == items
    assert merged.item_bytes == sum(map(answer_sample.sizeof, items))
    assert batch.entity_diversity([i.entities for i in merged.get()]) == \
        pytest.approx(batch.entity_diversity(lists))
    assert batch.context_diversity([i.contexts for i in merged.get()]) == \
        pytest.approx(batch.context_diversity(ctx))
    X = answer_sample.embedding_matrix(merged.get())
    assert X.shape == (300, 16)
    assert np.abs(X - rows / np.linalg.norm(rows, axis=1, keepdims=True)).max() < 1e-3


def test_frequency_table_matches_context_diversity():
    rng = random.Random(3)
    lists = [[f"doc-{rng.randint(0, 40)}" for _ in range(rng.randint(0, 5))] for _ in range(300)]
    table = FrequencyTable()
    for ids in lists:
        table.update(text_hash(i) for i in ids)
    assert table.get() == pytest.approx(batch.context_diversity(lists), abs=1e-12)


def test_embedding_sketch_matches_batch_on_default_embedder():
    texts = load_texts("xsum_gpt-4.raw_data.json")["sampled"]
    X = HashedFeatureEmbedder(64).embed(texts)
    sketch = EmbeddingSketch(64)
    sketch.update(X[:50])
    sketch.update(X[50:])
    vendi, cosine, rank = sketch.get()
    assert vendi == pytest.approx(batch.vendi_score(X), rel=1e-9)
    assert cosine == pytest.approx(batch.mean_pairwise_cosine_similarity(X), rel=1e-9)
    assert rank == pytest.approx(batch.effective_rank(X), rel=1e-9)


def test_corpus_signals_match_batch_on_our_tokens():
    texts = [normalize(t) for t in load_texts("writing_gpt-4.raw_data.json")["original"]]
    tokens = [tokenize(t) for t in texts]
    got = corpus_signals(texts)
    for n in (1, 2, 3, 4):
        assert got.distinct[n] == pytest.approx(batch.distinct_n(tokens, n), abs=1e-12)
    joined = [tok for t in tokens for tok in t]
    assert got.ngram_diversity_score == pytest.approx(batch.ngram_diversity_score(joined),
                                                      abs=1e-12)
    assert got.self_repetition_score == pytest.approx(batch.self_repetition_score(tokens),
                                                      abs=1e-12)
    assert got.compression_ratio == pytest.approx(batch.compression_ratio(texts, level=6),
                                                  abs=1e-12)


def test_duplicate_index_matches_brute_force():
    """Exact: every duplicate flagged; near: flagged iff some earlier answer has J >= 0.8."""
    rng = random.Random(4)
    base = make_texts(60, seed=5)
    stream = []
    for _ in range(400):
        t = rng.choice(base)
        words = t.split()
        if words and rng.random() < 0.5:
            words[rng.randrange(len(words))] = rng.choice(WORDS)  # small edit
        stream.append(" ".join(words))
    idx = DuplicateIndex()
    seen_text: list[str] = []
    seen_sh: list[np.ndarray] = []
    for t in stream:
        norm = normalize(t)
        sh = shingle_set(tokenize(t))
        res = idx.update(text_hash(norm), sh)
        exact = norm in seen_text
        best = max((batch.jaccard(sh.tolist(), o.tolist()) for o, s in zip(seen_sh, seen_text, strict=True)
                    if s != norm and len(o)), default=0.0)
        assert res.exact == exact
        if not exact:
            # LSH may miss a candidate only with negligible probability at J >= 0.8
            assert res.near == (best >= 0.8 and len(sh) > 0)
            if res.near:
                assert res.max_similarity >= 0.8
        seen_text.append(norm)
        seen_sh.append(sh)


def test_sorted_jaccard_equals_set_jaccard():
    rng = np.random.default_rng(6)
    for _ in range(200):
        a = np.unique(rng.integers(0, 50, rng.integers(0, 30)).astype(np.uint64))
        b = np.unique(rng.integers(0, 50, rng.integers(0, 30)).astype(np.uint64))
        assert sorted_jaccard(a, b) == pytest.approx(batch.jaccard(a.tolist(), b.tolist()))


def test_reservoir_is_exact_until_full_and_uniform_after():
    r = ReservoirSample(k=50, seed=7)
    items = [f"item-{i}" for i in range(40)]
    r.update_many(items)
    assert r.get() == items
    counts = np.zeros(1000)
    for seed in range(400):
        s = ReservoirSample(k=100, seed=seed)
        s.update_many(str(i) for i in range(1000))
        for item in s.get():
            counts[int(item)] += 1
    # each item is kept with probability k/n = 0.1: 40 expected over 400 runs (sd ~6)
    assert counts[:500].mean() == pytest.approx(counts[500:].mean(), rel=0.1)
    assert counts.min() >= 15 and counts.max() <= 70


@pytest.mark.parametrize("seed", [0, 7, 2**63 + 5, 2**64 - 1])
def test_reservoir_draws_in_blocks_equal_the_per_item_rule(seed):
    """The numpy block of draws is Algorithm R's ``rand64(seed, i) % (i + 1)``, item by item,
    so a sample does not depend on how its updates were batched or restored."""
    from collapse_otel.signals.reservoir import _draw_array, _rand64

    first = 1_000_000_007
    assert _draw_array(seed, first, 300).tolist() == [_rand64(seed, i) % (i + 1)
                                                      for i in range(first, first + 300)]
    whole, halves = ReservoirSample(k=20, seed=seed), ReservoirSample(k=20, seed=seed)
    items = [str(i) for i in range(3000)]
    whole.update_many(items)
    one_by_one = ReservoirSample(k=20, seed=seed)
    for item in items:
        one_by_one.update(item)
    assert one_by_one.get() == whole.get()
    halves.update_many(items[:1500])
    restored = ReservoirSample.from_bytes(halves.to_bytes())
    restored.update_many(items[1500:])
    assert restored.get() == whole.get()
    expected: list[str] = []
    for i, item in enumerate(items):  # Algorithm R written out with the scalar draw
        if i < 20:
            expected.append(item)
        elif (j := _rand64(seed, i) % (i + 1)) < 20:
            expected[j] = item
    assert whole.get() == expected


# -- merge(A, B) equals observing A then B, and bytes round-trip --------------------------


def _feed(kind: str, items: list[str]):
    if kind == "mean":
        s = MeanAccumulator()
        for t in items:
            s.update(batch.seq_rep_n(tokenize(t), 2))
    elif kind == "moments":
        s = MomentStats()
        for t in items:
            s.update(len(t))
    elif kind == "freq":
        s = FrequencyTable()
        for t in items:
            s.update(text_hash(w) for w in t.split())
    elif kind == "embedding":
        s = EmbeddingSketch(32)
        s.update(HashedFeatureEmbedder(32).embed(items))
    elif kind == "reservoir":
        s = ReservoirSample(k=500, seed=1)
        s.update_many(items)
    else:
        s = DuplicateIndex()
        for t in items:
            s.update(text_hash(normalize(t)), shingle_set(tokenize(t)))
    return s


def _state(s) -> object:
    out = s.get()
    if isinstance(s, EmbeddingSketch):
        return (s.n, s.sum.round(9).tolist(), s.S.round(9).tolist())
    if isinstance(s, FrequencyTable):
        return (s.total, sorted(s.counts.items()))
    if isinstance(s, ReservoirSample):
        return (s.seen, s.items)
    if isinstance(s, (MeanAccumulator, MomentStats)):
        return tuple(round(v, 9) for v in (s.count, s.total, getattr(s, "total_sq", 0.0)))
    return out


KINDS = ["mean", "moments", "freq", "embedding", "reservoir", "duplicates"]


@pytest.mark.parametrize("kind", KINDS)
def test_merge_equals_sequential(kind):
    texts = make_texts(300, seed=8) + make_texts(50, seed=8)  # repeats make duplicates
    a_items, b_items = texts[:170], texts[170:]
    merged = _feed(kind, a_items).merge(_feed(kind, b_items))
    assert _state(merged) == _state(_feed(kind, texts))


@pytest.mark.parametrize("kind", KINDS)
def test_bytes_round_trip(kind):
    s = _feed(kind, make_texts(120, seed=9))
    back = type(s).from_bytes(s.to_bytes())
    assert _state(back) == _state(s)
    assert back.to_bytes() == s.to_bytes()


@pytest.mark.parametrize("kind", KINDS)
def test_corrupt_bytes_raise_value_error(kind):
    data = _feed(kind, make_texts(20, seed=10)).to_bytes()
    cls = type(_feed(kind, []))
    # structural damage is detected (payload bit flips are the job of the file checksum)
    for bad in (b"", data[:1], bytes([99]) + data[1:], data[:-3], data + b"x",
                bytes([data[0], 9]) + data[2:]):
        with pytest.raises(ValueError):
            cls.from_bytes(bad)


def test_reservoir_merge_when_b_overflowed_is_uniform_over_union():
    a = ReservoirSample(k=100, seed=3)
    a.update_many(f"a{i}" for i in range(1000))
    b = ReservoirSample(k=100, seed=4)
    b.update_many(f"b{i}" for i in range(3000))
    a.merge(b)
    assert a.seen == 4000 and len(a.get()) == 100
    from_b = sum(x.startswith("b") for x in a.get())
    assert 55 <= from_b <= 95  # expected 75 (hypergeometric sd ~4)


def test_lsh_candidate_probabilities_quoted_in_the_docs():
    """10 bands x 3 rows: 0.9992 at J = 0.8 and 1 - 2e-6 at J = 0.9 (docs/signals.md, minhash.py)."""
    from collapse_otel.signals.minhash import MinHasher

    mh = MinHasher()
    assert (mh.bands, mh.rows) == (10, 3)
    assert mh.candidate_probability(0.8) == pytest.approx(0.9992, abs=1e-4)
    assert 1 - mh.candidate_probability(0.9) == pytest.approx(2.2e-6, rel=0.05)
