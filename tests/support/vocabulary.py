"""The words of the human-vs-model text sets: a real vocabulary for generated answers."""

from __future__ import annotations

from tests.support.data import HUMAN_VS_LLM


def vocabulary() -> list[str]:
    import re

    words: set[str] = set()
    for path in sorted(HUMAN_VS_LLM.glob("*.json")):
        words.update(re.findall(r"[a-z]+", path.read_text().lower()))
    return sorted(words)


VOCAB = vocabulary()
