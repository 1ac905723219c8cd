"""Every window signal on the recursive-training simulation, generation by generation.

Each generation of each regime (collapse_otel.simulation) is one release fed to the streaming
Aggregator, with the whole generation in the window and the default 1,000-answer sample. The
table shows each signal's value and its relative change against the previous generation;
the summary sets the steps from generation 2 on (replace: collapse; accumulate: the control)
against the direction collapse should push the signal.

Run: ``python -m benchmarks.simulation_signals [--generations 6 --answers 3000 --seed 0]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from collapse_otel.config import CollapseConfig
from collapse_otel.engine import WindowSignals
from collapse_otel.engine.aggregator import Aggregator
from collapse_otel.engine.feeding import observe_all, window_of
from collapse_otel.records import AnswerRecord, StreamKey
from collapse_otel.signals.registry import SIGNALS as REGISTRY
from collapse_otel.simulation import REGIMES, Generation, load_corpus, run_simulation

CORPUS_DATA = Path(__file__).resolve().parents[1] / "tests" / "data"   # the shipped corpora

#: (row name, registry key, direction under collapse: +1 up, -1 down)
SIGNALS: tuple[tuple[str, str, int], ...] = tuple((s.key, s.key, s.collapse) for s in REGISTRY)


def value(window: WindowSignals, key: str) -> float | None:
    return window.get(key)


def measure(regime: str, generations: Sequence[Generation]) -> list[WindowSignals]:
    """The window signals of each generation, each fed to the aggregator as one release."""
    n = max(len(g.answers) for g in generations)
    agg = Aggregator(CollapseConfig(window_answers=n, sample_size=1000, refresh_seconds=0))
    service = f"sim-{regime}"
    for g in generations:
        observe_all(agg, (AnswerRecord(text, completion_tokens=tokens, service=service,
                                       release=f"gen{g.index}")
                          for text, tokens in zip(g.answers, g.completion_tokens, strict=True)))
    snap = agg.snapshot(max_age=0)
    return [window_of(snap, StreamKey(service, f"gen{g.index}", "default"))
            for g in generations]


def change(new: float | None, old: float | None) -> float | None:
    """Relative change new / old - 1 (None when either is missing or old is 0)."""
    if new is None or old is None or old == 0:
        return None
    return new / old - 1.0


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:+.1f}%"


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}" if abs(x) < 10 else f"{x:.2f}"


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def regime_table(windows: list[WindowSignals]) -> list[list[str]]:
    rows = [["signal"] + [f"gen{k}" for k in range(len(windows))]]
    for name, getter, _ in SIGNALS:
        cells, prev = [], None
        for k, w in enumerate(windows):
            v = value(w, getter)
            step = _pct(change(v, prev)) if k else ""
            cells.append(_num(v) + (f" ({step})" if step else ""))
            prev = v
        rows.append([name, *cells])
    return rows


def steps(windows: list[WindowSignals], getter: object, first: int = 2) -> list[float]:
    """Relative changes generation k vs k-1, for k >= first (missing values skipped)."""
    out = []
    for k in range(first, len(windows)):
        c = change(value(windows[k], getter), value(windows[k - 1], getter))
        if c is not None:
            out.append(c)
    return out


def summary_table(results: dict[str, list[WindowSignals]]) -> list[list[str]]:
    """Per signal: gen1 vs gen0, the replace and accumulate steps from gen 2 on (mean, and how
    many point the way collapse should push the signal)."""
    rows = [["signal", "collapse", "gen1 vs gen0", "replace steps >=2: mean (collapse-way)",
             "accumulate steps >=2: mean (collapse-way)"]]
    for name, getter, direction in SIGNALS:
        first = steps(results["replace"], getter, first=1)[:1]
        cells = [name, "up" if direction > 0 else "down", _pct(first[0]) if first else ""]
        for regime in REGIMES:
            s = steps(results[regime], getter)
            agree = sum(1 for c in s if c * direction > 0)
            cells.append(f"{_pct(sum(s) / len(s))} ({agree}/{len(s)})" if s else "n/a")
        rows.append(cells)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generations", type=int, default=6)
    ap.add_argument("--answers", type=int, default=3000, help="answers per generation")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--top-p", type=float, default=0.9)
    ap.add_argument("--temperature", type=float, default=1.0)
    args = ap.parse_args(argv)
    results: dict[str, list[WindowSignals]] = {}
    for regime in REGIMES:
        start = time.perf_counter()
        gens = run_simulation(regime, args.generations, args.answers, args.seed,
                              human=load_corpus("wikitext", CORPUS_DATA),
                              top_p=args.top_p, temperature=args.temperature)
        simulated = time.perf_counter() - start
        results[regime] = measure(regime, gens)
        print(f"\n## {regime}: {args.generations} generations x {args.answers} answers, "
              f"seed {args.seed}, top-p {args.top_p}, temperature {args.temperature} "
              f"(simulation {simulated:.1f} s, signals "
              f"{time.perf_counter() - start - simulated:.1f} s)\n")
        _print_table(regime_table(results[regime]))
    print("\n## summary: change per generation (collapse-way: steps in the direction collapse "
          "should move the signal)\n")
    _print_table(summary_table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
