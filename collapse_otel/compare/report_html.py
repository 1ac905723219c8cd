"""The HTML report of ``collapse-otel compare``: one self-contained page (inline CSS and SVG,
no script, no external resource; its Content-Security-Policy forbids loading any) with the
verdict, every signal per side with its interval and its change, the length distributions,
and a section per cohort."""

from __future__ import annotations

from html import escape

from ..signals.registry import FAMILIES
from . import fmt, svg
from .engine import rule_text
from .gate import GateResult, Section

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;
max-width:1360px;color:#222;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid
#ddd;padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
.banner{padding:12px 16px;border-radius:6px;color:#fff;margin:12px 0}
.meta{color:#555}.pattern{background:#fdecea;border-left:4px solid #c0392b;padding:8px 12px;
margin:8px 0}
table{border-collapse:collapse;margin:6px 0}td,th{padding:3px 8px;border-bottom:1px solid
#eee;text-align:right;vertical-align:middle;white-space:nowrap}th{background:#f6f6f6}
td.l,th.l{text-align:left;white-space:normal}.wrap{overflow-x:auto}tr.fam td{background:#fafafa;font-weight:600;text-align:left}
.v{font-weight:600}.muted{color:#888}svg.plot{display:block}
.legend span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:baseline}
"""
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def render(result: GateResult) -> str:
    o = result.overall.comparison
    b, c = result.baseline, result.candidate
    banner = "#c0392b" if result.exit_status else (
        svg.VERDICT_COLOURS["mixed"] if any(x.comparison.degraded_families
                                            for x in result.sections) else "#1e8449")
    gate = "FAILED" if result.exit_status else "PASSED"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>collapse-otel compare: {escape(b.name)} vs {escape(c.name)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>collapse-otel compare: {escape(b.name)} → {escape(c.name)}</h1>",
        f'<p class="meta">Baseline <b>{escape(b.name)}</b> ({escape(b.path)}, '
        f"{fmt.count(b.count())} answers) · candidate <b>{escape(c.name)}</b> "
        f"({escape(c.path)}, {fmt.count(c.count())} answers) · "
        f"{fmt.count(o.sample_size)} sampled answers per side for corpus statistics · "
        f"alpha {o.options.alpha:g} ({escape(o.options.correction)}) · "
        f"{escape(rule_text(o.options))}</p>",
        f'<div class="banner" style="background:{banner}"><b>Gate {gate}</b> (exit '
        f"{result.exit_status}, --fail-on {escape(result.fail_on)})"
        + (f": {escape(', '.join(result.failed))}" if result.failed else "")
        + f"<br>All answers: <b>{escape(o.verdict)}</b> · {len(o.degraded_families)} of "
        f"{len(o.families)} families degraded"
        + (f" ({escape(', '.join(o.degraded_families))})" if o.degraded_families else "")
        + escape(fmt.critical(o).replace(";", " ·", 1)) + f" · {escape(fmt.score(o))}</div>",
    ]
    parts += [f'<p class="pattern"><b>Pattern:</b> {escape(p.message)}</p>'
              for p in result.patterns]
    parts += [_legend(), "<h2>All answers</h2>"] + _section(result.overall)
    if result.cohorts:
        parts += ["<h2>Cohorts</h2>",
                  svg.family_grid([(str(s.cohort), {f.family: f.verdict
                                                     for f in s.comparison.families})
                                   for s in result.cohorts], FAMILIES)]
        for where, names in (("baseline", result.only_in_baseline),
                             ("candidate", result.only_in_candidate)):
            if names:
                parts.append(f'<p class="muted">Only in the {where} (not compared): '
                             f"{escape(', '.join(names))}</p>")
        for s in result.cohorts:
            sc = s.comparison
            parts += [f"<h2>Cohort {escape(str(s.cohort))}"
                      + (f' <span class="muted">({escape(s.note)})</span>' if s.note else "")
                      + "</h2>",
                      f'<p><span class="v" style="color:{svg.VERDICT_COLOURS[sc.verdict]}">'
                      f"{escape(sc.verdict)}</span> · {fmt.count(sc.answers[0])} vs "
                      f"{fmt.count(sc.answers[1])} answers · {escape(fmt.score(sc))}</p>"]
            parts += _section(s)
    if result.phrases is not None:
        parts += ["<h2>Phrases the candidate repeats (--show-text)</h2>",
                  '<table><tr><th class="l">phrase</th><th>candidate answers</th>'
                  "<th>baseline answers</th></tr>"]
        parts += [f'<tr><td class="l">{escape(p.text)}</td><td>{p.candidate}</td>'
                  f"<td>{p.baseline}</td></tr>" for p in result.phrases]
        parts.append("</table>")
    notes = [r.signal for r in o.signals if not r.signal.verdict]
    parts += ['<h2>Reading this page</h2><p class="muted">Each signal shows the baseline (B) '
              "and the candidate (C) with 95% intervals (value ± 1.96 standard errors), then "
              "the change with its 95% interval: relative signals in % of the baseline, "
              "ratios near 0 in points. The grey band is the floor: a smaller change does not "
              "count, even when significant (\"below its floor\"). p is adjusted across the "
              "signals in the verdict. A family degrades when one of its signals degrades and "
              "none improves; collapse is suspected when at least K families degrade, or when "
              "one signal degrades beyond its critical margin (its interval, widened for the "
              "number of signals judged, lies wholly past the margin the collapse way). "
              f"The score (0-100) is {escape(fmt.SCORE)}.</p>"]
    parts += [f'<p class="muted">({escape(s.title)}) is shown but not judged: '
              f"{escape(s.note)}.</p>" for s in notes]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _legend() -> str:
    items = [(svg.BASELINE, "baseline")] + [
        (svg.VERDICT_COLOURS[v], f"candidate: {v}")
        for v in ("degraded", "improved", "no significant change", "not enough data")]
    return '<p class="legend">' + "".join(
        f'<span><i class="sw" style="background:{col}"></i>{escape(name)}</span>'
        for col, name in items) + "</p>"


def _section(s: Section) -> list[str]:
    c = s.comparison
    verdicts = {f.family: f.verdict for f in c.families}
    out = ['<div class="wrap"><table><tr><th class="l">signal</th><th>baseline</th><th>candidate</th>'
           "<th>change</th><th>95% interval</th><th>p</th><th class=\"l\">verdict</th>"
           '<th class="l">values (95% intervals)</th><th class="l">change</th></tr>']
    for family in FAMILIES:
        v = verdicts.get(family, "not judged")
        out.append(f'<tr class="fam"><td colspan="9">{escape(family)}: <span '
                   f'style="color:{svg.VERDICT_COLOURS.get(v, "#888")}">{escape(v)}</span>'
                   "</td></tr>")
        for r in c.signals:
            if r.signal.family != family:
                continue
            col = svg.VERDICT_COLOURS.get(r.verdict, "#888")
            out.append(
                f'<tr><td class="l" title="{escape(r.signal.description)}">'
                f"{escape(r.signal.title)}</td><td>{fmt.value(r.baseline)}</td>"
                f"<td>{fmt.value(r.candidate)}</td><td>{escape(fmt.change(r))}</td>"
                f"<td>{escape(fmt.interval(r))}</td><td>{escape(fmt.p_value(r))}</td>"
                f'<td class="l v" style="color:{col}">{escape(fmt.verdict(r, c.options.alpha))}</td>'
                f'<td class="l">{svg.values_plot(r)}</td><td class="l">{svg.change_plot(r)}'
                "</td></tr>")
    out.append("</table></div>")
    label = "all answers" if s.cohort is None else f"cohort {s.cohort}"
    out += [f"<h3>Answer lengths ({escape(label)})</h3>",
            svg.histogram(s.lengths[0], s.lengths[1], fmt.bucket_labels())]
    return out
