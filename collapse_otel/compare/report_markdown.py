"""The Markdown report of ``collapse-otel compare``, made to be appended to a GitHub Actions
job summary (``$GITHUB_STEP_SUMMARY``): the verdict first, families, every signal, then the
cohorts (their signal tables folded in ``<details>``)."""

from __future__ import annotations

from . import fmt
from .gate import GateResult, Section

_ICON = {"pass": "✅", "degraded": "⚠️", "collapse suspected": "❌", "not enough data": "➖"}


def esc(text: str) -> str:
    """Table-cell safe text (cohort and release names come from the data)."""
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")
            .replace(">", "&gt;").replace("\n", " ").replace("`", "'"))


def render(result: GateResult) -> str:
    o = result.overall.comparison
    b, c = result.baseline, result.candidate
    gate = "failed" if result.exit_status else "passed"
    icon = "❌" if result.exit_status else (
        "⚠️" if any(x.comparison.degraded_families for x in result.sections) else "✅")
    out = [
        f"## {icon} collapse-otel compare: gate {gate}"
        + (f" ({esc(', '.join(result.failed))})" if result.failed else ""),
        "",
        f"**Baseline** {esc(b.name)} ({fmt.count(b.count())} answers) · **Candidate** "
        f"{esc(c.name)} ({fmt.count(c.count())} answers) · {fmt.count(o.sample_size)} sampled "
        f"answers per side · alpha {o.options.alpha:g} ({o.options.correction}) · collapse "
        f"suspected when ≥ {o.options.min_families} families degrade · exit "
        f"{result.exit_status} with `--fail-on {result.fail_on}`",
        "",
        f"**All answers: {_ICON[o.verdict]} {o.verdict}** · {len(o.degraded_families)} of "
        f"{len(o.families)} families degraded"
        + (f" ({', '.join(o.degraded_families)})" if o.degraded_families else "")
        + f" · {fmt.score(o)}",
        "",
    ]
    if result.patterns:
        out += [f"> **Pattern:** {esc(p.message)}" for p in result.patterns] + [""]
    out += _families(result.overall) + [""] + _signals(result.overall) + [""] + \
        _tail(result.overall)
    if result.cohorts:
        out += ["", "### Cohorts", "",
                "| cohort | answers (baseline / candidate) | verdict | degraded families "
                "| improved families | score (0-100) |", "|---|---:|---|---|---|---:|"]
        for s in result.cohorts:
            sc = s.comparison
            improved = [f.family for f in sc.families if f.verdict == "improved"]
            out.append(f"| {esc(str(s.cohort))}{' (' + s.note + ')' if s.note else ''} | "
                       f"{fmt.count(sc.answers[0])} / {fmt.count(sc.answers[1])} | "
                       f"{_ICON[sc.verdict]} {sc.verdict} | "
                       f"{', '.join(sc.degraded_families) or '—'} | "
                       f"{', '.join(improved) or '—'} | {sc.score:.0f} |")
        for where, names in (("baseline", result.only_in_baseline),
                             ("candidate", result.only_in_candidate)):
            if names:
                out += ["", f"Only in the {where} (not compared): "
                            f"{esc(', '.join(names))}."]
        for s in result.cohorts:
            out += ["", f"<details><summary>Signals of cohort {esc(str(s.cohort))}</summary>",
                    ""] + _signals(s) + ["", "</details>"]
    if result.phrases is not None:
        out += ["", "### Phrases the candidate repeats (shown with --show-text)", "",
                "| phrase | candidate answers | baseline answers |", "|---|---:|---:|"]
        out += [f"| {esc(p.text)} | {p.candidate} | {p.baseline} |" for p in result.phrases]
    out += ["", "<sub>Change: % of the baseline for relative signals, points for ratios near 0; "
                "the interval is the 95% interval of the change; p is Holm/BH-adjusted across "
                f"the signals in the verdict. A change counts when p < {o.options.alpha:g} and "
                "it reaches the signal's floor (5% relative, 2 points for ratios near 0, unless "
                "set with --floor); a significant change short of it is \"below its floor\". "
                "Signals in (parentheses) are shown but not judged. Score: "
                f"{fmt.SCORE}.</sub>"]
    return "\n".join(out) + "\n"


def _families(s: Section) -> list[str]:
    out = ["| family | verdict | degraded signals | improved signals |", "|---|---|---|---|"]
    for f in s.comparison.families:
        out.append(f"| {f.family} | {f.verdict} | {', '.join(f.degraded) or '—'} | "
                   f"{', '.join(f.improved) or '—'} |")
    return out


def _share(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _tail(s: Section) -> list[str]:
    """The baseline's rare words and entities (seen once in half its sample): how many a
    same-size baseline sample and the candidate still produce."""
    out = ["The baseline's rare words and entities (each seen once in half its sample): the "
           "share of them a same-size baseline sample and the candidate still produce; p: "
           "the candidate against the baseline.", "",
           "| baseline tail still produced | rare items | by the baseline | by the candidate | p |",
           "|---|---:|---:|---:|---:|"]
    for t in s.comparison.tail:
        p = "—" if t.p_value is None else f"{t.p_value:.2g}"
        out.append(f"| {t.kind} | {t.rare_items} | {_share(t.baseline_share)} | "
                   f"{_share(t.candidate_share)} | {p} |")
    return out if s.comparison.tail else []


def _signals(s: Section) -> list[str]:
    out = ["| signal | family | baseline | candidate | change | 95% interval | p | verdict |",
           "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in s.comparison.signals:
        verdict = fmt.verdict(r, s.comparison.options.alpha)
        if r.verdict in ("degraded", "improved") and r.signal.verdict:
            verdict = f"**{verdict}**"
        out.append(f"| {r.signal.title} | {r.signal.family} | {fmt.value(r.baseline)} | "
                   f"{fmt.value(r.candidate)} | {fmt.change(r)} | {fmt.interval(r)} | "
                   f"{fmt.p_value(r)} | {verdict} |")
    return out
