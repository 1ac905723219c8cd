"""Plain code, no framework: call collapse_otel.observe() with each answer.

Simulates two releases of a support bot (offline, no model): v1 answers in varied words,
v2 was fine-tuned on its own outputs and repeats a few phrasings. The per-release signals show
the collapse: more duplicates, fewer distinct n-grams, a lower embedding Vendi score.
"""

from __future__ import annotations

import random

import collapse_otel

TOPICS = ["refund", "delivery", "password", "invoice", "warranty", "upgrade", "account",
          "shipping", "discount", "cancellation"]
OPENERS = ["Sure", "Happy to help", "Thanks for asking", "Good question", "Of course",
           "Let me check", "No problem", "Absolutely"]
DETAILS = ["it usually takes three working days", "you can do it from the settings page",
           "our team confirms by email", "the form is under Billing", "a receipt is attached",
           "it applies to orders after May", "the link expires in an hour",
           "support can extend it once"]


def fake_llm(release: str, question: str, rng: random.Random) -> str:
    topic = question.split()[-1]
    if release == "v2":  # collapsed: one template, two details
        return f"Sure, regarding your {topic}: {rng.choice(DETAILS[:2])}."
    return (f"{rng.choice(OPENERS)}! About the {topic}, {rng.choice(DETAILS)}; "
            f"{rng.choice(DETAILS)} and {rng.choice(TOPICS)} questions go to the same desk.")


def main() -> int:
    rng = random.Random(7)
    for release in ("v1", "v2"):
        for i in range(300):
            question = f"question {i} about {TOPICS[i % len(TOPICS)]}"
            answer = fake_llm(release, question, rng)
            collapse_otel.observe(answer, release=release, service="support-bot",
                                  prompt_tokens=12, context_ids=[f"faq-{i % 25}"])
    collapse_otel.flush()
    for s in sorted(collapse_otel.get_pipeline().aggregator.snapshot().streams,
                    key=lambda s: s.key.release):
        w = s.window
        print(f"release={s.key.release} answers={s.answers_total} "
              f"exact_duplicates={s.duplicate_answers_total.get('exact', 0)} "
              f"near_duplicates={s.duplicate_answers_total.get('near', 0)} "
              f"distinct_4={w.get('distinct_4') or 0:.3f} "
              f"vendi={w.get('embedding_vendi_score') or 0:.2f} "
              f"estimated_completion_tokens={s.tokens_estimated_total.get('completion', 0)}")
    collapse_otel.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
