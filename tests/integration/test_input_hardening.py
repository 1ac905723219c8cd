"""Bad input on every capture path: long labels keep their identity, odd types are read as a
user means them, a record that cannot be read is isolated, long answers cost bounded work."""

from __future__ import annotations

import json
import random
import tracemalloc

import numpy as np
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from collapse_otel.capture.observe import observe
from collapse_otel.capture.span_processor import CollapseSpanProcessor
from collapse_otel.config import CollapseConfig
from collapse_otel.engine import Aggregator
from collapse_otel.records import AnswerRecord
from collapse_otel.serve.decode import batch_of
from collapse_otel.serve.traces import TraceAssembler
from collapse_otel.signals.batch import jaccard, ngrams
from collapse_otel.signals.duplicates import SHINGLE_SKETCH, DuplicateIndex, sorted_jaccard
from collapse_otel.spans.build import as_text, make_record
from collapse_otel.text import normalize, shingle_set, text_hash, tokenize
from tests.support.capture import make_pipeline
from tests.support.serve import answer_text, rag_trace, request_of
from tests.support.vocabulary import VOCAB

PREFIX = "release-" + "x" * 140          # two releases that differ only after character 128
RELEASES = (PREFIX + "-a", PREFIX + "-b")


def _releases(agg: Aggregator) -> set[str]:
    return {s.key.release for s in agg.snapshot(max_age=0).streams}


def test_long_releases_stay_apart_through_observe():
    pipeline, agg = make_pipeline()
    for release in RELEASES:
        assert observe("an answer", release=release, pipeline=pipeline)
    pipeline.flush()
    releases = _releases(agg)
    assert len(releases) == 2
    assert all(len(r) == 128 and r[-9] == "~" for r in releases)


def test_long_releases_stay_apart_through_the_span_processor():
    pipeline, agg = make_pipeline()
    for release in RELEASES:
        provider = TracerProvider(resource=Resource.create({"service.version": release}))
        provider.add_span_processor(CollapseSpanProcessor(pipeline=pipeline))
        with provider.get_tracer("t").start_as_current_span("chat") as span:
            span.set_attribute("gen_ai.operation.name", "chat")
            span.set_attribute("gen_ai.output.messages", json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": "hi there"}]}]))
        provider.shutdown()
    pipeline.flush()
    assert len(_releases(agg)) == 2


def test_long_releases_stay_apart_through_serve():
    rng = random.Random(1)
    spans = {("svc", r): rag_trace(rng, answer_text(rng)) for r in RELEASES}
    assembler = TraceAssembler(CollapseConfig())
    records = assembler.ingest(batch_of(request_of(spans)))
    assert len({r.release for r in records}) == 2


def test_context_ids_given_as_one_string_are_one_id():
    cfg = CollapseConfig()
    assert make_record(cfg, "a", context_ids="doc-42").context_ids == ("doc-42",)
    assert make_record(cfg, "a", context_ids=b"doc-42").context_ids == ("doc-42",)
    long_ids = ["https://example.org/" + "p" * 300 + str(i) for i in range(2)]
    ids = make_record(cfg, "a", context_ids=long_ids).context_ids
    assert len(set(ids)) == 2 and all(len(i) == 256 for i in ids)


def test_a_bytes_answer_is_cut_before_it_is_decoded():
    """A 50 MB bytes answer was decoded whole on the caller's thread."""
    big = b"word " * 10_000_000
    tracemalloc.start()
    try:
        text = as_text(big, 100_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(text) == 400_004 and peak < 2_000_000
    record = make_record(CollapseConfig(), big)
    assert len(record.answer) == 100_001   # one extra char: "it was longer"
    multibyte = "é".encode() * 300_000    # cut inside a character: no stray replacement
    assert make_record(CollapseConfig(), multibyte).answer == "é" * 100_001


class Unhashable(str):
    def __hash__(self) -> int:
        raise RuntimeError("this label cannot be hashed")


class Unprintable:
    def __str__(self) -> str:
        raise ValueError("nor printed")


def test_a_record_whose_labels_cannot_be_read_is_isolated():
    """One such record used to fail its whole batch: 150 good records lost, some counted
    twice. Now it alone is dropped (and counted), the others are counted exactly once."""
    pipeline, agg = make_pipeline()
    good = [AnswerRecord(f"answer number {i}", release="v1") for i in range(150)]
    bad = [AnswerRecord("bad", release=Unhashable("v1")) for _ in range(25)] + \
        [AnswerRecord("bad", cohort=Unprintable()) for _ in range(25)]
    mixed = good[:75] + bad + good[75:]
    random.Random(2).shuffle(mixed)
    for rec in mixed:
        assert pipeline.submit(rec)
    assert pipeline.flush()
    (stream,) = agg.snapshot(max_age=0).streams
    assert stream.answers_total == 150
    stats = pipeline.stats()
    assert stats.dropped.get("signal_error") == 50
    assert stats.records_processed == 150


def _long_pair(rng: random.Random, words: int, edits: int) -> tuple[str, str]:
    a = [rng.choice(VOCAB) for _ in range(words)]
    b = list(a)
    for _ in range(edits):
        b[rng.randrange(words)] = rng.choice(VOCAB)
    return " ".join(a), " ".join(b)


def test_the_shingle_sketch_of_long_answers_estimates_jaccard_within_its_error():
    """Answers keep their 512 smallest shingle hashes: exact below that, a bottom-k estimate
    above, with standard error sqrt(J(1-J)/k)."""
    rng = random.Random(3)
    errors = []
    for _ in range(60):
        a, b = _long_pair(rng, rng.randint(1500, 4000), rng.randint(5, 120))
        sa, sb = shingle_set(tokenize(a)), shingle_set(tokenize(b))
        true = jaccard(ngrams(tokenize(a), 5), ngrams(tokenize(b), 5))
        est = sorted_jaccard(sa[:SHINGLE_SKETCH], sb[:SHINGLE_SKETCH])
        sd = max(np.sqrt(true * (1 - true) / SHINGLE_SKETCH), 1e-3)
        errors.append((est - true) / sd)
    errors = np.array(errors)
    assert np.abs(errors).max() < 4.5
    assert 0.4 < np.sqrt(np.mean(errors ** 2)) < 1.4   # about one standard error, no bias
    assert abs(errors.mean()) < 0.5
    short_a, short_b = _long_pair(rng, 300, 20)    # under 512 shingles: exact
    sa, sb = shingle_set(tokenize(short_a)), shingle_set(tokenize(short_b))
    assert sorted_jaccard(sa, sb) == jaccard(ngrams(tokenize(short_a), 5),
                                             ngrams(tokenize(short_b), 5))


def test_near_duplicate_verdicts_on_long_answers():
    rng = random.Random(4)
    index = DuplicateIndex(0.8)
    clear_hits = clear_misses = 0
    for _ in range(80):
        a, b = _long_pair(rng, 2500, rng.choice((5, 10, 200, 400)))
        true = jaccard(ngrams(tokenize(a), 5), ngrams(tokenize(b), 5))
        index.update(text_hash(normalize(a)), shingle_set(tokenize(a))[:SHINGLE_SKETCH])
        verdict = index.update(text_hash(normalize(b)), shingle_set(tokenize(b))[:SHINGLE_SKETCH])
        if true >= 0.9:
            assert verdict.near
            clear_hits += 1
        elif true <= 0.7:
            assert not verdict.near
            clear_misses += 1
    assert clear_hits > 20 and clear_misses > 20
