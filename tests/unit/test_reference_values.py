"""The exact signal definitions reproduce tests/data/reference/metric-values.json."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from collapse_otel.signals import batch
from collapse_otel.signals.corpus import corpus_signals
from collapse_otel.signals.embedding import EmbeddingSketch
from tests.support.data import REFERENCE, load_texts

SETS = [
    f"{domain}_{model}.raw_data.json:{cohort}"
    for domain in ("pubmed", "writing", "xsum")
    for model in ("davinci", "gpt-3.5-turbo", "gpt-4")
    for cohort in ("original", "sampled")
]


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads((REFERENCE / "metric-values.json").read_text())


def reference_tokens(texts: list[str]) -> list[list[str]]:
    """Tokens exactly as the reference file's `about` says: lower-cased regex \\w+."""
    return [re.findall(r"\w+", t.lower()) for t in texts]


def test_all_eighteen_sets_present(reference):
    assert sorted(reference["text_sets"]) == sorted(SETS)


@pytest.mark.parametrize("key", SETS)
def test_text_set(reference, key):
    ref = reference["text_sets"][key]
    file_name, cohort = key.split(":")
    texts = load_texts(file_name)[cohort]
    assert len(texts) == ref["n_texts"]
    tokens = reference_tokens(texts)
    for n in (1, 2, 3, 4):
        assert batch.distinct_n(tokens, n) == pytest.approx(ref["distinct_n"][str(n)], abs=1e-9)
    assert batch.mean_seq_rep_n(tokens, 4) == pytest.approx(ref["seq_rep_4"], abs=1e-9)
    normalized = [" ".join(t) for t in tokens]
    assert batch.exact_duplicate_rate(normalized) == pytest.approx(
        ref["exact_duplicate_rate"], abs=1e-9)
    joined = " ".join(texts).split(" ")
    assert batch.ngram_diversity_score(joined, 4) == pytest.approx(
        ref["ngram_diversity_score_4_exact"], abs=1e-9)
    assert batch.self_repetition_score([t.split() for t in texts], 4) == pytest.approx(
        ref["self_repetition_score_4_pkg"], abs=1e-9)
    assert batch.compression_ratio(texts) == pytest.approx(
        ref["compression_ratio_gzip_exact"], abs=1e-9)
    assert batch.compression_ratio(texts) == pytest.approx(ref["compression_ratio_gzip_pkg"],
                                                           abs=0.02)


@pytest.mark.parametrize("key", SETS)
def test_streaming_corpus_signals_match_reference(reference, key):
    """The hashed numpy path used by the aggregator gives the same numbers."""
    ref = reference["text_sets"][key]
    file_name, cohort = key.split(":")
    texts = load_texts(file_name)[cohort]
    fast = corpus_signals(texts, token_lists=reference_tokens(texts))
    for n in (1, 2, 3, 4):
        assert fast.distinct[n] == pytest.approx(ref["distinct_n"][str(n)], abs=1e-9)
    assert corpus_signals(texts, token_lists=[t.split() for t in texts]).self_repetition_score \
        == pytest.approx(ref["self_repetition_score_4_pkg"], abs=1e-9)
    # the streaming gauge compresses at level 6: within 1.5% of the level-9 reference
    assert fast.compression_ratio == pytest.approx(ref["compression_ratio_gzip_exact"], rel=0.015)


@pytest.fixture(scope="module")
def embeddings() -> np.ndarray:
    return np.load(REFERENCE / "embeddings.npy")


@pytest.mark.parametrize("name", ["all", "diffuse_only", "tight_only"])
def test_embedding_reference(reference, embeddings, name):
    ref = reference["embeddings"]["sets"][name]
    lo, hi = ref["rows"]
    X = embeddings[lo:hi]
    rel = 1e-6
    assert batch.vendi_score(X, q=1.0) == pytest.approx(ref["vendi_q1_pkg"], rel=rel)
    assert batch.vendi_score(X, q=2.0) == pytest.approx(ref["vendi_q2_pkg"], rel=rel)
    assert batch.mean_pairwise_cosine_similarity(X) == pytest.approx(
        ref["mean_pairwise_cosine_similarity"], rel=rel)
    assert batch.effective_rank(X) == pytest.approx(ref["effective_rank"], rel=rel)
    # the streaming sketch, fed in uneven blocks, gives the same values
    sketch = EmbeddingSketch(X.shape[1])
    for block in np.array_split(X, 7):
        sketch.update(block)
    vendi, cosine, rank = sketch.get()
    assert vendi == pytest.approx(ref["vendi_q1_pkg"], rel=rel)
    assert sketch.vendi_score(2.0) == pytest.approx(ref["vendi_q2_pkg"], rel=rel)
    assert cosine == pytest.approx(ref["mean_pairwise_cosine_similarity"], rel=rel)
    assert rank == pytest.approx(ref["effective_rank"], rel=rel)
