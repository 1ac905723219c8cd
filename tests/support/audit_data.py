"""Dataset versions for the ``collapse-otel audit`` tests, from the shipped human-vs-LLM texts.

Human rows are human-written news and medical abstracts, synthetic rows are LLM continuations
of other articles, distilled rows one template filled with a word (narrow on purpose). The
holdout is human-written stories (another domain: no near duplicate of any training row) plus
the rows a test plants. Every row carries SECRET, so a test can prove that no output shows
row text.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.support.data import HUMAN_VS_LLM

SECRET = "Kestrel-Marmalade-4419"


def _texts(name: str, key: str) -> list[str]:
    data = json.loads((HUMAN_VS_LLM / f"{name}.raw_data.json").read_text())
    return [f"{t} {SECRET}" for t in data[key]]


def human() -> list[str]:
    return _texts("xsum_gpt-4", "original") + _texts("pubmed_gpt-4", "original")   # 300


def synthetic() -> list[str]:
    return _texts("xsum_davinci", "sampled") + _texts("pubmed_davinci", "sampled")  # 300


def distilled(n: int) -> list[str]:
    words = [t.split()[0] for t in human()]
    return [f"As an assistant I can tell you that the {SECRET} answer is {words[i % len(words)]}"
            f" and I hope this helps you today with your question number {i % 7}."
            for i in range(n)]


def unrelated_holdout() -> list[str]:
    return _texts("writing_gpt-4", "original")[:60]


def near_copy(text: str) -> str:
    """The text with two words changed, far apart: a near duplicate (Jaccard about 0.85)."""
    words = text.split()
    words[len(words) // 3] = "altered"
    words[2 * len(words) // 3] = "changed"
    return " ".join(words)


def rows(texts: list[str], source: str, **extra: str) -> list[dict]:
    return [{"text": t, "source": source, **extra} for t in texts]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def write_csv(path: Path, records: list[dict], delimiter: str = ",") -> Path:
    fields = list(dict.fromkeys(k for r in records for k in r))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, delimiter=delimiter)
        writer.writeheader()
        writer.writerows(records)
    return path


def three_versions(tmp: Path) -> tuple[list[Path], Path]:
    """v1 (20% synthetic), v2 (40%), v3 (70%: synthetic dominates); the holdout's first row
    is a near copy of v2's training line 11, the rest is unrelated. Returns (versions,
    holdout)."""
    h, s = human(), synthetic()
    v1 = rows(h[:100] + h[110:170], "human") + rows(s[:40], "synthetic")
    v2 = rows(h[170:180] + h[100:110] + h[180:280], "human") + rows(s[40:120], "synthetic")
    v3 = rows(h[280:300] + h[40:80], "human") + rows(s[120:240], "synthetic") + \
        rows(distilled(20), "distilled")
    paths = [write_jsonl(tmp / f"v{i}.jsonl", v) for i, v in enumerate((v1, v2, v3), 1)]
    holdout = write_jsonl(tmp / "holdout.jsonl",   # v2 line 11 is h[100], a news story
                          [{"text": near_copy(h[100])}] + [{"text": t} for t in
                                                           unrelated_holdout()])
    return paths, holdout
