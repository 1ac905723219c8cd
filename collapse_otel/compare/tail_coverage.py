"""Does the candidate still produce the baseline's rare outputs?

The baseline's sample is cut in two halves; the words and entities that occur exactly once in
the first half are its rare items. Coverage is the share of them that a second sample of the
same size also produces: the baseline's second half (what the same distribution gives) and the
candidate's sample (what the new release gives). Both cover the same items, so the two are
compared item by item with McNemar's test on the discordant items (covered by one, not the
other). A collapsing release stops producing the tail: its coverage falls below the baseline's.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..signals.answer_sample import SampledAnswer
from ..text.normalize import tokenize


@dataclass(frozen=True)
class TailCoverage:
    kind: str                    # "words" | "entities"
    rare_items: int              # items seen once in the baseline's first half
    baseline_share: float | None  # of them, produced by the baseline's second half
    candidate_share: float | None  # ... and by the candidate (as many answers)
    p_value: float | None        # McNemar, two-sided (normal approximation, continuity)


def tail_coverage(baseline: Sequence[SampledAnswer], candidate: Sequence[SampledAnswer],
                  ) -> list[TailCoverage]:
    half = min(len(baseline) // 2, len(candidate))
    if half < 2:
        return []
    first, second, cand = baseline[:half], baseline[half:2 * half], candidate[:half]
    out = []
    for kind, items in (("words", lambda s: (w for a in s for w in tokenize(a.text))),
                        ("entities", lambda s: (e for a in s for e in a.entities))):
        out.append(_coverage(kind, items(first), set(items(second)), set(items(cand))))
    return out


def _coverage(kind: str, reference: Iterable, second: set, candidate: set) -> TailCoverage:
    counts = Counter(reference)
    rare = [item for item, c in counts.items() if c == 1]
    if not rare:
        return TailCoverage(kind, 0, None, None, None)
    by_second = [item in second for item in rare]
    by_candidate = [item in candidate for item in rare]
    only_second = sum(a and not b for a, b in zip(by_second, by_candidate, strict=True))
    only_candidate = sum(b and not a for a, b in zip(by_second, by_candidate, strict=True))
    discordant = only_second + only_candidate
    p = 1.0 if not discordant else math.erfc(
        max(abs(only_second - only_candidate) - 1, 0) / math.sqrt(discordant) / math.sqrt(2))
    return TailCoverage(kind, len(rare), sum(by_second) / len(rare),
                        sum(by_candidate) / len(rare), p)
