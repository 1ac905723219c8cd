"""Answers with their questions: an FAQ bot, a collapsed model, and the exact duplicate counts
of such a sequence (the oracle the aggregator and compare are held to)."""

from __future__ import annotations

import random

from collapse_otel.text.normalize import normalize

WORDS = ["river", "bridge", "market", "tower", "harbor", "museum", "garden", "station", "castle", "valley", "forest", "beach", "temple", "square", "library", "theatre", "palace", "canal", "island", "mountain"]


def fresh_answer(rng: random.Random, n: int = 14) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)) + f" {rng.randrange(10**9)}"


def faq_stream(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """An FAQ bot: 30 questions; a question gets its canned answer 60% of the time, else an
    answer of its own (personal details)."""
    rng = random.Random(seed)
    canned = {q: f"answer to faq {q}: " + fresh_answer(rng) for q in range(30)}
    out = []
    for _ in range(n):
        q = rng.randrange(30)
        out.append((canned[q] if rng.random() < 0.6 else fresh_answer(rng), f"How do I do thing {q}?"))
    return out


def collapsed_stream(n: int, seed: int = 1) -> list[tuple[str, str]]:
    """Every question different; half the answers are one of three canned replies."""
    rng = random.Random(seed)
    canned = [fresh_answer(rng) for _ in range(3)]
    return [(rng.choice(canned) if rng.random() < 0.5 else fresh_answer(rng), f"question number {i}")
            for i in range(n)]


def oracle(pairs: list[tuple[str, str | None]]) -> tuple[int, int, int]:
    """(exact duplicates, cross-question exact duplicates, answers with a question), counted
    directly from the definition over the whole sequence."""
    exact = cross = known = 0
    for i, (answer, question) in enumerate(pairs):
        earlier = [(normalize(a), q and normalize(q)) for a, q in pairs[:i]]
        text = normalize(answer)
        known += bool(question)
        if any(t == text for t, _ in earlier):
            exact += 1
            if question and not any(t == text and q == normalize(question) for t, q in earlier):
                cross += 1
    return exact, cross, known
