"""Answer streams for the benchmarks: 100-word answers from real texts and from a generator."""

from __future__ import annotations

import json
import random
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "human-vs-llm"


def data_answers(words: int = 100, offsets: tuple[int, ...] = (0,)) -> list[str]:
    """100-word pieces of every human and model text in the shipped data; each extra offset
    adds the pieces starting that many words later (overlapping, so not near duplicates)."""
    out: list[str] = []
    for offset in offsets:
        for path in sorted(DATA.glob("*.json")):
            d = json.loads(path.read_text())
            for cohort in ("original", "sampled"):
                for text in d[cohort]:
                    w = text.split()
                    out.extend(" ".join(w[i:i + words])
                               for i in range(offset, len(w) - words + 1, words))
    return out


def generated_answers(n: int, words: int = 100, seed: int = 1) -> list[str]:
    """Sentences from a Zipf-distributed vocabulary with names and numbers, 10% near copies."""
    rng = random.Random(seed)
    vocab = sorted({w.lower() for t in data_answers()[:400] for w in t.split() if w.isalpha()})
    names = ["Ada Lovelace", "Alan Turing", "New York", "Grace Hopper", "Kyoto", "Nairobi"]
    weights = [1.0 / (i + 1) for i in range(len(vocab))]
    out: list[str] = []
    for _ in range(n):
        if out and rng.random() < 0.1:
            w = rng.choice(out).split()
            w[rng.randrange(len(w))] = rng.choice(vocab)
            out.append(" ".join(w))
            continue
        toks = rng.choices(vocab, weights, k=words - 6)
        toks[5:5] = rng.choice(names).split() + [str(rng.randint(1, 999)), "km"]
        out.append(" ".join(toks[:words]).capitalize() + ".")
    return out


def templated_answers(n: int, seed: int = 23, templates: int = 35) -> list[str]:
    """Collapsed traffic: each answer fills one of a few templates (60-150 words, 3-8 slots
    drawn from small vocabularies; skewed popularity), and 15% copy an earlier answer with
    0-3 word edits. Siblings of one template share most 5-grams (Jaccard 0.3-0.9), so they
    crowd the same LSH buckets: the traffic that made the duplicate index slow."""
    rng = random.Random(seed)
    vocab = sorted({w.lower() for t in data_answers()[:400] for w in t.split() if w.isalpha()})
    slots = (["paris", "lagos", "osaka", "lima", "oslo", "quito", "perth", "dakar", "hanoi"],
             ["acme router", "nova x2", "sky hub", "bolt drive", "orbit cam", "flux pad"],
             [str(k) for k in (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 24, 30, 48, 50, 99)])
    forms: list[list] = []
    for _ in range(templates):
        words: list = [rng.choice(vocab) for _ in range(rng.randint(60, 150))]
        for pos in rng.sample(range(len(words)), rng.randint(3, 8)):
            words[pos] = rng.choice(slots)
        forms.append(words)
    out: list[str] = []
    for i in range(n):
        if i > 20 and rng.random() < 0.15:
            words = out[rng.randrange(i)].split()
            for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
                words[rng.randrange(len(words))] = rng.choice(vocab)
            out.append(" ".join(words))
            continue
        form = forms[min(int(rng.expovariate(1 / 6)), templates - 1)]
        out.append(" ".join(w if isinstance(w, str) else rng.choice(w) for w in form))
    return out
