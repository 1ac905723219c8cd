"""The recursive-training loop: ground truth for the collapse signals.

Generation 0 is a sample of human answers (the baseline release). Generation 1 is a trigram
model trained on it. After that the regimes differ only in their training data:

- ``replace``: generation k+1 is trained on generation k's answers alone (the set-up in which
  Shumailov et al. 2024 observe collapse);
- ``accumulate``: generation k+1 is trained on generation 0 plus every generation up to k
  (the control of Gerstgrasser et al. 2024, where collapse does not set in).

Every generation has the same number of answers. Generation k draws its randomness from
``(seed, k)`` whatever the regime, so generation 1 is the same release in both regimes and the
regimes differ by their training data only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .ngram import TrigramModel
from .tokens import detokenize
from .wikitext import Answer

Regime = Literal["replace", "accumulate"]
REGIMES: tuple[Regime, ...] = ("replace", "accumulate")


@dataclass(frozen=True)
class Generation:
    """One release: the answers as text, and as token sentences (what the next model trains
    on; ``completion_tokens`` counts them, the model's own token count)."""

    index: int
    answers: tuple[str, ...]
    token_answers: tuple[Answer, ...]

    @property
    def completion_tokens(self) -> list[int]:
        return [sum(len(s) for s in a) for a in self.token_answers]


def _generation(index: int, answers: Sequence[Answer]) -> Generation:
    return Generation(index, tuple(detokenize(a) for a in answers), tuple(answers))


def human_sample(count: int, seed: int, pool: Sequence[Answer]) -> list[Answer]:
    """``count`` human answers of ``pool`` drawn without replacement (deterministic for the
    seed)."""
    if not 0 < count <= len(pool):
        raise ValueError(f"answers_per_generation must be in 1..{len(pool)} (human answers)")
    picks = np.random.default_rng([seed, 0]).choice(len(pool), size=count, replace=False)
    return [pool[i] for i in picks.tolist()]


def run_simulation(regime: Regime, generations: int, answers_per_generation: int,
                   seed: int = 0, *, human: Sequence[Answer], top_p: float = 0.9,
                   temperature: float = 1.0) -> list[Generation]:
    """Generations 0..``generations`` (0 = the human sample) of one regime.

    ``human``: the pool of human answers to sample generation 0 from, for instance
    ``corpora.load_corpus("wikitext", data_dir)``; the package ships no corpus.
    """
    if regime not in REGIMES:
        raise ValueError(f"regime must be one of {REGIMES}, got {regime!r}")
    if generations < 0:
        raise ValueError("generations must be >= 0")
    current = human_sample(answers_per_generation, seed, human)
    training: list[Answer] = list(current)
    out = [_generation(0, current)]
    for k in range(1, generations + 1):
        model = TrigramModel(training, top_p=top_p, temperature=temperature)
        current = model.generate(answers_per_generation, np.random.default_rng([seed, k]))
        out.append(_generation(k, current))
        training = current if regime == "replace" else training + current
    return out
