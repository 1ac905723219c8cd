"""Answer sets for the ``collapse-otel compare`` tests, from the shipped human-vs-LLM texts.

A healthy baseline, a candidate of the same distribution (other answers of the same pool), a
clearly collapsed candidate (one template filled with a word), and cohort files where the
synthetic cohort improves while the human_holdout cohort collapses. The collapsed answers
carry SECRET, so a test can prove that no report shows answer text without --show-text.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

from collapse_otel.config import CollapseConfig
from collapse_otel.engine.aggregator import Aggregator
from collapse_otel.engine.feeding import observe_all
from collapse_otel.records import AnswerRecord
from collapse_otel.state.file import StateStore
from tests.support.data import HUMAN_VS_LLM

SECRET = "Zanzibar-Quokka-7731"
N = 300


def pool() -> list[str]:
    texts: list[str] = []
    for path in sorted(HUMAN_VS_LLM.glob("*.raw_data.json")):
        data = json.loads(path.read_text())
        texts += data["original"] + data["sampled"]
    texts = sorted(set(texts))
    random.Random(7).shuffle(texts)
    return texts


def templated(texts: list[str]) -> list[str]:
    return [f"Thank you for your question. The {SECRET} office says the answer is "
            f"{t.split()[0]}. I hope this helps you today." for t in texts]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    fields = sorted({k for r in rows for k in r}, key=lambda k: (k != "answer", k))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def tokens(text: str) -> int:
    return len(text.split())


def write_state(path: Path, sides: dict[str, list[dict]], service: str = "faq-bot") -> Path:
    """A ``collapse-otel serve`` state file with one release per entry of ``sides``."""
    agg = Aggregator(CollapseConfig(refresh_seconds=3600, memory_budget_mb=1 << 20))
    observe_all(agg, [AnswerRecord(r["answer"], completion_tokens=r.get("completion_tokens"),
                                   service=service, release=release,
                                   cohort=r.get("cohort", "default"))
                      for release, rows in sides.items() for r in rows])
    StateStore(path).save(agg)
    return path


def make_files(folder: Path) -> dict[str, Path]:
    texts = pool()
    base, same, rest = texts[:N], texts[N:2 * N], texts[2 * N:]
    collapsed = templated(same)
    rows = {
        "base": [{"answer": t, "completion_tokens": tokens(t), "release": "v4"} for t in base],
        "same": [{"answer": t, "completion_tokens": tokens(t), "release": "v5"} for t in same],
        "collapsed": [{"answer": t, "completion_tokens": tokens(t), "release": "v5"}
                      for t in collapsed],
        # one family only: the same kind of texts, answer lengths reported as nearly constant
        "flat": [{"answer": t, "completion_tokens": 100 + i % 3, "release": "v5"}
                 for i, t in enumerate(same)],
        "cohorts_base": [{"answer": t, "cohort": "human_holdout"} for t in base[:200]] +
                        [{"answer": t, "cohort": "synthetic"} for t in templated(base[200:])] +
                        [{"answer": t, "cohort": "legacy"} for t in rest[:50]],
        "cohorts_cand": [{"answer": t, "cohort": "human_holdout"}
                         for t in templated(same[:200])] +
                        [{"answer": t, "cohort": "synthetic"} for t in rest[50:250]],
    }
    out = {f"{name}.jsonl": write_jsonl(folder / f"{name}.jsonl", r) for name, r in rows.items()}
    for name in ("base", "same", "collapsed"):
        out[f"{name}.csv"] = write_csv(folder / f"{name}.csv", rows[name])
    out["releases.state"] = write_state(folder / "releases.state", {
        "v4": rows["base"], "v5": rows["collapsed"], "v6": rows["same"]})
    out["cohorts.state"] = write_state(folder / "cohorts.state", {
        "v4": rows["cohorts_base"], "v5": rows["cohorts_cand"]})
    return out
