"""The verdict against ground truth: the recursive-training simulation, generation by generation.

Each generation of each regime (``collapse_otel.simulation``: replace = trained on its own
samples, accumulate = the control that keeps the human data) is a release; ``compare`` judges
generation k against generation k-1 with its default options. Required: "collapse suspected"
for every replace generation from 2 on, for no accumulate generation from 2 on, and generation
1 against the human text significantly different in both regimes.

Run: ``python -m benchmarks.validation [--generations 5 --answers 3000 --seed 0]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from collapse_otel.compare import CompareOptions, Comparison, compare_answers
from collapse_otel.records import AnswerRecord
from collapse_otel.simulation import REGIMES, Generation, run_simulation


def releases(generations: Sequence[Generation]) -> list[list[AnswerRecord]]:
    return [[AnswerRecord(text, completion_tokens=tokens)
             for text, tokens in zip(g.answers, g.completion_tokens, strict=True)]
            for g in generations]


def judge(regime: str, generations: int, answers: int, seed: int,
          options: CompareOptions | None = None) -> list[Comparison]:
    """compare(generation k-1, generation k) for k = 1..generations."""
    rel = releases(run_simulation(regime, generations, answers, seed))
    return [compare_answers(rel[k - 1], rel[k], options, baseline_name=f"gen{k - 1}",
                            candidate_name=f"gen{k}") for k in range(1, len(rel))]


def meets_requirement(regime: str, comparisons: Sequence[Comparison]) -> bool:
    first, later = comparisons[0], comparisons[1:]
    different = any(r.p_adjusted is not None and r.p_adjusted < first.options.alpha
                    for r in first.signals)
    if regime == "replace":
        return different and all(c.collapse_suspected for c in later)
    return different and not any(c.collapse_suspected for c in later)


def table(regime: str, comparisons: Sequence[Comparison]) -> list[str]:
    """Per generation: every signal's change vs the previous one, p (adjusted), verdict."""
    lines = []
    for c in comparisons:
        lines.append(f"{regime} {c.candidate} vs {c.baseline}: {c.verdict.upper()}"
                     f" (degraded families: {', '.join(c.degraded_families) or 'none'};"
                     f" score {c.score:.0f})")
        for r in c.signals:
            if r.change is None:
                continue
            change = f"{100 * r.change:+.1f}%" if r.signal.change == "relative" \
                else f"{r.change:+.4f}"
            p = r.p_adjusted if r.p_adjusted is not None else r.p_value
            shown = "-" if p is None else f"{p:.1e}"
            mark = "" if r.signal.verdict else " (not in verdict)"
            lines.append(f"    {r.signal.key:34s} {change:>9s}  p {shown:>8s}  {r.verdict}{mark}")
    return lines


def run(generations: int = 5, answers: int = 3000, seed: int = 0,
        print_table: bool = True) -> list[dict]:
    rows = []
    for regime in REGIMES:
        start = time.perf_counter()
        comparisons = judge(regime, generations, answers, seed)
        elapsed = time.perf_counter() - start
        if print_table:
            print("\n".join(table(regime, comparisons)))
        verdicts = ", ".join(f"{c.candidate}: {c.verdict}" for c in comparisons)
        rows.append(dict(name=f"validation: {regime} regime, {generations} generations",
                         value="meets" if meets_requirement(regime, comparisons) else "FAILS",
                         unit="", target="collapse suspected from gen2 on" if
                         regime == "replace" else "never collapse suspected from gen2 on",
                         note=f"{answers:,} answers per generation, {elapsed:.0f} s; {verdicts}"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=5)
    parser.add_argument("--answers", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for row in run(args.generations, args.answers, args.seed):
        print(f"{row['name']}: {row['value']} ({row['note']})")


if __name__ == "__main__":
    main()
