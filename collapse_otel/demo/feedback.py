"""Simulated users and evaluators of the demo: thumbs, stars and judge results per answer.

Each answer is named by the root run id the demo gives its turn (``config={"run_id": ...}``),
as an app that shows a feedback button would, so the results land in the answer's release.
Deterministic per seed. The collapsed release v3 gets far more thumbs down and failed
groundedness checks than the healthy v1; v2 sits in between.
"""

from __future__ import annotations

import random
import uuid

from ..capture import Pipeline, record_evaluation, record_feedback

# per answer style: (share of answers rated, thumbs-down share of those, groundedness fails)
PROFILES = {"v1": (0.5, 0.06, 0.05), "v2": (0.5, 0.12, 0.10), "v3": (0.5, 0.35, 0.40)}
STARS = 0.25          # share of rated answers that also get 1-5 stars
THRESHOLDS = "relevance>=3"   # the relevance judge scores 1-5 and gives no label


class Raters:
    """Run ids for the demo's turns, and the feedback and evaluations given to them."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(f"{seed}:raters")

    def run_id(self) -> uuid.UUID:
        return uuid.UUID(int=self._rng.getrandbits(128), version=4)

    def rate(self, profile: str, run_id: uuid.UUID, pipeline: Pipeline) -> None:
        rated, down, fails = PROFILES[profile]
        rng = self._rng
        if rng.random() < rated:
            thumbs_down = rng.random() < down
            stars = (rng.randint(1, 3) if thumbs_down else rng.randint(3, 5)) \
                if rng.random() < STARS else None
            record_feedback("down" if thumbs_down else "up", score=stars, run_id=run_id,
                            pipeline=pipeline)
        failed = rng.random() < fails
        record_evaluation("groundedness", round(rng.uniform(0.0, 0.5) if failed else
                                                rng.uniform(0.6, 1.0), 3),
                          label="hallucinated" if failed else "grounded", run_id=run_id,
                          explanation="the judge's reasoning: never stored", pipeline=pipeline)
        record_evaluation("relevance", rng.randint(1, 3) if failed else rng.randint(3, 5),
                          run_id=run_id, pipeline=pipeline)
