"""Which embedder makes semantic dispersion move: Vendi score and mean pairwise cosine under
the hashed default and each installed sentence-embedding model.

Two kinds of ground truth: the recursive-training simulation (replace: each generation trained
on the previous one's answers, collapse; accumulate: the control that keeps the human data),
and human against model text on the same prompts (tests/data/human-vs-llm). Each generation is
judged as the product judges a release: on a sample of ``--sample`` answers (1,000, the default
window sample), with the delete-group jackknife error of the window; ``z`` is a step's change
over the error of the difference.

Run: ``python -m benchmarks.embedders [--embedders hashed,wordllama --answers 3000 --seeds 0,1]``
(``make bench`` runs a small, fast version: the hashed default and any installed model fast
enough for it).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import re
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from collapse_otel.signals import resampling as R
from collapse_otel.signals.embedders import EMBEDDERS, EmbedderUnavailable, load_embedder
from collapse_otel.signals.embedding import HashedFeatureEmbedder
from collapse_otel.simulation import REGIMES, load_corpus, run_simulation
from collapse_otel.simulation.tokens import SENTENCE_END

CORPUS_DATA = Path(__file__).resolve().parents[1] / "tests" / "data"   # the shipped corpora
DATA = CORPUS_DATA / "human-vs-llm"
HUMAN_CHARS = 2_000   # of a human-vs-model text: the product's sample keeps 4,096 at most


def stats(X: np.ndarray, seed: int = 0) -> dict[str, tuple[float, float]]:
    """Vendi score and mean cosine of the rows of X, each with its jackknife error (as the
    window computes them: float16 unit rows, random delete groups)."""
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    U = (X / np.where(norms > 0, norms, 1.0)).astype(np.float16).astype(np.float64)
    group = np.random.default_rng(seed).integers(0, R.GROUPS, len(U))
    out = R.embedding_with_jackknife(U, group)
    result = {}
    for key in ("vendi", "cosine"):
        value, loo = out[key]
        result[key] = (float(value), R.jackknife_se(loo) or 0.0)
    return result


def step(new: tuple[float, float], old: tuple[float, float]) -> tuple[float, float]:
    """(relative change, z of the difference)."""
    se = math.hypot(new[1], old[1])
    return new[0] / old[0] - 1.0, (new[0] - old[0]) / se if se else float("nan")


_TOKEN = re.compile(r"\w+(?:[-'.]\w+)*|[^\w\s]")


def long_human_pool() -> list[tuple[tuple[str, ...], ...]]:
    """The human texts of human-vs-llm (news, stories, medical answers; 150-250 words, far
    longer than the WikiText answers) as token sentences, for the simulation's generation 0."""
    pool: dict[str, tuple[tuple[str, ...], ...]] = {}
    for path in sorted(DATA.glob("*.raw_data.json")):
        for text in json.loads(path.read_text())["original"]:
            sentences, current = [], []
            for token in _TOKEN.findall(text):
                current.append(token)
                if token in SENTENCE_END:
                    sentences.append(tuple(current))
                    current = []
            if current:
                sentences.append(tuple(current))
            pool.setdefault(text, tuple(sentences))
    return list(pool.values())


@functools.cache
def simulate(corpus: str, regime: str, generations: int, answers: int, seed: int):
    """One regime's generations, simulated once for every embedder."""
    human = long_human_pool() if corpus == "long" else load_corpus(corpus, CORPUS_DATA)
    return run_simulation(regime, generations, answers, seed=seed, human=human)


def simulation_rows(embed, name: str, answers: int, sample: int, generations: int,
                    seeds: Sequence[int], corpus: str = "wikitext") -> list[dict]:
    rows = []
    for seed in seeds:
        for regime in REGIMES:
            gens = simulate(corpus, regime, generations, answers, seed)
            prev = None
            for g in gens:
                s = stats(embed(list(g.answers[:sample])), seed)
                row = {"embedder": name, "corpus": corpus, "seed": seed, "regime": regime,
                       "gen": g.index, "vendi": s["vendi"][0], "cosine": s["cosine"][0]}
                if prev is not None:
                    row["vendi_change"], row["vendi_z"] = step(s["vendi"], prev["vendi"])
                    row["cosine_change"], row["cosine_z"] = step(s["cosine"], prev["cosine"])
                rows.append(row)
                prev = s
            print(f"  {name} {corpus} seed {seed} {regime}: Vendi " + " ".join(
                f"{r['vendi']:.1f}" for r in rows[-len(gens):]), flush=True)
    return rows


