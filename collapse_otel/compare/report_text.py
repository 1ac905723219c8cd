"""The terminal report of ``collapse-otel compare``: one table of every signal grouped by
family, the verdict, each cohort's family verdicts and the cohort pattern. Colour only on a
terminal (and never with ``NO_COLOR``)."""

from __future__ import annotations

from ..signals.registry import FAMILIES
from . import fmt
from .engine import DEGRADED, IMPROVED, MIXED, rule_text
from .gate import GateResult, Section

HEADER = ("signal", "baseline", "candidate", "change", "95% interval", "p", "verdict")
_COLOURS = {DEGRADED: "31", IMPROVED: "32", MIXED: "33", "collapse suspected": "1;31",
            "pass": "32", "FAIL": "1;31", "PASS": "1;32"}


def render(result: GateResult, *, colour: bool = False) -> str:
    def paint(text: str, key: str) -> str:
        code = _COLOURS.get(key)
        return f"\x1b[{code}m{text}\x1b[0m" if colour and code else text

    b, c = result.baseline, result.candidate
    o = result.overall.comparison
    lines = [
        f"collapse-otel compare: baseline {b.name} ({b.path}, {fmt.count(b.count())} answers) "
        f"vs candidate {c.name} ({c.path}, {fmt.count(c.count())} answers)",
        f"{fmt.count(o.sample_size)} sampled answers per side for corpus statistics; "
        f"alpha {o.options.alpha:g} ({o.options.correction}); {rule_text(o.options)}",
        "",
    ]
    lines += _table(result.overall, paint)
    lines += ["", *_reading(o)]
    notes = {r.signal.title: r.signal.note for r in o.signals if not r.signal.verdict}
    if notes:
        lines.append("")
        lines += [f"({t}) is not in the verdict: {n}" for t, n in notes.items()]
    lines += ["", _summary(result.overall, paint)]
    for s in result.cohorts:
        lines += ["", _summary(s, paint)]
        for f in s.comparison.families:
            detail = "; ".join(f"{what}: {', '.join(keys)}" for what, keys in
                               (("degraded", f.degraded), ("improved", f.improved)) if keys)
            lines.append(f"  {f.family}: {paint(f.verdict, f.verdict)}"
                         + (f" ({detail})" if detail else ""))
    for name, where in ((result.only_in_baseline, "baseline"),
                        (result.only_in_candidate, "candidate")):
        if name:
            lines.append(f"cohorts only in the {where} (not compared): {', '.join(name)}")
    if result.patterns:
        lines.append("")
        lines += [paint(f"PATTERN: {p.message}", DEGRADED) for p in result.patterns]
    if result.phrases is not None:
        lines += ["", "candidate phrases repeated that the baseline did not repeat "
                      "(answers containing them, candidate / baseline):"]
        lines += [f"  {p.candidate:>6} / {p.baseline:<3} {p.text}" for p in result.phrases] \
            or ["  none"]
    gate = "FAIL" if result.exit_status else "PASS"
    why = f"failed: {', '.join(result.failed)}" if result.failed else "nothing failed"
    lines += ["", f"gate ({'--fail-on ' + result.fail_on}): {paint(gate, gate)} "
                  f"(exit {result.exit_status}; {why})"]
    return "\n".join(lines) + "\n"


def _reading(c) -> list[str]:
    """What the columns mean, under the table."""
    o = c.options
    return [
        "change: % of the baseline for relative signals, percentage points (pts) for ratios "
        "near 0; 95% interval: of the change;",
        f"p: {o.correction.upper() if o.correction == 'bh' else 'Holm'}-adjusted across the "
        "signals in the verdict (raw for those in parentheses); a change counts when "
        f"p < {o.alpha:g} and it reaches the signal's floor (else \"below its floor\").",
        f"score: {fmt.SCORE}.",
    ]


def _summary(s: Section, paint) -> str:
    c = s.comparison
    bad = c.degraded_families
    head = f"{s.label}" + (f" ({s.note})" if s.note else "")
    return (f"{head}: {fmt.count(c.answers[0])} vs {fmt.count(c.answers[1])} answers: "
            f"{paint(c.verdict, c.verdict)}; {len(bad)} of {len(c.families)} families degraded"
            + (f" ({', '.join(bad)})" if bad else "") + fmt.critical(c)
            + f"; {fmt.score(c)}")


def _table(section: Section, paint) -> list[str]:
    rows: list[tuple[str, ...] | str] = []
    results = section.comparison.signals
    verdicts = {f.family: f.verdict for f in section.comparison.families}
    for family in FAMILIES:
        verdict = verdicts.get(family, "not judged")
        rows.append(f"{family}: {paint(verdict, verdict)}")
        for r in results:
            if r.signal.family == family:
                rows.append((f"  {r.signal.title}", fmt.value(r.baseline),
                             fmt.value(r.candidate), fmt.change(r), fmt.interval(r),
                             fmt.p_value(r), fmt.verdict(r, section.comparison.options.alpha)))
    cells = [HEADER] + [r for r in rows if isinstance(r, tuple)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADER))]

    def line(row: tuple[str, ...]) -> str:
        left = [row[0].ljust(widths[0])]
        mid = [v.rjust(w) for v, w in zip(row[1:-1], widths[1:-1], strict=True)]
        return "  ".join(left + mid + [paint(row[-1], row[-1].strip("()"))]).rstrip()

    out = [line(HEADER)]
    out += [line(r) if isinstance(r, tuple) else r for r in rows]
    return out
