"""The verdict against ground truth: power and false-flag rate on several human corpora.

Three kinds of pair are judged by ``compare`` with its default options (``make validate``):

- recursive training (``collapse_otel.simulation``) on each corpus, per seed: generation k
  against generation k-1, for the model trained on its own samples (``replace``: collapse,
  every step must be flagged) and for the control that keeps the human data (``accumulate``:
  no step from generation 3 on may be flagged);
- human against model-written text (``tests/data/human-vs-llm``: every pair should be flagged);
- same-distribution splits: two disjoint random samples of one corpus's human answers, at
  1,000 and 3,000 answers a side (or half the corpus when it has fewer than 6,000 answers;
  the table says the size): at most 5% may be flagged.

It prints the operating table: per corpus, regime and generation the share of seeds flagged
"collapse suspected" (power for replace, false flags for accumulate from generation 3), and
per corpus and size the share of splits flagged. ``--workers`` spreads the jobs over processes.
Then the same simulations are judged online (``benchmarks.validation_online``: each generation
a release process, a real Prometheus running the generated rules) and the online table is
printed in the same shape; the requirement holds for both.

Run: ``python -m benchmarks.validation [--seeds 2 --splits 20 --workers 2 --online on]``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from collapse_otel.compare import CompareOptions, Comparison, compare_answers
from collapse_otel.records import AnswerRecord
from collapse_otel.signals.registry import SIGNALS
from collapse_otel.simulation import REGIMES, Generation, run_simulation
from collapse_otel.simulation.corpora import CORPORA, load_corpus
from collapse_otel.simulation.tokens import detokenize

from .ground_truth import (
    CORPUS_DATA,
    FIRST_JUDGED_ACCUMULATE,
    generation_table,
    ground_truth,
    rate,
)

HUMAN_VS_LLM = CORPUS_DATA / "human-vs-llm"


@dataclass(frozen=True)
class Judged:
    """One judged pair: what it is, what the truth is, and compare's result."""

    kind: str            # simulation | split | human-vs-model
    corpus: str
    regime: str          # replace | accumulate (simulation), "" otherwise
    generation: int      # k of "gen k vs gen k-1" (simulation), the split size otherwise
    seed: int
    comparison: Comparison

    @property
    def must_flag(self) -> bool | None:
        """True: collapse; False: must pass; None: not judged (the control's first steps)."""
        if self.kind == "simulation":
            return ground_truth(self.regime, self.generation)
        return self.kind == "human-vs-model"


def releases(generations: Sequence[Generation]) -> list[list[AnswerRecord]]:
    return [[AnswerRecord(text, completion_tokens=tokens)
             for text, tokens in zip(g.answers, g.completion_tokens, strict=True)]
            for g in generations]


def _records(answers: Iterable) -> list[AnswerRecord]:
    return [AnswerRecord(detokenize(a), completion_tokens=sum(len(s) for s in a))
            for a in answers]


def judge(regime: str, generations: int, answers: int, seed: int,
          options: CompareOptions | None = None, corpus: str = "wikitext") -> list[Comparison]:
    """compare(generation k-1, generation k) for k = 1..generations."""
    rel = releases(run_simulation(regime, generations, answers, seed,
                                  human=load_corpus(corpus, CORPUS_DATA)))
    return [compare_answers(rel[k - 1], rel[k], options, baseline_name=f"gen{k - 1}",
                            candidate_name=f"gen{k}") for k in range(1, len(rel))]


