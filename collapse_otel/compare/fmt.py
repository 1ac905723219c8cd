"""How every report writes numbers: values with sensible precision, the change as a percent
for relative signals and in points for absolute ones, "—" for anything missing (never
"nan" or "inf"), and each number with what it means (the score, a verdict's reason)."""

from __future__ import annotations

import math
from typing import cast

from ..engine.snapshot import TOKEN_BUCKETS
from .engine import NO_CHANGE, NOT_ENOUGH, Comparison, SignalResult

DASH = "—"
SCORE = ("the share of each family's judged signals that did not degrade, averaged over the "
         "families with data: 100 = none degraded, 0 = all did")
SCORE_SHORT = "signals not degraded, averaged over families"


def finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def value(v: float | None) -> str:
    v = finite(v)
    if v is None:
        return DASH
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{v:,.0f}"
    if a < 0.001:
        return f"{v:.2e}"
    return f"{v:.4g}"


def change_kind(r: SignalResult) -> str:
    """``relative`` (a fraction of the baseline) or ``absolute`` (a difference): the engine
    falls back to the difference when the baseline is 0."""
    return "relative" if r.signal.change == "relative" and finite(r.baseline) else "absolute"


def change(r: SignalResult, v: float | None = None, *, unit: bool = True) -> str:
    """A change (``v``, default the result's own) in the unit of its signal."""
    v = finite(r.change if v is None else v)
    if v is None:
        return DASH
    if change_kind(r) == "relative":
        return _signed(100 * v) + ("%" if unit else "")
    if r.signal.change == "absolute":   # ratios near 0: points of percent
        return _signed(100 * v) + (" pts" if unit else "")
    return f"{v:+.3g}"


def _signed(x: float) -> str:
    if x != 0 and abs(x) < 0.1:
        return f"{x:+.2f}"
    return f"{x:+.1f}" if abs(x) < 1000 else f"{x:+,.0f}"


def interval(r: SignalResult) -> str:
    if finite(r.low) is None or finite(r.high) is None:
        return DASH
    suffix = {"relative": "%"}.get(change_kind(r), " pts" if r.signal.change == "absolute"
                                    else "")
    return f"[{change(r, r.low, unit=False)}, {change(r, r.high, unit=False)}]{suffix}"


def shown_p(r: SignalResult) -> float | None:
    """The adjusted p-value for signals in the verdict, the raw one for the others."""
    return finite(r.p_adjusted if r.signal.verdict else r.p_value)


def p_value(r: SignalResult) -> str:
    p = shown_p(r)
    if p is None:
        return DASH
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def score(c: Comparison) -> str:
    """``score 27/100 (what it is)``: never a bare number."""
    return f"score {c.score:.0f}/100 ({SCORE_SHORT})"


def floor(r: SignalResult) -> str:
    """The smallest change that counts, in the unit of the change: ``5%``, ``2 pts``."""
    return change(r, r.floor).lstrip("+")


def below_floor(r: SignalResult, alpha: float) -> bool:
    """Significant (p < alpha), but a change smaller than the floor: not "no change"."""
    p, c = shown_p(r), finite(r.change)
    return r.verdict == NO_CHANGE and p is not None and p < alpha and c is not None \
        and abs(c) < r.floor


def verdict(r: SignalResult, alpha: float) -> str:
    """The signal's verdict, "below its floor of 5%" for a significant change too small to
    count; in parentheses when the signal is not in the family verdict."""
    text = f"below its floor of {floor(r)}" if below_floor(r, alpha) else r.verdict
    return text if r.signal.verdict else f"({text})"


def reason(r: SignalResult, alpha: float) -> str:
    """Why the signal got its verdict, in words (the JSON report's ``reason``)."""
    p = shown_p(r)
    if r.verdict == NOT_ENOUGH or p is None:
        return "a side has no value or too few answers for a test"
    if below_floor(r, alpha):
        return (f"significant (p {p_value(r)} < {alpha:g}) but {change(r)} is below its "
                f"floor of {floor(r)}")
    if r.verdict == NO_CHANGE:
        if p >= alpha:
            return f"not significant (p {p_value(r)} >= {alpha:g})"
        return f"{change(r)} is below its floor of {floor(r)}"
    # a judged verdict (not NOT_ENOUGH) has a change
    way = "the collapse way" if r.signal.worse(cast(float, r.change)) else "away from collapse"
    return (f"{change(r)} {way}, at least its floor of {floor(r)}, and significant "
            f"(p {p_value(r)} < {alpha:g})")


def bucket_labels() -> list[str]:
    return [f"≤{b:,.0f}" for b in TOKEN_BUCKETS] + [f">{TOKEN_BUCKETS[-1]:,.0f}"]


def count(n: int) -> str:
    return f"{n:,}"


def critical(c) -> str:
    """"; beyond its critical margin: Distinct 2-grams" (empty when no signal is)."""
    titles = [c.result(k).signal.title for k in c.critical_signals]
    return f"; beyond {'its' if len(titles) == 1 else 'their'} critical margin: " \
        f"{', '.join(titles)}" if titles else ""
