"""Do the window gauges' 95% intervals cover the value they estimate 95% of the time?

A fixed large population of answers (a trigram model trained on WikiText-2's human answers,
plus retrieved context ids from a Zipf over documents, questions from a Zipf over 2,000, a
share of exact and near repeats, and users' thumbs and one evaluator's pass / fail on some
answers, worse on the repeats and loops; agent turns on some answers, which loop more often
on the bad ones) is sampled again and again; each replicate is one release window through the real
Aggregator. A corpus statistic of a 1,000-answer sample estimates the statistic's expectation
at that sample size, so the value to cover is the mean over replicates (its own error is
sd / sqrt(replicates), small against the interval). Coverage = share of replicates whose
value +- 1.96 standard errors holds it.

Run: ``python -m benchmarks.calibration [--replicates 200 --answers 1500]``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from collapse_otel.config import CollapseConfig
from collapse_otel.engine.aggregator import Aggregator
from collapse_otel.engine.feeding import observe_all
from collapse_otel.records import AnswerRecord, StreamKey
from collapse_otel.records.outcomes import DOWN, EVALUATION, FAIL, FEEDBACK, LOOP, PASS, UP, Outcome
from collapse_otel.signals.registry import SIGNALS
from collapse_otel.simulation.corpora import load_corpus
from collapse_otel.simulation.ngram import TrigramModel
from collapse_otel.simulation.tokens import detokenize

CORPUS_DATA = Path(__file__).resolve().parents[1] / "tests" / "data"   # the shipped corpora
Z = 1.959963984540054


def population(size: int, seed: int = 0) -> list[tuple[AnswerRecord, tuple[Outcome, ...]]]:
    """Answers of one fixed 'release distribution' with the feedback and evaluation results
    they got (deterministic for the seed)."""
    rng = np.random.default_rng(seed)
    rate = np.random.default_rng(seed + 1_000)    # the ratings: the answers stay as they were
    agents = np.random.default_rng(seed + 2_000)  # the agent turns: answers and ratings stay
    model = TrigramModel(load_corpus("wikitext", CORPUS_DATA), top_p=0.95)
    texts = [detokenize(a) for a in model.generate(size, rng)]
    canned = texts[:40]
    docs = np.arange(3000)
    weights = 1.0 / (docs + 1) ** 1.1
    weights /= weights.sum()
    questions = 1.0 / (np.arange(2000) + 1) ** 0.8   # users ask popular questions often
    questions /= questions.sum()
    out = []
    for text in texts:
        u = rng.random()
        bad = u < 0.15                       # canned, near-repeated or looping
        question = int(rng.choice(len(questions), p=questions))
        if u < 0.04:        # a canned reply: exact repeats, half of them to its own question
            k = int(rng.integers(len(canned)))
            text = canned[k]
            question = k if rng.random() < 0.5 else question
        elif u < 0.07:      # a near repeat: one word changed
            words = canned[int(rng.integers(len(canned)))].split()
            words[int(rng.integers(len(words)))] = "indeed"
            text = " ".join(words)
        elif u < 0.15:      # a loop: the answer repeats a stretch of itself
            words = text.split()
            cut = int(rng.integers(1, max(2, len(words))))
            text = " ".join(words + words[:cut][-int(rng.integers(4, 20)):])
        ctx = tuple(f"doc-{d}" for d in rng.choice(docs, size=3, p=weights))
        rated: list[Outcome] = []
        if rate.random() < 0.4:
            rated.append(Outcome(FEEDBACK, rating=DOWN if rate.random() < (0.5 if bad else 0.1)
                                 else UP))
        if rate.random() < 0.5:
            rated.append(Outcome(EVALUATION, evaluator="judge",
                                 result=FAIL if rate.random() < (0.4 if bad else 0.05) else PASS))
        if agents.random() < 0.3:   # an agent turn; the bad ones loop more often
            looping = agents.random() < (0.4 if bad else 0.05)
            rated.append(Outcome(LOOP, loop_length=int(agents.integers(3, 9)) if looping else 1,
                                 loop_kinds=("tool",) if looping else ()))
        out.append((AnswerRecord(text, completion_tokens=max(1, len(text) // 5),
                                 context_ids=ctx, question=f"question {question}"),
                    tuple(rated)))
    return out


def coverage(replicates: int, answers: int, pool_size: int, seed: int = 0,
             ) -> dict[str, tuple[float, int, float]]:
    """Per signal: (share of intervals covering the mean value, replicates with an interval,
    mean standard error / sd of the values across replicates)."""
    pool = population(pool_size, seed)
    rng = np.random.default_rng(seed + 1)
    values: dict[str, list[tuple[float, float]]] = {s.key: [] for s in SIGNALS}
    for _ in range(replicates):
        picks = rng.choice(len(pool), size=answers, replace=False)
        agg = Aggregator(CollapseConfig(window_answers=2 * answers, window_seconds=1e12,
                                        refresh_seconds=3600, memory_budget_mb=1 << 20))
        observe_all(agg, [pool[i][0] for i in picks.tolist()])
        key = StreamKey(agg.config.service, agg.config.release, agg.config.cohort)
        agg.observe_outcomes([(key, o) for i in picks.tolist() for o in pool[i][1]])
        (stream,) = agg.snapshot(max_age=0).streams
        for key, v in stream.window.values.items():
            se = stream.window.stderr.get(key)
            if se is not None:
                values[key].append((v, se))
    out = {}
    for key, pairs in values.items():
        if len(pairs) < replicates // 2:
            continue
        v = np.array([p[0] for p in pairs])
        se = np.array([p[1] for p in pairs])
        target = v.mean()
        covered = float(np.mean(np.abs(v - target) <= Z * se))
        spread = v.std(ddof=1)
        out[key] = (covered, len(pairs), float(se.mean() / spread) if spread > 0 else math.nan)
    return out


def run(replicates: int = 200, answers: int = 1500, pool_size: int = 30_000,
        seed: int = 0) -> list[dict]:
    start = time.perf_counter()
    table = coverage(replicates, answers, pool_size, seed)
    elapsed = time.perf_counter() - start
    return [dict(name=f"calibration: 95% interval coverage, {key}", value=100 * cov,
                 unit="%", target="90-99",
                 note=f"{n} windows of {answers:,} answers; mean se / sd of values "
                      f"{ratio:.2f}; {elapsed:.0f} s in all")
            for key, (cov, n, ratio) in table.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--answers", type=int, default=1500)
    parser.add_argument("--pool", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for row in run(args.replicates, args.answers, args.pool, args.seed):
        print(f"{row['name']:70s} {row['value']:6.1f}%  {row['note']}")


if __name__ == "__main__":
    main()