def human_rows(embed, name: str, only: str = "", chars: int = HUMAN_CHARS) -> list[dict]:
    rows = []
    for path in sorted(p for p in DATA.glob("*.raw_data.json") if only in p.name):
        d = json.loads(path.read_text())
        human = stats(embed([t[:chars] for t in d["original"]]))
        model = stats(embed([t[:chars] for t in d["sampled"]]))
        vc, vz = step(model["vendi"], human["vendi"])
        cc, cz = step(model["cosine"], human["cosine"])
        rows.append({"embedder": name, "set": path.name.removesuffix(".raw_data.json"),
                     "vendi_change": vc, "vendi_z": vz, "cosine_change": cc, "cosine_z": cz,
                     "vendi_human": human["vendi"][0], "vendi_model": model["vendi"][0]})
    return rows


def _embedder(name: str):
    """The embedder's embed, remembering rows by text: generations 0 and 1 are the same in
    both regimes, and a slow model should embed them once."""
    embed = HashedFeatureEmbedder().embed if name == "hashed" else load_embedder(name).embed
    seen: dict[str, np.ndarray] = {}

    def cached(texts: list[str]) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if t not in seen))
        if todo:
            seen.update(zip(todo, embed(todo), strict=True))
        return np.array([seen[t] for t in texts])
    return cached


def speed(embed, texts: list[str]) -> float:
    t0 = time.perf_counter()
    embed(texts)
    return len(texts) / (time.perf_counter() - t0)


