"""Every leave-group-out value of the jackknife equals the statistic recomputed without that
group (the batch definitions are the oracles)."""

from __future__ import annotations

import gzip
import random

import numpy as np
import pytest

from collapse_otel.signals import batch
from collapse_otel.signals import coverage as C
from collapse_otel.signals import resampling as R
from collapse_otel.signals.embedding import HashedFeatureEmbedder
from collapse_otel.signals.gram_table import GramTables
from collapse_otel.text import normalize, text_hash, tokenize
from collapse_otel.text.hashing import TokenHasher
from collapse_otel.text.normalize import word_bytes
from tests.support.data import load_texts

G = 7


@pytest.fixture(scope="module")
def sample():
    texts = load_texts("xsum_gpt-4.raw_data.json")["sampled"][:60]
    texts = texts + texts[:6]            # shared 4-grams across answers
    norm = [normalize(t) for t in texts]
    group = np.arange(len(norm)) % G
    return norm, group


def _without(items, group, g):
    return [x for x, k in zip(items, group, strict=True) if k != g]


def test_distinct_within_leave_outs_are_exact(sample):
    norm, group = sample
    b = TokenHasher().batch([word_bytes(t) for t in norm])
    for n in (1, 2, 4):
        value, loo = R.distinct_within(GramTables(b, group, G), n)
        tokens = [tokenize(t) for t in norm]
        assert value == pytest.approx(batch.distinct_n(tokens, n))
        for g in range(G):
            assert loo[g] == pytest.approx(batch.distinct_n(_without(tokens, group, g), n))


def _joined_oracle(tokens, group, n, left_out=None):
    """distinct-n of the tokens end to end, an n-gram going with the answer it starts in."""
    flat = [t for ts in tokens for t in ts]
    starts = [k for k, ts in enumerate(tokens) for _ in ts]
    grams = [tuple(flat[i:i + n]) for i in range(len(flat) - n + 1)
             if group[starts[i]] != left_out]
    return len(set(grams)) / len(grams)


def test_joined_distinct_leave_outs_are_exact(sample):
    norm, group = sample
    b = TokenHasher().batch([word_bytes(t) for t in norm])
    tokens = [tokenize(t) for t in norm]
    tables = GramTables(b, group, G)
    for n in (1, 2, 3, 4):
        joined, loo = R.distinct_joined(tables, n)
        assert joined == pytest.approx(_joined_oracle(tokens, group, n), abs=1e-12)
        for g in range(G):
            assert loo[g] == pytest.approx(_joined_oracle(tokens, group, n, g), abs=1e-12)


def test_joined_distinct_counts_boundary_ngrams_once():
    """An n-gram that occurs only across a boundary, and one found both inside an answer and
    across a boundary in another group, are each one distinct n-gram."""
    texts = ["a b", "c d", "b c e", "x a"]
    tokens = [t.split() for t in texts]
    group = np.arange(4) % 2
    tables = GramTables(TokenHasher().batch([word_bytes(t) for t in texts]), group, 2)
    joined, loo = R.distinct_joined(tables, 2)
    assert joined == pytest.approx(_joined_oracle(tokens, group, 2))
    for g in range(2):
        assert loo[g] == pytest.approx(_joined_oracle(tokens, group, 2, g))


def test_joined_distinct_and_self_repetition(sample):
    norm, group = sample
    b = TokenHasher().batch([word_bytes(t) for t in norm])
    tokens = [tokenize(t) for t in norm]
    joined, loo = R.distinct_joined(GramTables(b, group, G), 2)
    flat = [t for ts in tokens for t in ts]
    assert joined == pytest.approx(batch.distinct_n([flat], 2))
    for g in range(G):   # crossing n-grams go with the answer they start in: close, not exact
        rest = [t for ts in _without(tokens, group, g) for t in ts]
        assert loo[g] == pytest.approx(batch.distinct_n([rest], 2), rel=0.01)
    value, loo = R.self_repetition(GramTables(b, group, G), 4)
    assert value == pytest.approx(batch.self_repetition_score(tokens))
    for g in range(G):
        assert loo[g] == pytest.approx(batch.self_repetition_score(_without(tokens, group, g)))


def test_compression_and_keyed_statistics(sample):
    norm, group = sample
    value, loo = R.chunked_compression(norm, group, 6, G)
    assert value == pytest.approx(batch.chunked_compression_ratio(norm, G, 6))
    for g in range(G):
        chunks = [" ".join(norm[i] for i in np.flatnonzero(group == k)).encode()
                  for k in range(G) if k != g]
        raw = sum(map(len, chunks))
        packed = sum(len(gzip.compress(c, 6, mtime=0)) for c in chunks)
        assert loo[g] == pytest.approx(raw / packed)
    rng = random.Random(1)
    lists = [[f"e{int(rng.paretovariate(1.2)) % 90}" for _ in range(rng.randint(0, 12))]
             for _ in norm]
    hashed = [tuple(text_hash(e) for e in ents) for ents in lists]
    counts = R.count_matrix(hashed, group, G)
    for target in (0.5, 0.8):
        hill = C.with_jackknife(counts, target)
        whole = batch.hill_at_coverage((e for x in lists for e in x), target)
        assert [hill[f"q{q}"][0] for q in (0, 1, 2)] == pytest.approx(whole)
        at = hill["coverage"][0]    # the target, or the coverage the sample reaches
        for g in range(G):
            rest = batch.hill_at_coverage((e for x in _without(lists, group, g) for e in x), at)
            assert [hill[f"q{q}"][1][g] for q in (0, 1, 2)] == pytest.approx(rest)
    v, loo = R.keyed_with_jackknife(counts, R.distinct_share)
    assert v == pytest.approx(batch.context_diversity(lists)[0])
    v, loo = R.keyed_with_jackknife(counts, R.top_share)
    for g in range(G):
        assert loo[g] == pytest.approx(batch.context_diversity(_without(lists, group, g))[1])


def test_embedding_leave_outs_match_recomputation():
    """Leave-group-out values from S - S_k equal recomputing without the group."""
    texts = [t for name in ("writing_gpt-4.raw_data.json", "xsum_gpt-4.raw_data.json")
             for t in load_texts(name)["original"]][:300]
    X = HashedFeatureEmbedder(64).embed([normalize(t) for t in texts])
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    group = np.arange(len(X)) % 20
    out = R.embedding_with_jackknife(X, group, 20)
    assert out["vendi"][0] == pytest.approx(batch.vendi_score(X))
    assert out["cosine"][0] == pytest.approx(batch.mean_pairwise_cosine_similarity(X))
    assert out["rank"][0] == pytest.approx(batch.effective_rank(X))
    exact = {"vendi": [], "rank": []}
    for g in range(20):
        rest = X[group != g]
        exact["vendi"].append(batch.vendi_score(rest))
        exact["rank"].append(batch.effective_rank(rest))
        assert out["cosine"][1][g] == pytest.approx(batch.mean_pairwise_cosine_similarity(rest))
    for name, values in exact.items():
        assert out[name][1] == pytest.approx(np.array(values), rel=1e-9)


def test_jackknife_se_of_a_mean_is_the_textbook_one():
    rng = np.random.default_rng(3)
    x = rng.normal(size=400)
    group = np.arange(400) % 20
    loo = np.array([x[group != g].mean() for g in range(20)])
    # for a mean, the delete-group jackknife gives sd / sqrt(n) with groups of equal size
    assert R.jackknife_se(loo) == pytest.approx(x.std(ddof=1) / np.sqrt(400), rel=0.25)
    assert R.jackknife_se(np.array([1.0])) is None
