"""Near-duplicate index at scale: planted pairs with J >= 0.9 are all found, and no flagged
pair is below 0.8 (checked on the real word 5-gram tuples, not on hashes)."""

from __future__ import annotations

import random

from collapse_otel.signals.batch import jaccard, ngrams
from collapse_otel.signals.duplicates import DuplicateIndex
from collapse_otel.text import normalize, shingle_set, text_hash, tokenize
from tests.support.vocabulary import vocabulary


def generate(n: int, seed: int = 11):
    """Fresh answers, plus planted variants of earlier answers with 0..14 word edits."""
    rng = random.Random(seed)
    vocab = vocabulary()
    texts: list[str] = []
    planted: list[tuple[int, int]] = []  # (earlier, later)
    for i in range(n):
        if i > 10 and rng.random() < 0.15:
            src = rng.randrange(i)
            words = texts[src].split()
            for _ in range(rng.choice((0, 1, 1, 1, 2, 2, 3, 4, 6, 8, 10, 14))):
                words[rng.randrange(len(words))] = rng.choice(vocab)
            planted.append((src, i))
            texts.append(" ".join(words))
        else:
            texts.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(60, 300))))
    return texts, planted


def true_jaccard(a: str, b: str) -> float:
    return jaccard(ngrams(tokenize(a), 5), ngrams(tokenize(b), 5))


def test_near_duplicates_over_twenty_thousand_answers():
    texts, planted = generate(20_000)
    index = DuplicateIndex(threshold=0.8)
    results = [index.update(text_hash(normalize(t)), shingle_set(tokenize(t))) for t in texts]

    high = [(a, b) for a, b in planted if true_jaccard(texts[a], texts[b]) >= 0.9]
    assert len(high) > 700, "the generator must plant enough high-similarity pairs"
    missed = [(a, b) for a, b in high if not (results[b].exact or results[b].near)]
    assert missed == []

    flagged = [i for i, r in enumerate(results) if r.near]
    assert len(flagged) > 500
    for i in flagged:
        match = results[i].match
        assert match is not None and match < i
        assert true_jaccard(texts[match], texts[i]) >= 0.8

    # planted pairs between 0.5 and 0.8 exist and are not flagged through their source alone
    middling = [(a, b) for a, b in planted if 0.5 <= true_jaccard(texts[a], texts[b]) < 0.8]
    assert middling, "the generator must also plant pairs just under the threshold"
    for _, b in middling:
        r = results[b]
        if r.near:  # only allowed through another, genuinely similar earlier answer
            assert true_jaccard(texts[r.match], texts[b]) >= 0.8


def test_batched_checks_equal_one_by_one_checks():
    """check_and_add_many (the aggregator's path, with its direct add for answers that share
    nothing with the window) gives the verdicts, counts, stored order and buckets of
    check_and_add called answer by answer, across two panes and short answers."""
    import numpy as np

    from collapse_otel.signals.duplicates import (
        band_keys_for,
        check_and_add,
        check_and_add_many,
    )

    texts, _ = generate(1500, seed=5)
    texts += texts[:40] + ["ok", "", "yes sure"] * 5  # exact repeats and unshingled answers
    random.Random(2).shuffle(texts)
    one = [DuplicateIndex(0.8), DuplicateIndex(0.8)]
    many = [DuplicateIndex(0.8), DuplicateIndex(0.8)]
    hashes = [text_hash(normalize(t)) for t in texts]
    shingles = [(shingle_set(tokenize(t)) >> np.uint64(32)).astype(np.uint32) for t in texts]
    keys = [band_keys_for(one[0].minhasher, s) for s in shingles]
    expected, got = [], []
    for pane in (0, 1):  # the first half fills the older pane, the second the current one
        part = range(pane * len(texts) // 2, (pane + 1) * len(texts) // 2)
        window_one, window_many = one[: pane + 1], many[: pane + 1]
        expected += [check_and_add(window_one, hashes[i], shingles[i], 0.8, keys[i])
                     for i in part]
        for start in range(part.start, part.stop, 97):  # uneven chunks
            chunk = range(start, min(start + 97, part.stop))
            got += check_and_add_many(window_many, [hashes[i] for i in chunk],
                                      [shingles[i] for i in chunk], [keys[i] for i in chunk],
                                      0.8)
    assert [(r.exact, r.near, r.max_similarity, r.match) for r in got] == \
        [(r.exact, r.near, r.max_similarity, r.match) for r in expected]
    assert sum(r.exact for r in got) >= 40 and sum(r.near for r in got) > 50
    for a, b in zip(one, many, strict=True):
        assert a.get() == b.get() and a.text_hashes == b.text_hashes
        assert a._buckets == b._buckets and a._exact == b._exact
        assert all((x is None and y is None) or np.array_equal(x, y)
                   for x, y in zip(a.shingles, b.shingles, strict=True))
