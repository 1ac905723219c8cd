"""The online verdict against ground truth: the recursive-training simulations deployed as
releases and judged by a real Prometheus running the production rules (``make validate``).

Per corpus, regime and seed, generation k is deployed as release ``gen<k>`` of its own service
with ``gen<k-1>`` as its previous release, as a rolling deploy does: one process per release
(``benchmarks.release_process``: the real capture path, then ``/metrics``), at most three
alive at once (the release judged, its predecessor, the next one analysing its answers), each
retired once its successor is judged. The rules are the generated ones with short waits
(``benchmarks.verdict_stack.SHORT``: ``for: 5s``, 1 s intervals). A release is flagged when
the verdict series ``service_release_cohort:collapse_suspected:previous_release`` is 1; the
alert ``CollapseReleaseRegression`` (warning) must then fire, and never fire otherwise.

The requirement is the offline one (``benchmarks.validation``): every replace step flagged, no
accumulate step from generation 3.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from collapse_otel.signals.registry import VERDICT_SIGNALS
from collapse_otel.simulation import REGIMES, Generation, run_simulation
from collapse_otel.simulation.corpora import load_corpus
from collapse_otel.simulation.recursive import Regime

from .ground_truth import CORPUS_DATA, FIRST_JUDGED_ACCUMULATE, generation_table, ground_truth
from .verdict_stack import VerdictStack, active

READY_SECONDS = 900.0      # hang guard: a release analysing its answers on a loaded machine
JUDGED_SECONDS = 300.0     # from both releases serving to the verdict's first evaluation
LIVE = 3                   # release processes alive at once
CRITICAL = {s.key: float(s.critical) for s in VERDICT_SIGNALS if s.critical is not None}


@dataclass(frozen=True)
class OnlineJudged:
    """One release judged online against its previous release."""

    corpus: str
    regime: str
    generation: int      # k of "gen k vs gen k-1"
    seed: int
    suspected: bool      # the verdict series
    alerted: bool        # CollapseReleaseRegression (warning) was pending or firing
    families: tuple[str, ...] = ()    # degraded families
    critical: tuple[str, ...] = ()    # signals whose bound passed their critical margin
    bounds: Mapping[str, float] = field(default_factory=dict)   # signal -> bound of the change

    @property
    def must_flag(self) -> bool | None:
        return ground_truth(self.regime, self.generation)

    @property
    def critical_ratio(self) -> float:
        """The largest bound / critical margin over the signals that have one (the critical
        clause fires above 1; 0 when none moved toward collapse)."""
        return max((b / CRITICAL[k] for k, b in self.bounds.items() if k in CRITICAL),
                   default=0.0)


def service_name(corpus: str, regime: str, seed: int) -> str:
    return f"sim-{corpus}-{regime}-s{seed}"


def _deploy(stack: VerdictStack, service: str, g: Generation) -> None:
    stack.deploy(service, f"gen{g.index}", g.answers, g.completion_tokens,
                 previous=f"gen{g.index - 1}" if g.index else None)


def _verdict(stack: VerdictStack, corpus: str, regime: str, seed: int, k: int,
             answers: int) -> OnlineJudged:
    """Release gen<k>'s verdict once both it and gen<k-1> serve and the rules have run on
    them; when flagged, wait for the alert to fire (its ``for``)."""
    service, release = service_name(corpus, regime, seed), f"gen{k}"
    for r in (k - 1, k):
        n = stack.procs[(service, f"gen{r}")].wait_ready(READY_SECONDS)
        if n != answers:
            raise RuntimeError(f"{service} gen{r} analysed {n} of {answers} answers")
    stack.wait(lambda: (service, release) in stack.compared(), JUDGED_SECONDS,
               f"{service} {release} compared with gen{k - 1}")
    moment = time.time()
    stack.wait(lambda: stack.evaluated_since(moment), JUDGED_SECONDS, "rules evaluated")
    flagged = stack.suspected(service, release)
    if flagged:
        stack.wait(lambda: stack.alerts(service, release).get("warning", {})
                   .get("alertstate") == "firing", JUDGED_SECONDS, f"{service} {release} alert")
    alerted = active(stack.alerts(service, release).get("warning")) or \
        stack.ever_alerted(service, release)
    return OnlineJudged(corpus, regime, k, seed, flagged, alerted,
                        tuple(sorted(stack.families(service, release))),
                        tuple(sorted(stack.critical(service, release))),
                        stack.bounds(service, release))


def judge_online(stack: VerdictStack, corpus: str, regime: Regime, seed: int, generations: int,
                 answers: int, done: Callable[[OnlineJudged], None] | None = None,
                 ) -> list[OnlineJudged]:
    """Deploy the simulation's generations one after another and judge each against its
    predecessor; ``stack``'s Prometheus must be running."""
    gens = run_simulation(regime, generations, answers, seed,
                          human=load_corpus(corpus, CORPUS_DATA))
    service = service_name(corpus, regime, seed)
    out: list[OnlineJudged] = []
    for g in gens[:LIVE - 1]:
        _deploy(stack, service, g)
    try:
        for k in range(1, len(gens)):
            if k + LIVE - 2 < len(gens):   # the next release analyses while this one is judged
                _deploy(stack, service, gens[k + LIVE - 2])
            out.append(_verdict(stack, corpus, regime, seed, k, answers))
            if done:
                done(out[-1])
            stack.retire(service, f"gen{k - 1}")
    finally:
        for g in gens:
            if (service, f"gen{g.index}") in stack.procs:
                stack.retire(service, f"gen{g.index}")
    return out


