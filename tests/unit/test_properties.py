"""Property tests: arbitrary unicode and arbitrary records never make the engine raise."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collapse_otel.config import CollapseConfig
from collapse_otel.engine import Aggregator
from collapse_otel.records import AnswerRecord
from collapse_otel.signals import batch
from collapse_otel.signals.corpus import corpus_signals
from collapse_otel.text import normalize, shingle_set, tokenize

AGG = Aggregator(CollapseConfig(refresh_seconds=0, max_streams=20))
unicode_text = st.text(alphabet=st.characters(codec=None, categories=None), max_size=400)
token_value = st.one_of(st.none(), st.integers(-10, 10**9), st.floats(allow_nan=True),
                        st.text(max_size=3), st.booleans())


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(text=unicode_text)
def test_text_functions_never_raise(text):
    tokens = tokenize(text)
    assert tokenize(normalize(text)) == tokens
    shingle_set(tokens)
    batch.seq_rep_n(tokens, 4)
    corpus_signals([normalize(text)])


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(answers=st.lists(st.one_of(st.none(), unicode_text, st.binary(max_size=50)), max_size=8),
       release=unicode_text, cohort=unicode_text, prompt=token_value, completion=token_value,
       ctx=st.lists(st.one_of(unicode_text, st.integers()), max_size=5))
def test_aggregator_never_raises(answers, release, cohort, prompt, completion, ctx):
    records = [AnswerRecord(a, prompt_tokens=prompt, completion_tokens=completion,
                            context_ids=tuple(ctx), release=release, cohort=cohort)
               for a in answers]
    results = AGG.observe_batch(records)
    assert len(results) == len(records)
    snap = AGG.snapshot()
    assert len(snap.streams) <= 20 + 16 + 1


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(texts=st.lists(unicode_text, min_size=1, max_size=6))
def test_batch_token_hashes_equal_per_token_hashes(texts):
    """The one-pass numpy tokeniser/hasher of a batch gives tokenize()'s tokens, hashed."""
    import numpy as np

    from collapse_otel.text.hashing import TokenHasher
    from collapse_otel.text.normalize import clean_text, word_bytes

    cleaned = [clean_text(t) for t in texts]
    batch = TokenHasher().batch([word_bytes(normalize(t)) for t in cleaned])
    per_answer = np.split(batch.tokens, np.cumsum(batch.lengths)[:-1])
    hasher = TokenHasher()
    for text, got in zip(cleaned, per_answer, strict=True):
        assert np.array_equal(got, hasher.hash_tokens(tokenize(text)))


def test_long_tokens_hash_every_word_position_differently():
    """Each 8-byte word of a token has its own multiplier, also past the first 64 words."""
    from collapse_otel.text.hashing import token_hash

    for gap in (8, 64, 65, 200):
        middle = "m" * (8 * (gap - 1))
        assert token_hash("x" * 8 + middle + "y" * 8) != token_hash("y" * 8 + middle + "x" * 8)
