"""The 1,000 answers of the multi-worker tests: news, essays and abstracts written by GPT-4
and by people (tests/data/human-vs-llm), with one exact repeat and one near repeat (three words changed)
of an earlier answer in every ten. Shared by the test and the app the workers run."""

from __future__ import annotations

import json
import random
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data" / "human-vs-llm"
FILES = ("xsum_gpt-4.raw_data.json", "writing_gpt-4.raw_data.json",
         "pubmed_gpt-4.raw_data.json")
COUNT = 1_000


def answers(count: int = COUNT, seed: int = 5) -> list[str]:
    pool: list[str] = []
    for name in FILES:
        data = json.loads((DATA / name).read_text())
        pool += data["sampled"] + data["original"]
    rng = random.Random(seed)
    out: list[str] = []
    fresh = iter(pool)
    for i in range(count):
        if i % 10 == 3 and out:
            out.append(out[rng.randrange(len(out))])
        elif i % 10 == 7 and out:
            words = out[rng.randrange(len(out))].split()
            for _ in range(3):
                words[rng.randrange(len(words))] = rng.choice(("river", "seven", "quietly"))
            out.append(" ".join(words))
        else:
            out.append(next(fresh))
    return out


def request(i: int) -> dict:
    """The observe() arguments of answer ``i`` (besides its text)."""
    return {"release": "v1", "prompt_tokens": 40 + (i * 37) % 900,
            "completion_tokens": 20 + (i * 13) % 500,
            "context_ids": [f"doc-{i % 37}", f"doc-{(i * 7) % 101}"]}
