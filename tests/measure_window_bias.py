"""Measure how the window diversity signals of one fixed distribution move with window size.

Why: the drop alerts compare two releases' windows; estimators biased by n (Vendi, distinct
ratios) must only be compared above a window size where that bias is well under the alert
threshold. Run: ``.venv/bin/python -m tests.measure_window_bias``.
"""

from __future__ import annotations

import random
import time

from benchmarks.workloads import data_answers
from collapse_otel.aggregator import Aggregator
from collapse_otel.config import CollapseConfig
from collapse_otel.records import AnswerRecord

SIZES = (100, 250, 500, 1000, 2000, 5000)
SIGNALS = ("embedding_vendi_score", "entity_diversity_ratio", "ngram_diversity_score",
           "distinct_ngram_ratio[2]", "repeated_ngram_within_answer")


def answers(seed: int = 7) -> list[str]:
    """100-word pieces of the shipped human and model texts, shuffled with a fixed seed."""
    out = data_answers(offsets=(0, 25, 50, 75))
    random.Random(seed).shuffle(out)
    return out


def window_signals(texts: list[str], n: int, start: int = 0) -> dict[str, float | None]:
    """Signals of one release whose window holds exactly ``texts[start:start + n]``."""
    agg = Aggregator(CollapseConfig(refresh_seconds=0, window_answers=n))
    now = time.time()  # one moment: the window neither slides nor goes idle
    agg.observe_batch([AnswerRecord(t, release="r", timestamp=now)
                       for t in texts[start:start + n]])
    w = agg.snapshot().streams[0].window
    return {"embedding_vendi_score": w.get("embedding_vendi_score"),
            "entity_diversity_ratio": w.get("entity_diversity_ratio"),
            "ngram_diversity_score": w.get("ngram_diversity_score"),
            "distinct_ngram_ratio[2]": w.get("distinct_2"),
            "repeated_ngram_within_answer": w.get("repeated_ngram_within_answer"),
            "window_answers": w.window_answers, "sample_answers": w.sample_answers}


def main() -> None:
    texts = answers()
    print(f"{len(texts)} answers")
    rows = {n: window_signals(texts, n) for n in SIZES if n <= len(texts)}
    ref = rows[max(rows)]
    print("n      window sample " + " ".join(f"{s[:22]:>24}" for s in SIGNALS))
    for n, row in rows.items():
        cells = [f"{row[s]:.3f} ({row[s] / ref[s] - 1:+.1%})" for s in SIGNALS]
        print(f"{n:<6} {row['window_answers']:>6} {row['sample_answers']:>6} "
              + " ".join(f"{c:>24}" for c in cells))


if __name__ == "__main__":
    main()
