"""Reports of ``collapse-otel audit``: JSON (schema ``collapse-otel/audit`` v1), Markdown and
the terminal table. Counts, shares, signal values and row numbers only: never row text.

JSON keys (new keys may be added; a breaking change bumps ``schema_version``; undefined
numbers are ``null``):

- ``schema``, ``schema_version``, ``tool`` {``name``, ``version``}, ``dataset``
- ``exit_status`` (0 pass, 1 fail), ``failures``, ``warnings`` (sentences)
- ``options``: ``text_column``, ``source_column``, ``version_column``, ``synthetic_sources``,
  ``max_synthetic_share``, ``near_duplicate_threshold``, ``rising_versions``, ``diversity``
  (null, or {``sample_size``, ``min_source_rows``, ``permutations``, ``seed``})
- ``holdout``: null, or {``path``, ``rows``, ``contaminated`` (by any version), ``share``}
- ``own_answers``: null, or {``hashes``}
- ``versions``: [{``version``, ``path``, ``kind``, ``rows``, ``sources`` {source: {``rows``,
  ``share``}}, ``synthetic_rows``, ``synthetic_share``, ``synthetic_share_interval`` [low,
  high] (Wilson 95%), ``synthetic_share_change``, ``rising_versions``, ``declared_synthetic``
  and ``declaration_agrees`` (null, or the Croissant ``rai:hasSyntheticData`` and whether the
  rows match it), ``contamination`` (null, or {``contaminated``, ``share``,
  ``examples`` [{``holdout_line``, ``training_line``, ``similarity``}]}), ``own_answers``
  (null, or {``rows``, ``share``}), ``diversity`` (null, or {``sample_size``, ``too_small``,
  ``sources`` {source: {signal: value}}, ``synthetic_vs_human`` (null, or {``sample_size``,
  ``narrower_families``, ``broader_families``, ``collapse_suspected``, ``signals``
  [{``key``, ``human``, ``synthetic``, ``change``, ``verdict``}]})})}]
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..version import __version__
from .diversity import Diversity
from .engine import AuditResult, VersionAudit

SCHEMA = "collapse-otel/audit"
SCHEMA_VERSION = 1


def _num(value: float | None, digits: int = 6) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def _diversity(d: Diversity | None) -> dict | None:
    if d is None:
        return None
    n = d.narrowing
    return {
        "sample_size": d.sample_size,
        "too_small": list(d.too_small),
        "sources": {s.source: {k: _num(v) for k, v in sorted(s.values.items())}
                    for s in d.sources},
        "synthetic_vs_human": None if n is None else {
            "sample_size": n.sample_size, "narrower_families": list(n.narrower),
            "broader_families": list(n.broader), "collapse_suspected": n.collapse_suspected,
            "signals": [{"key": s.key, "human": _num(s.human), "synthetic": _num(s.synthetic),
                         "change": _num(s.change), "verdict": s.verdict} for s in n.signals]},
    }


def _version(v: VersionAudit, examples: int) -> dict:
    c = v.contamination
    return {
        "version": v.label, "path": v.path, "kind": v.kind, "rows": v.rows,
        "sources": {s: {"rows": n, "share": _num(v.share(s))} for s, n in v.sources.items()},
        "synthetic_rows": v.synthetic_rows, "synthetic_share": _num(v.synthetic_share),
        "synthetic_share_interval": [_num(x) for x in v.synthetic_interval],
        "synthetic_share_change": _num(v.change), "rising_versions": v.rises,
        "declared_synthetic": v.declared_synthetic,
        "declaration_agrees": v.declaration_agrees,
        "contamination": None if c is None else {
            "contaminated": c.contaminated, "share": _num(c.share),
            "examples": [{"holdout_line": m.holdout_line, "training_line": m.training_line,
                          "similarity": m.similarity} for m in c.matches[:examples]]},
        "own_answers": None if v.own_answers is None else {
            "rows": v.own_answers.rows, "share": _num(v.own_answers.share)},
        "diversity": _diversity(v.diversity),
    }


def to_dict(result: AuditResult) -> dict[str, Any]:
    o = result.options
    d = o.diversity
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "tool": {"name": "collapse-otel", "version": __version__},
        "dataset": o.dataset, "exit_status": result.exit_status,
        "failures": list(result.failures), "warnings": list(result.warnings),
        "options": {
            "text_column": o.columns.text, "source_column": o.columns.source,
            "version_column": o.columns.version,
            "synthetic_sources": sorted(o.synthetic_sources),
            "max_synthetic_share": o.max_synthetic_share,
            "near_duplicate_threshold": o.threshold, "rising_versions": o.rising_versions,
            "diversity": None if d is None else {
                "sample_size": d.sample_size, "min_source_rows": d.min_rows,
                "permutations": d.permutations, "seed": d.seed}},
        "holdout": None if result.holdout_path is None else {
            "path": result.holdout_path, "rows": result.holdout_rows,
            "contaminated": result.holdout_contaminated,
            "share": _num(result.holdout_contaminated / result.holdout_rows
                          if result.holdout_rows else 0.0)},
        "own_answers": None if result.own_answer_hashes is None else {
            "hashes": result.own_answer_hashes},
        "versions": [_version(v, o.examples) for v in result.versions],
    }


def render_json(result: AuditResult) -> str:
    return json.dumps(to_dict(result), indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _change(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f} pts"


def _rows(result: AuditResult) -> tuple[list[str], list[list[str]]]:
    head = ["version", "rows", "synthetic", "change", "sources"]
    if result.holdout_path is not None:
        head.append("holdout contaminated")
    if result.own_answer_hashes is not None:
        head.append("own answers")
    if result.options.diversity is not None:
        head.append("synthetic narrower in")
    body = []
    for v in result.versions:
        row = [v.label, str(v.rows), _pct(v.synthetic_share), _change(v.change),
               ", ".join(f"{s} {_pct(v.share(s))}" for s in v.sources)]
        if v.contamination is not None:
            row.append(f"{v.contamination.contaminated} ({_pct(v.contamination.share)})")
        if v.own_answers is not None:
            row.append(f"{v.own_answers.rows} ({_pct(v.own_answers.share)})")
        if result.options.diversity is not None:
            n = v.diversity.narrowing if v.diversity is not None else None
            row.append("not enough rows" if n is None else ", ".join(n.narrower) or "none")
        body.append(row)
    return head, body


def _contamination_lines(result: AuditResult) -> list[str]:
    out = []
    for v in result.versions:
        c = v.contamination
        if c is not None and c.matches:
            shown = ", ".join(f"holdout line {m.holdout_line} ~ training line {m.training_line} "
                              f"(J={m.similarity:.2f})" for m in c.matches[:result.options.examples])
            more = c.contaminated - min(c.contaminated, result.options.examples)
            out.append(f"{v.label}: {shown}" + (f", and {more} more" if more else ""))
    return out


def _declaration_lines(result: AuditResult) -> list[str]:
    """What each Croissant description declares and whether the rows agree."""
    out = []
    for v in result.versions:
        if v.declared_synthetic is not None:
            lo, hi = v.synthetic_interval
            verdict = "agrees" if v.declaration_agrees else "CONTRADICTS"
            out.append(f"{v.label}: rai:hasSyntheticData {str(v.declared_synthetic).lower()} "
                       f"{verdict}: synthetic share {v.synthetic_share:.1%} (95% interval "
                       f"{lo:.1%} to {hi:.1%})")
    return out


def render_text(result: AuditResult) -> str:
    head, body = _rows(result)
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = [f"collapse-otel audit: dataset {result.options.dataset}, "
             f"{len(result.versions)} version{'s' * (len(result.versions) != 1)}", ""]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
              for r in [head, *body]]
    contamination = _contamination_lines(result)
    if contamination:
        lines += ["", "contaminated holdout rows (line numbers):"] + \
            [f"  {line}" for line in contamination]
    declared = _declaration_lines(result)
    if declared:
        lines += ["", "declared in Croissant:"] + [f"  {line}" for line in declared]
    lines.append("")
    lines += [f"warning: {w}" for w in result.warnings]
    lines += [f"FAIL: {f}" for f in result.failures]
    if not result.failures:
        lines.append("PASS")
    return "\n".join(lines) + "\n"


def render_markdown(result: AuditResult) -> str:
    head, body = _rows(result)
    status = "FAIL" if result.failures else "PASS"
    lines = [f"## collapse-otel audit: {result.options.dataset} ({status})", ""]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in body]
    lines.append("")
    contamination = _contamination_lines(result)
    if contamination:
        lines += ["Contaminated holdout rows (line numbers):", ""] + \
            [f"- {line}" for line in contamination] + [""]
    declared = _declaration_lines(result)
    if declared:
        lines += ["Declared in Croissant:", ""] + [f"- {line}" for line in declared] + [""]
    lines += [f"- **warning**: {w}" for w in result.warnings]
    lines += [f"- **fail**: {f}" for f in result.failures]
    return "\n".join(lines).rstrip("\n") + "\n"