def split_size(corpus: str, size: int) -> int:
    """Answers a side of a split: ``size``, or half the corpus when it has too few."""
    return min(size, len(load_corpus(corpus, CORPUS_DATA)) // 2)


def judge_split(corpus: str, size: int, index: int,
                options: CompareOptions | None = None) -> Comparison:
    """Two disjoint random samples of the corpus's human answers (split ``index``)."""
    pool = load_corpus(corpus, CORPUS_DATA)
    n = split_size(corpus, size)
    picks = np.random.default_rng([index, n, 7]).permutation(len(pool))[:2 * n].tolist()
    a, b = _records(pool[i] for i in picks[:n]), _records(pool[i] for i in picks[n:])
    return compare_answers(a, b, options, baseline_name=f"{corpus} half A",
                           candidate_name=f"{corpus} half B")


def human_vs_model(options: CompareOptions | None = None) -> list[tuple[str, Comparison]]:
    """Each shipped file's human-written texts against the model's for the same prompts."""
    out = []
    for path in sorted(HUMAN_VS_LLM.glob("*.raw_data.json")):
        data = json.loads(path.read_text())
        name = path.name.removesuffix(".raw_data.json")
        out.append((name, compare_answers(
            [AnswerRecord(t) for t in data["original"]],
            [AnswerRecord(t) for t in data["sampled"]], options,
            baseline_name="human", candidate_name=name)))
    return out


# ----------------------------------------------------------------------------- the jobs


def _simulation_job(corpus: str, regime: str, seed: int, generations: int, answers: int,
                    options: CompareOptions | None) -> list[Judged]:
    return [Judged("simulation", corpus, regime, k, seed, c) for k, c in
            enumerate(judge(regime, generations, answers, seed, options, corpus), start=1)]


def _split_job(corpus: str, size: int, indices: Sequence[int],
               options: CompareOptions | None) -> list[Judged]:
    return [Judged("split", corpus, "", split_size(corpus, size), i,
                   judge_split(corpus, size, i, options)) for i in indices]


def _human_job(options: CompareOptions | None) -> list[Judged]:
    return [Judged("human-vs-model", name.split("_")[0], name.split("_", 1)[1], 150, 0, c)
            for name, c in human_vs_model(options)]


def _call(job: tuple) -> list[Judged]:
    fn, args = job
    return fn(*args)


def collect(corpora: Sequence[str] = tuple(CORPORA), seeds: int = 2, generations: int = 5,
            answers: int = 3000, split_sizes: Sequence[int] = (1000, 3000), splits: int = 20,
            workers: int = 2, options: CompareOptions | None = None, human: bool = True,
            done: Callable[[list[Judged]], None] | None = None) -> list[Judged]:
    """Every judged pair, corpus by corpus. Jobs run in ``workers`` processes; ``done`` sees
    the pairs judged so far after each job."""
    jobs: list[tuple] = [(_human_job, (options,))] if human else []
    chunk = max(1, splits // 4)
    for c in corpora:
        jobs += [(_simulation_job, (c, r, s, generations, answers, options))
                 for s in range(seeds) for r in REGIMES]
        jobs += [(_split_job, (c, n, range(i, min(i + chunk, splits)), options))
                 for n in split_sizes for i in range(0, splits, chunk)]
    out: list[Judged] = []
    if workers <= 1:
        for job in jobs:
            out += _call(job)
            if done:
                done(out)
        return out
    with ProcessPoolExecutor(workers) as pool:
        for future in as_completed([pool.submit(_call, job) for job in jobs]):
            out += future.result()
            if done:
                done(out)
    order = {name: i for i, name in enumerate(corpora)}
    return sorted(out, key=lambda j: (j.kind != "human-vs-model", order.get(j.corpus, -1),
                                      j.kind, j.regime, j.seed, j.generation))


# ----------------------------------------------------------------------------- the table


def save(judged: Sequence[Judged], path: Path) -> None:
    """The judged pairs, to re-decide later without recomputing (``--load``)."""
    rows = [(j.kind, j.corpus, j.regime, j.generation, j.seed, j.comparison) for j in judged]
    path.write_bytes(pickle.dumps(rows))


def load(path: Path, options: CompareOptions | None = None) -> list[Judged]:
    """Saved pairs, decided again under ``options`` and the registry's current margins (the
    decision reads only the stored intervals, so it needs no recomputation)."""
    opts = options or CompareOptions()
    margins = {s.key: s.critical for s in SIGNALS}
    out = []
    for kind, corpus, regime, generation, seed, c in pickle.loads(path.read_bytes()):
        decided = replace(opts, criticals={**margins, **opts.criticals}, alpha=c.options.alpha)
        out.append(Judged(kind, corpus, regime, generation, seed, replace(c, options=decided)))
    return out


def operating_table(judged: Sequence[Judged]) -> list[str]:
    """The operating table: per corpus, regime and generation, and per split size, the
    share of pairs flagged "collapse suspected", and whether it meets the requirement."""
    lines = []
    corpora = list(dict.fromkeys(j.corpus for j in judged if j.kind != "human-vs-model"))
    steps: dict[tuple[str, str, int], list[bool]] = {}
    for j in judged:
        if j.kind == "simulation":
            steps.setdefault((j.corpus, j.regime, j.generation), []).append(
                j.comparison.collapse_suspected)
    lines += generation_table(steps, "Recursive training, gen k vs gen k-1: flagged / seeds "
                              "(replace: power, must be all; accumulate from gen "
                              f"{FIRST_JUDGED_ACCUMULATE}: false flags, must be none)")
    splits = [j for j in judged if j.kind == "split"]
    if splits:
        lines += ["", "Same-distribution splits: flagged / splits (false-flag rate, at most 5%)"]
        for corpus in corpora:
            cells = []
            for n in sorted({j.generation for j in splits if j.corpus == corpus}):
                flags = [j.comparison.collapse_suspected for j in splits
                         if (j.corpus, j.generation) == (corpus, n)]
                cells.append(f"{n:,} a side: {rate(flags)} ({100 * sum(flags) / len(flags):.0f}%)")
            lines.append(f"{corpus:10s} " + "; ".join(cells))
    human = [j for j in judged if j.kind == "human-vs-model"]
    if human:
        lines += ["", "Human against model-written text (150 texts a side): flagged"]
        for j in human:
            c = j.comparison
            lines.append(f"{j.corpus:8s} {j.regime:15s} {c.verdict:20s} "
                         f"({', '.join(c.degraded_families) or 'no family'}"
                         f"{'; critical: ' + ', '.join(c.critical_signals) if c.critical_signals else ''})")
    return lines


def separation(judged: Sequence[Judged]) -> list[str]:
    """How far the rule's second clause is from deciding otherwise: per comparison, the
    largest ratio of a degraded signal's widened-interval near end to its critical margin (the
    clause fires above 1). Per corpus: the smallest over replace steps, the largest over
    accumulate steps from generation 3 and over splits."""
    def ratio(c: Comparison) -> float:
        return max((b / c.margin(k) for k, b in c.critical_bounds.items() if c.margin(k)),
                   default=0.0)

    lines = ["Critical clause: widened-interval near end / margin of the most degraded signal "
             "(fires above 1; 0: no signal with a margin degraded)",
             "corpus     replace (min)  accumulate gen>=3 (max)  splits (max)"]
    for corpus in dict.fromkeys(j.corpus for j in judged if j.kind != "human-vs-model"):
        mine = [j for j in judged if j.corpus == corpus]
        rep = [ratio(j.comparison) for j in mine if j.regime == "replace"]
        acc = [ratio(j.comparison) for j in mine if j.regime == "accumulate"
               and j.generation >= FIRST_JUDGED_ACCUMULATE]
        spl = [ratio(j.comparison) for j in mine if j.kind == "split"]
        cells = [f"{f(v):.2f}" if v else "-" for f, v in ((min, rep), (max, acc), (max, spl))]
        lines.append(f"{corpus:10s} {cells[0]:>13s}  {cells[1]:>23s}  {cells[2]:>12s}")
    return lines


def failures(judged: Sequence[Judged], max_split_rate: float = 0.05) -> list[str]:
    """What breaks the requirement (empty: met on every corpus)."""
    out = [f"{j.corpus} {j.regime} gen{j.generation} seed {j.seed}: {j.comparison.verdict}"
           for j in judged if j.kind == "simulation" and j.must_flag is not None
           and j.comparison.collapse_suspected != j.must_flag]
    for corpus in dict.fromkeys(j.corpus for j in judged if j.kind == "split"):
        for n in sorted({j.generation for j in judged if j.kind == "split" and j.corpus == corpus}):
            flags = [j.comparison.collapse_suspected for j in judged
                     if j.kind == "split" and (j.corpus, j.generation) == (corpus, n)]
            if sum(flags) > max_split_rate * len(flags):
                out.append(f"{corpus} splits of {n:,}: {sum(flags)}/{len(flags)} flagged")
    return out


def signal_table(judged: Sequence[Judged]) -> list[str]:
    """Per corpus, regime and generation: the median change of each signal that has a
    critical margin, with the margin (what the rule's second clause reads)."""
    from collapse_otel.signals.registry import VERDICT_SIGNALS
    keys = [s for s in VERDICT_SIGNALS if s.critical is not None]
    lines = ["Median change (per cent; absolute for ratios near 0) of the signals with a "
             "critical margin: " + ", ".join(f"{s.key} {s.critical:g}" for s in keys)]
    groups: dict[tuple, list[Comparison]] = {}
    for j in judged:
        if j.kind == "simulation":
            groups.setdefault((j.corpus, j.regime, f"gen{j.generation}"), []).append(j.comparison)
        elif j.kind == "split":
            groups.setdefault((j.corpus, "split", f"{j.generation}"), []).append(j.comparison)
    for key, comps in groups.items():
        cells = []
        for s in keys:
            values = [c.result(s.key).change for c in comps if c.result(s.key).change is not None]
            cells.append(f"{s.key}={100 * float(np.median(values)):+.1f}" if values else
                         f"{s.key}=-")
        lines.append(" ".join(key) + ": " + " ".join(cells))
    return lines


# ----------------------------------------------------------------------------- entry points


def run(generations: int = 5, answers: int = 3000, seed: int = 0,
        print_table: bool = False) -> list[dict]:
    """``make bench``'s rows: WikiText-2, one seed, both regimes (``make validate`` runs
    every corpus, seeds and splits)."""
    rows = []
    for regime in REGIMES:
        start = time.perf_counter()
        judged = _simulation_job("wikitext", regime, seed, generations, answers, None)
        elapsed = time.perf_counter() - start
        broken = failures(judged)
        verdicts = ", ".join(f"gen{j.generation}: {j.comparison.verdict}" for j in judged)
        rows.append(dict(name=f"validation: {regime} regime, {generations} generations",
                         value="FAILS" if broken else "meets", unit="",
                         target="collapse suspected at every step" if regime == "replace"
                         else f"never collapse suspected from gen{FIRST_JUDGED_ACCUMULATE} on",
                         note=f"{answers:,} answers per generation, {elapsed:.0f} s; {verdicts}"))
    return rows


def disagreements(judged: Sequence[Judged], online: Sequence) -> list[str]:
    """Releases judged both ways whose verdicts differ (online: ``OnlineJudged``)."""
    offline = {(j.corpus, j.regime, j.generation, j.seed): j.comparison for j in judged
               if j.kind == "simulation"}
    out = []
    for o in online:
        c = offline.get((o.corpus, o.regime, o.generation, o.seed))
        if c is not None and c.collapse_suspected != o.suspected:
            out.append(f"{o.corpus} {o.regime} gen{o.generation} seed {o.seed}: offline "
                       f"{c.verdict} ({', '.join(c.degraded_families) or 'no family'}), online "
                       f"{'flagged' if o.suspected else 'not flagged'} "
                       f"({', '.join(o.families) or 'no family'})")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from .validation_online import (
        collect_online,
        load_online,
        online_failures,
        online_separation,
        online_table,
        progress,
        save_online,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", default=",".join(CORPORA))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--generations", type=int, default=5)
    parser.add_argument("--answers", type=int, default=3000)
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--split-sizes", default="1000,3000")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--save", type=Path, help="pickle the judged pairs here")
    parser.add_argument("--load", type=Path, help="decide the pairs saved by --save again "
                        "(current rule and margins) instead of computing them")
    parser.add_argument("--signals", action="store_true",
                        help="also print the median change of the critical signals")
    parser.add_argument("--online", choices=("on", "off", "only"), default="on",
                        help="also judge the simulations online (release processes and a real "
                        "Prometheus with the generated rules); only: the online side alone")
    parser.add_argument("--online-seeds", type=int, help="seeds judged online (--seeds)")
    parser.add_argument("--save-online", type=Path, help="the online verdicts, as JSON lines")
    parser.add_argument("--load-online", type=Path, help="print the online verdicts saved by "
                        "--save-online instead of judging again")
    args = parser.parse_args(argv)
    corpora = args.corpora.split(",")
    start = time.perf_counter()
    judged: list[Judged] = []
    if args.load:
        judged = load(args.load)
    elif args.online != "only":
        judged = collect(corpora, args.seeds, args.generations, args.answers,
                         [int(n) for n in args.split_sizes.split(",")], args.splits,
                         args.workers, done=(lambda so_far: save(so_far, args.save))
                         if args.save else None)
    elapsed = time.perf_counter() - start
    if judged:
        print("\n".join(operating_table(judged)))
        print("\n" + "\n".join(separation(judged)))
        if args.signals:
            print("\n" + "\n".join(signal_table(judged)))
        print(f"\n{len(judged)} pairs decided again from {args.load}." if args.load else
              f"\n{len(judged)} pairs judged in {elapsed:.0f} s wall time "
              f"({args.workers} worker{'s' * (args.workers > 1)}).")
    online = []
    if args.load_online:
        online = load_online(args.load_online)
    elif args.online != "off" and not args.load:
        start = time.perf_counter()
        seen: list = []

        def done(row) -> None:
            seen.append(row)
            progress(row)
            if args.save_online:
                save_online(seen, args.save_online)

        online = collect_online(corpora, args.online_seeds or args.seeds, args.generations,
                                args.answers, done=done)
        print(f"\n{len(online)} releases judged online in "
              f"{time.perf_counter() - start:.0f} s wall time.")
    if online:
        print("\n" + "\n".join(online_table(online)))
        print("\n" + "\n".join(online_separation(online)))
        differ = disagreements(judged, online)
        if judged:
            print("\nOffline and online verdicts differ: " +
                  ("\n  " + "\n  ".join(differ) if differ else "nowhere."))
    broken = failures(judged) + online_failures(online)
    print("Requirement met on every corpus." if not broken else
          "Requirement NOT met:\n  " + "\n  ".join(broken))
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
