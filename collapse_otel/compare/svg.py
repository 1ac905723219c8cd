"""Inline SVG plots for the HTML report: no library, no script, every number in a tooltip.

Each plot is a fixed-size ``<svg>`` with a ``viewBox``, so it renders the same everywhere and
always has a size, even when a value is missing ("no data").
"""

from __future__ import annotations

from html import escape

from . import fmt
from .engine import DEGRADED, IMPROVED, MIXED, NO_CHANGE, NOT_ENOUGH, SignalResult

Z95 = 1.959963984540054
BASELINE = "#34495e"
CANDIDATE = "#e67e22"
VERDICT_COLOURS = {DEGRADED: "#c0392b", IMPROVED: "#1e8449", NO_CHANGE: "#7f8c8d",
                   NOT_ENOUGH: "#bdc3c7", MIXED: "#d68910", "pass": "#1e8449",
                   "collapse suspected": "#c0392b", "not judged": "#bdc3c7"}


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(label)}">' + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = 9,
          fill: str = "#555") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{fill}">{escape(text)}</text>')


def _scale(lo: float, hi: float, x0: float, x1: float):
    span = hi - lo or 1.0
    return lambda v: x0 + (v - lo) / span * (x1 - x0)


def _padded(lo: float, hi: float, lowest: float = float("-inf"),
            highest: float | None = None) -> tuple[float, float]:
    """The axis around [lo, hi], kept within the values the signal can take."""
    pad = (abs(lo) * 0.1 or 1.0) if hi == lo else (hi - lo) * 0.08
    top = float("inf") if highest is None else highest
    return max(lo - pad, lowest), min(hi + pad, top)


def _within(v: float, r: SignalResult) -> float:
    """``v`` clamped to the values the signal can take (an interval of a share near 0 is
    cut at 0: a value plot never shows a negative share)."""
    top = r.signal.highest if r.signal.highest is not None else float("inf")
    return min(max(v, r.signal.lowest), top)


def values_plot(r: SignalResult, width: int = 200, height: int = 46) -> str:
    """Baseline and candidate values, each with its 95% interval (value ± 1.96 se); the
    candidate in the colour of the verdict."""
    colour = VERDICT_COLOURS.get(r.verdict, "#7f8c8d")
    rows = [("baseline", fmt.finite(r.baseline), fmt.finite(r.baseline_se), BASELINE, 13),
            ("candidate", fmt.finite(r.candidate), fmt.finite(r.candidate_se), colour, 27)]
    spans = [(_within(v - Z95 * (se or 0), r), _within(v + Z95 * (se or 0), r))
             for _, v, se, _, _ in rows if v is not None]
    label = f"{r.signal.title}: baseline and candidate with 95% intervals"
    if not spans:
        return _svg(width, height, [_text(width / 2, 26, "no data", "middle")], label)
    lo, hi = _padded(min(s[0] for s in spans), max(s[1] for s in spans), r.signal.lowest,
                     r.signal.highest)
    x = _scale(lo, hi, 22, width - 6)
    body = [f'<line x1="22" y1="36" x2="{width - 6}" y2="36" stroke="#ccc"/>',
            _text(22, 45, fmt.value(lo)), _text(width - 6, 45, fmt.value(hi), "end")]
    for name, v, se, col, y in rows:
        body.append(_text(2, y + 3, name[0].upper(), fill=col))
        if v is None:
            body.append(_text(22, y + 3, "no data"))
            continue
        tip = f"{name}: {fmt.value(v)}" + (f" ± {fmt.value(Z95 * se)}" if se else "")
        a, b = x(_within(v - Z95 * (se or 0), r)), x(_within(v + Z95 * (se or 0), r))
        body.append(f'<g><title>{escape(tip)}</title>'
                    f'<line x1="{a:.1f}" y1="{y}" x2="{b:.1f}" y2="{y}" stroke="{col}" '
                    f'stroke-width="2"/><circle cx="{x(v):.1f}" cy="{y}" r="3.5" '
                    f'fill="{col}"/></g>')
    return _svg(width, height, body, label)


