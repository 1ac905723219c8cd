"""What the validation judges against: which recursive-training steps must be flagged, and
the flagged / judged table both the offline and the online validation print."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from collapse_otel.simulation import REGIMES

CORPUS_DATA = Path(__file__).resolve().parents[1] / "tests" / "data"   # the shipped corpora
FIRST_JUDGED_ACCUMULATE = 3   # the control may differ from its first generations; not after


def ground_truth(regime: str, generation: int) -> bool | None:
    """Recursive training, gen k vs gen k-1: True (collapse, must be flagged) for replace,
    False (must pass) for accumulate from generation 3, None (not judged) before."""
    if regime == "replace":
        return True
    return False if generation >= FIRST_JUDGED_ACCUMULATE else None


def rate(flags: Sequence[bool]) -> str:
    return f"{sum(flags)}/{len(flags)}" if flags else "-"


def generation_table(flags: Mapping[tuple[str, str, int], Sequence[bool]],
                     title: str) -> list[str]:
    """Per corpus, regime and generation k (the keys of ``flags``): flagged / judged."""
    if not flags:
        return []
    gens = sorted({k for _, _, k in flags})
    lines = [title, "corpus     regime      " + "".join(f"  gen{k}/{k - 1}" for k in gens)]
    for corpus in dict.fromkeys(c for c, _, _ in flags):
        for regime in REGIMES:
            cells = [f"{rate(flags.get((corpus, regime, k), [])):>9s}" for k in gens]
            lines.append(f"{corpus:10s} {regime:11s} " + "".join(cells))
    return lines