def collect_online(corpora: Sequence[str], seeds: int | Sequence[int] = 1,
                   generations: int = 5, answers: int = 3000, workdir: Path | None = None,
                   done: Callable[[OnlineJudged], None] | None = None) -> list[OnlineJudged]:
    """Every release judged online, corpus by corpus, regime by regime, seed by seed
    (``seeds``: how many from 0, or which): one Prometheus for the whole run, its data and
    the answers files in ``workdir`` (a temporary directory, removed after, by default)."""
    seeds = range(seeds) if isinstance(seeds, int) else seeds
    with tempfile.TemporaryDirectory(prefix="collapse-otel-online-") as tmp:
        stack = VerdictStack(workdir or Path(tmp))
        out: list[OnlineJudged] = []
        try:
            stack.start_prometheus()
            for corpus in corpora:
                for regime in REGIMES:
                    for seed in seeds:
                        out += judge_online(stack, corpus, regime, seed, generations, answers,
                                            done)
        finally:
            stack.stop()
    return out


def online_table(judged: Sequence[OnlineJudged]) -> list[str]:
    """The online operating table, in the offline table's shape."""
    flags: dict[tuple[str, str, int], list[bool]] = {}
    for j in judged:
        flags.setdefault((j.corpus, j.regime, j.generation), []).append(j.suspected)
    return generation_table(flags, "Online (Prometheus, the generated rules), gen k vs gen k-1: "
                            "flagged / seeds (replace: power, must be all; accumulate from gen "
                            f"{FIRST_JUDGED_ACCUMULATE}: false flags, must be none)")


def online_separation(judged: Sequence[OnlineJudged]) -> list[str]:
    """How far the online critical clause is from deciding otherwise, and the families
    degraded: per corpus, the smallest over replace steps, the largest over accumulate steps
    from generation 3."""
    lines = ["Online critical clause: anytime-valid bound / critical margin of the most degraded "
             "signal (fires above 1); degraded families (K = 3 flags)",
             "corpus     replace (min)  accumulate gen>=3 (max)  families replace (min)  "
             "accumulate gen>=3 (max)"]
    for corpus in dict.fromkeys(j.corpus for j in judged):
        rep = [j for j in judged if j.corpus == corpus and j.must_flag is True]
        acc = [j for j in judged if j.corpus == corpus and j.must_flag is False]
        cells = [f"{min(j.critical_ratio for j in rep):.2f}" if rep else "-",
                 f"{max(j.critical_ratio for j in acc):.2f}" if acc else "-",
                 f"{min(len(j.families) for j in rep)}" if rep else "-",
                 f"{max(len(j.families) for j in acc)}" if acc else "-"]
        lines.append(f"{corpus:10s} {cells[0]:>13s}  {cells[1]:>23s}  {cells[2]:>22s}  "
                     f"{cells[3]:>23s}")
    return lines


def online_failures(judged: Sequence[OnlineJudged]) -> list[str]:
    """What breaks the requirement online, and any alert that disagrees with the verdict."""
    out = [f"online {j.corpus} {j.regime} gen{j.generation} seed {j.seed}: "
           f"{'flagged' if j.suspected else 'not flagged'} ({', '.join(j.families) or 'no family'}"
           f"{'; critical: ' + ', '.join(j.critical) if j.critical else ''})"
           for j in judged if j.must_flag is not None and j.suspected != j.must_flag]
    out += [f"online {j.corpus} {j.regime} gen{j.generation} seed {j.seed}: alert "
            f"{'fired' if j.alerted else 'silent'} but verdict {int(j.suspected)}"
            for j in judged if j.alerted != j.suspected]
    return out


def progress(j: OnlineJudged) -> None:
    """One line per judged release on stderr (a full run takes a while)."""
    print(f"online {j.corpus} {j.regime} seed {j.seed} gen{j.generation}: "
          f"{'FLAGGED' if j.suspected else 'pass'} families={list(j.families)} "
          f"critical={list(j.critical)} ratio={j.critical_ratio:.2f}", file=sys.stderr,
          flush=True)


def save_online(judged: Sequence[OnlineJudged], path: Path) -> None:
    """The judged releases as JSON lines (bounds included, to diagnose without rerunning)."""
    path.write_text("".join(json.dumps(asdict(j)) + "\n" for j in judged))


def load_online(path: Path) -> list[OnlineJudged]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [OnlineJudged(**{**r, "families": tuple(r["families"]),
                            "critical": tuple(r["critical"])}) for r in rows]
