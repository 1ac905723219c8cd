"""Where the shipped test data is, and a reader for its human-vs-model text sets."""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
HUMAN_VS_LLM = DATA / "human-vs-llm"
REFERENCE = DATA / "reference"


def load_texts(file_name: str) -> dict[str, list[str]]:
    return json.loads((HUMAN_VS_LLM / file_name).read_text())