def change_plot(r: SignalResult, width: int = 160, height: int = 46) -> str:
    """The change with its 95% interval against zero; the shaded band is the floor (a change
    inside it is too small to matter)."""
    label = f"{r.signal.title}: change with its 95% interval"
    change, low, high = fmt.finite(r.change), fmt.finite(r.low), fmt.finite(r.high)
    if change is None:
        return _svg(width, height, [_text(width / 2, 26, "no data", "middle")], label)
    ends = [abs(change), 2 * r.floor] + [abs(v) for v in (low, high) if v is not None]
    extent = max(ends) * 1.1 or 1.0
    least = max(-extent, _least_change(r))
    low = None if low is None else max(low, least)
    x = _scale(least, extent, 6, width - 6)
    colour = VERDICT_COLOURS.get(r.verdict, "#7f8c8d")
    tip = f"change {fmt.change(r)}, 95% interval {fmt.interval(r)}"
    band = max(-r.floor, least)
    body = [f'<rect x="{x(band):.1f}" y="6" width="{x(r.floor) - x(band):.1f}" '
            f'height="28" fill="#eee"><title>floor ±{escape(fmt.change(r, r.floor))}</title>'
            f'</rect>',
            f'<line x1="{x(0):.1f}" y1="4" x2="{x(0):.1f}" y2="36" stroke="#999"/>',
            f'<line x1="6" y1="36" x2="{width - 6}" y2="36" stroke="#ccc"/>',
            _text(6, 45, fmt.change(r, least)), _text(width - 6, 45, fmt.change(r, extent),
                                                        "end")]
    bar = ""
    if low is not None and high is not None:
        bar = (f'<line x1="{x(low):.1f}" y1="20" x2="{x(high):.1f}" y2="20" '
               f'stroke="{colour}" stroke-width="2.5"/>')
    body.append(f'<g><title>{escape(tip)}</title>{bar}<circle cx="{x(change):.1f}" cy="20" '
                f'r="4" fill="{colour}"/></g>')
    return _svg(width, height, body, label)


def _least_change(r: SignalResult) -> float:
    """The lowest change the candidate can show: down to the signal's lowest value (-100%
    of a share or a count, minus the baseline in points)."""
    base = fmt.finite(r.baseline)
    if base is None:
        return float("-inf")
    if fmt.change_kind(r) == "relative":
        return (r.signal.lowest - base) / abs(base)
    return r.signal.lowest - base


def histogram(baseline: list[int], candidate: list[int], labels: list[str],
              width: int = 640, height: int = 210) -> str:
    """Two length distributions (share of answers per bucket), side by side per bucket;
    empty buckets at both ends are left out."""
    label = "Completion tokens per answer: baseline and candidate"
    used = [i for i in range(len(labels))
            if (baseline[i] if i < len(baseline) else 0) or
            (candidate[i] if i < len(candidate) else 0)]
    if not used:
        return _svg(width, height, [_text(width / 2, height / 2, "no data", "middle")], label)
    idx = list(range(used[0], used[-1] + 1))
    tb, tc = sum(baseline) or 1, sum(candidate) or 1
    shares = [((baseline[i] if i < len(baseline) else 0) / tb,
               (candidate[i] if i < len(candidate) else 0) / tc) for i in idx]
    top = max(max(s) for s in shares) or 1.0
    left, bottom, plot_h = 40, height - 34, height - 60
    slot = (width - left - 10) / len(idx)
    bw = min(slot * 0.4, 40)
    body = [f'<line x1="{left}" y1="{bottom}" x2="{width - 10}" y2="{bottom}" stroke="#999"/>',
            _text(left - 4, bottom - plot_h + 4, f"{top:.0%}", "end"),
            _text(left - 4, bottom, "0%", "end"),
            f'<rect x="{left + 4}" y="6" width="10" height="10" fill="{BASELINE}"/>',
            _text(left + 18, 15, "baseline", size=10),
            f'<rect x="{left + 84}" y="6" width="10" height="10" fill="{CANDIDATE}"/>',
            _text(left + 98, 15, "candidate", size=10)]
    for k, (i, (sb, sc)) in enumerate(zip(idx, shares, strict=True)):
        cx = left + slot * (k + 0.5)
        for share, colour, dx, name in ((sb, BASELINE, -bw, "baseline"),
                                        (sc, CANDIDATE, 0, "candidate")):
            h = share / top * plot_h
            body.append(f'<rect x="{cx + dx:.1f}" y="{bottom - h:.1f}" width="{bw:.1f}" '
                        f'height="{h:.1f}" fill="{colour}"><title>{name} {labels[i]} tokens: '
                        f'{share:.1%}</title></rect>')
        body.append(_text(cx, bottom + 12, labels[i], "middle"))
    body.append(_text(left + (width - left) / 2, height - 4, "completion tokens per answer",
                      "middle", 10))
    return _svg(width, height, body, label)


def family_grid(rows: list[tuple[str, dict[str, str]]], families: tuple[str, ...],
                cell: int = 96) -> str:
    """Cohorts (rows) by families (columns), each cell in the colour of the family verdict."""
    label = "Family verdicts per cohort"
    left, head = 150, 34
    width, height = left + cell * len(families) + 4, head + 24 * len(rows) + 4
    body = [_text(left + cell * (j + 0.5), 14 + 12 * (j % 2), f, "middle", 10)
            for j, f in enumerate(families)]
    for i, (name, verdicts) in enumerate(rows):
        y = head + 24 * i
        body.append(_text(left - 6, y + 15, name[:24], "end", 10, "#222"))
        for j, f in enumerate(families):
            v = verdicts.get(f, "not judged")
            body.append(f'<rect x="{left + cell * j + 1}" y="{y}" width="{cell - 2}" '
                        f'height="22" fill="{VERDICT_COLOURS.get(v, "#bdc3c7")}">'
                        f'<title>{escape(name)} · {escape(f)}: {escape(v)}</title></rect>')
    return _svg(width, height, body, label)
