"""Near-duplicate index on templated traffic, where the LSH caps could lose recall.

Collapsed models answer from a few templates with small slot vocabularies, so most answers
share most shingles and crowd the same LSH buckets. The index keeps only the newest entries per
bucket and verifies a bounded number of candidates; this test checks that, on such traffic,
every answer with an earlier answer at true Jaccard >= 0.9 (word 5-gram tuples, computed
exactly) is still flagged, and that no flagged match is below 0.8.
"""

from __future__ import annotations

import random

from collapse_otel.signals.duplicates import DuplicateIndex, DuplicateResult
from collapse_otel.text import normalize, shingle_set, text_hash, tokenize
from tests.support.vocabulary import vocabulary

CITIES = ["paris", "lagos", "osaka", "lima", "oslo", "quito", "perth", "dakar", "hanoi",
          "cairo", "porto", "denver", "leeds", "turin", "busan"]
PRODUCTS = ["acme router", "nova x2", "zenbook pro", "sky hub", "bolt drive", "orbit cam",
            "pixel slate", "aero fan", "vault one", "flux pad", "echo mini", "terra kit"]
NUMBERS = [str(n) for n in (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 24, 30, 48, 50, 99, 100, 250)]
SLOT_KINDS = (CITIES, PRODUCTS, NUMBERS)


def make_templates(rng: random.Random, vocab: list[str], count: int) -> list[list]:
    """Each template: a word list where a slot is a vocabulary (list) to draw from."""
    templates = []
    for _ in range(count):
        words: list = [rng.choice(vocab) for _ in range(rng.randint(60, 150))]
        for pos in rng.sample(range(len(words)), rng.randint(3, 8)):
            words[pos] = rng.choice(SLOT_KINDS)
        templates.append(words)
    return templates


def generate(n: int, seed: int = 23, templates: int = 35):
    """Templated answers plus planted copies of earlier answers (0..3 word edits; 0 = exact).

    Returns the texts, the planted (earlier, later) pairs and each fresh answer's template
    (None for planted ones).
    """
    rng = random.Random(seed)
    vocab = vocabulary()
    temps = make_templates(rng, vocab, templates)
    texts: list[str] = []
    planted: list[tuple[int, int]] = []
    origin: list[int | None] = []
    for i in range(n):
        if i > 20 and rng.random() < 0.15:
            src = rng.randrange(i)
            words = texts[src].split()
            for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
                words[rng.randrange(len(words))] = rng.choice(vocab)
            planted.append((src, i))
            origin.append(None)
            texts.append(" ".join(words))
        else:
            k = min(int(rng.expovariate(1 / 6)), templates - 1)  # skewed popularity
            origin.append(k)
            texts.append(" ".join(w if isinstance(w, str) else rng.choice(w) for w in temps[k]))
    return texts, planted, origin


def tuple_sets(texts: list[str]) -> list[frozenset]:
    out = []
    for t in texts:
        tok = tokenize(t)
        out.append(frozenset(tuple(tok[i:i + 5]) for i in range(len(tok) - 4)))
    return out


def jac(a: frozenset, b: frozenset) -> float:
    inter = len(a & b)
    union = len(a) + len(b) - inter
    return inter / union if union else 1.0


def best_earlier(sets: list[frozenset], i: int) -> float:
    """Exact max Jaccard of answer i with any earlier answer (size filter: J <= min/max)."""
    a, best = sets[i], 0.0
    la = len(a)
    for j in range(i):
        b = sets[j]
        lb = len(b)
        if min(la, lb) < best * max(la, lb) or min(la, lb) < 0.9 * max(la, lb):
            continue
        best = max(best, jac(a, b))
        if best >= 1.0:
            break
    return best


def run_index(texts: list[str]) -> list[DuplicateResult]:
    index = DuplicateIndex(threshold=0.8)
    return [index.update(text_hash(normalize(t)), shingle_set(tokenize(t))) for t in texts]


def found(r: DuplicateResult) -> bool:
    return r.exact or r.near


def test_templated_traffic_recall_and_precision():
    texts, planted, origin = generate(12_000)
    sets = tuple_sets(texts)
    results = run_index(texts)

    # the traffic is templated: fresh answers of the same template mostly have J in 0.3-0.9
    rng = random.Random(5)
    by_template: dict[int, list[int]] = {}
    for i, k in enumerate(origin):
        if k is not None:
            by_template.setdefault(k, []).append(i)
    pairs = [rng.sample(by_template[origin[i]], 2) for i in rng.sample(range(len(texts)), 2000)
             if origin[i] is not None and len(by_template[origin[i]]) > 1]
    middling = sum(0.3 <= jac(sets[a], sets[b]) < 0.9 for a, b in pairs)
    assert middling > 0.6 * len(pairs)

    high = [(a, b) for a, b in planted if jac(sets[a], sets[b]) >= 0.9]
    assert len(high) > 500, "the generator must plant enough high-similarity pairs"
    assert [b for _, b in high if not found(results[b])] == []

    # brute force on a random subset: any earlier answer at J >= 0.9 must lead to a flag
    subset = rng.sample(range(1000, len(texts)), 150)
    truth = [i for i in subset if best_earlier(sets, i) >= 0.9]
    assert len(truth) > 15
    assert [i for i in truth if not found(results[i])] == []

    flagged = [i for i, r in enumerate(results) if r.near]
    assert len(flagged) > 1500
    low = [i for i in flagged
           if results[i].match is None or results[i].match >= i
           or jac(sets[results[i].match], sets[i]) < 0.8]
    assert low == []