def print_tables(sim: list[dict], human: list[dict]) -> None:
    print("\nSimulation: per-generation value and change against the previous generation "
          "(z: change / error of the difference)")
    print("| embedder | corpus | seed | regime | gen | Vendi | change | z | mean cosine | change "
          "| z |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in sim:
        ch = (f"{100 * r['vendi_change']:+.1f}% | {r['vendi_z']:+.1f} | {r['cosine']:.4f} | "
              f"{100 * r['cosine_change']:+.1f}% | {r['cosine_z']:+.1f}") if "vendi_z" in r \
            else f" | | {r['cosine']:.4f} | |"
        print(f"| {r['embedder']} | {r['corpus']} | {r['seed']} | {r['regime']} | {r['gen']} | "
              f"{r['vendi']:.2f} | {ch} |")
    print("\nHuman against model text (model / human - 1; z: change / error of the difference)")
    print("| embedder | set | Vendi human | Vendi model | change | z | mean cosine change | z |")
    print("|---|---|---|---|---|---|---|---|")
    for r in human:
        print(f"| {r['embedder']} | {r['set']} | {r['vendi_human']:.2f} | {r['vendi_model']:.2f} "
              f"| {100 * r['vendi_change']:+.1f}% | {r['vendi_z']:+.1f} | "
              f"{100 * r['cosine_change']:+.1f}% | {r['cosine_z']:+.1f} |")


def summary(sim: list[dict], human: list[dict]) -> list[dict]:
    """Per embedder and corpus: the median Vendi and cosine step of replace (gen >= 2) and of
    accumulate (gen >= 3), the smallest replace |z|; per embedder, how many human-vs-model
    sets move the collapse way (Vendi down)."""
    out = []
    for name, corpus in dict.fromkeys((r["embedder"], r["corpus"]) for r in sim):
        mine = [r for r in sim if r["embedder"] == name and r["corpus"] == corpus]
        rep = [r for r in mine if r["regime"] == "replace" and r["gen"] >= 2]
        acc = [r for r in mine if r["regime"] == "accumulate" and r["gen"] >= 3]
        row = {"embedder": name, "corpus": corpus}
        if rep:
            row |= {"replace_vendi_step": float(np.median([r["vendi_change"] for r in rep])),
                    "replace_vendi_min_z": float(min(-r["vendi_z"] for r in rep)),
                    "replace_cosine_step": float(np.median([r["cosine_change"] for r in rep])),
                    "replace_cosine_min_z": float(min(r["cosine_z"] for r in rep))}
        if acc:
            row |= {"accumulate_vendi_step": float(np.median([r["vendi_change"] for r in acc])),
                    "accumulate_vendi_max_z": float(max(-r["vendi_z"] for r in acc))}
        out.append(row)
    for name in dict.fromkeys(r["embedder"] for r in human):
        hum = [r for r in human if r["embedder"] == name]
        out.append({"embedder": name, "corpus": "human-vs-llm",
                    "sets_vendi_down": sum(r["vendi_change"] < 0 for r in hum),
                    "sets_vendi_down_z2": sum(r["vendi_z"] < -2 for r in hum),
                    "sets_cosine_up_z2": sum(r["cosine_z"] > 2 for r in hum), "sets": len(hum),
                    "median_vendi_change": float(np.median([r["vendi_change"] for r in hum]))})
    return out


def run() -> list[dict]:
    """``make bench``: the hashed default and WordLlama (when installed), 1,000 answers per
    generation, 3 generations, one seed, and the 9 human-vs-model sets."""
    rows = []
    for name in ("hashed", "wordllama"):
        try:
            embed = _embedder(name)
        except EmbedderUnavailable:
            continue
        rate = speed(embed, list(simulate("wikitext", "replace", 0, 500, 99)[0].answers))
        sim = simulation_rows(embed, name, 1000, 1000, 3, (0,))
        rep = [r for r in sim if r["regime"] == "replace" and r["gen"] >= 2]
        acc = [r for r in sim if r["regime"] == "accumulate" and r["gen"] == 3]
        hum = human_rows(embed, name)
        rows += [
            {"name": f"embedder {name}: answers embedded per second", "value": rate,
             "unit": "answers/s", "note": "one core, WikiText answers"},
            {"name": f"embedder {name}: Vendi step, replace gen 2-3 (median)",
             "value": 100 * float(np.median([r["vendi_change"] for r in rep])), "unit": "%",
             "note": f"accumulate gen 3: {100 * acc[0]['vendi_change']:+.1f}%; "
                     "python -m benchmarks.embedders for the full table"},
            {"name": f"embedder {name}: human-vs-model sets with Vendi down (z < -2)",
             "value": sum(r["vendi_z"] < -2 for r in hum), "unit": f"of {len(hum)}",
             "note": "median change "
                     f"{100 * float(np.median([r['vendi_change'] for r in hum])):+.1f}%"}]
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--embedders", default="hashed," + ",".join(EMBEDDERS))
    ap.add_argument("--answers", type=int, default=3000)
    ap.add_argument("--sample", type=int, default=1000)
    ap.add_argument("--generations", type=int, default=5)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--corpus", default="wikitext,long",
                    help="wikitext: WikiText-2 answers; long: the human-vs-llm human texts")
    ap.add_argument("--human-sets", default="", help="only human-vs-llm files named so")
    ap.add_argument("--human-chars", type=int, default=HUMAN_CHARS,
                    help="characters of each human-vs-llm text embedded")
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    sim: list[dict] = []
    human: list[dict] = []
    for name in args.embedders.split(","):
        try:
            embed = _embedder(name)
        except EmbedderUnavailable as exc:
            print(f"skipping {name}: {exc}")
            continue
        rate = speed(embed, list(run_simulation("replace", 0, 200, seed=99,
                                                    human=load_corpus("wikitext", CORPUS_DATA))[0].answers))
        print(f"{name}: {rate:,.1f} answers/s on one core (200 WikiText answers)", flush=True)
        for corpus in args.corpus.split(","):
            answers = min(args.answers, 1000) if corpus == "long" else args.answers
            sim += simulation_rows(embed, name, answers, min(args.sample, answers),
                                   args.generations, seeds, corpus)
        human += human_rows(embed, name, args.human_sets, args.human_chars)
    print_tables(sim, human)
    print("\nSummary")
    for row in summary(sim, human):
        print("  " + ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in row.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"simulation": sim, "human": human}, indent=1))
    return 0


if __name__ == "__main__":
    import os
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    raise SystemExit(main())
