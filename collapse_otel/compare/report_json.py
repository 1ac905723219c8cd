"""The JSON report of ``collapse-otel compare``: a stable schema that CI can parse.

Schema ``collapse-otel/compare`` version 1 (new keys may be added; existing keys keep their
meaning; a breaking change bumps ``schema_version``). Numbers that are undefined are
``null``, never NaN or Infinity. Answer text appears only under ``phrases``, and only with
``--show-text``.

- ``schema``, ``schema_version``, ``tool`` {``name``, ``version``}
- ``glossary``: what each number of a comparison means, in words {key: text}
- ``gate``: ``exit_status`` (0 pass, 1 fail), ``fail_on`` (``collapse`` | ``degraded``),
  ``failed`` (labels of the comparisons that failed: ``all answers``, ``cohort X``)
- ``options``: ``alpha``, ``min_families``, ``correction``, ``permutations``, ``seed``,
  ``sample_size``, ``floors`` {signal: floor}
- ``baseline`` / ``candidate``: ``path``, ``kind`` (jsonl | csv | tsv | state), ``name``,
  ``answers``, ``cohorts`` {cohort: answers} (``{}`` without cohorts),
  ``completion_tokens_estimated`` (answers whose count was estimated from the text)
- ``overall``: a comparison; ``cohorts``: a list of comparisons, each with ``cohort``
- a comparison: ``cohort`` (null for all answers), ``note``, ``verdict`` (``pass`` |
  ``degraded`` | ``collapse suspected``), ``collapse_suspected``, ``degraded_families``,
  ``critical_signals`` (signals that degraded beyond their critical margin), ``score``
  (0-100: the share of each family's judged signals that did not degrade,
  averaged over the families with data), ``answers`` {baseline, candidate}, ``sample_size``, ``families``
  [{``family``, ``verdict``, ``degraded``, ``improved``}], ``signals`` [{``key``, ``title``,
  ``family``, ``collapse_direction`` (up | down), ``in_verdict``, ``note``, ``statistic``,
  ``test``, ``change_kind`` (relative: a fraction of the baseline | absolute: a difference),
  ``baseline``, ``candidate``, ``baseline_se``, ``candidate_se``, ``change``, ``low``,
  ``high`` (95% interval of the change), ``p_value``, ``p_adjusted``, ``floor``,
  ``critical`` (null: none), ``verdict``, ``reason`` (why, in words: e.g. significant but below its floor)}], ``lengths`` {``bounds`` (upper bounds of the completion-token buckets; the
  last bucket is above them), ``baseline``, ``candidate`` (answers per bucket)}
- ``cohorts_only_in_baseline``, ``cohorts_only_in_candidate``: cohorts not compared
- ``patterns``: [{``improved_cohort``, ``improved_families``, ``degraded_cohort``,
  ``degraded_families``, ``message``}]
- ``phrases``: null, or [{``text``, ``candidate``, ``baseline``}] with ``--show-text``
"""

from __future__ import annotations

import json
from typing import Any

from ..engine.snapshot import TOKEN_BUCKETS
from ..version import __version__
from . import fmt
from .engine import SignalResult
from .gate import GateResult, Section
from .inputs import Side

SCHEMA = "collapse-otel/compare"
SCHEMA_VERSION = 1


def to_dict(result: GateResult) -> dict[str, Any]:
    o = result.overall.comparison.options
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "collapse-otel", "version": __version__},
        "glossary": glossary(o.alpha),
        "gate": {"exit_status": result.exit_status, "fail_on": result.fail_on,
                 "failed": list(result.failed)},
        "options": {"alpha": o.alpha, "min_families": o.min_families,
                    "correction": o.correction, "permutations": o.permutations,
                    "seed": o.seed, "sample_size": o.sample_size, "floors": dict(o.floors)},
        "baseline": _side(result.baseline),
        "candidate": _side(result.candidate),
        "overall": _section(result.overall),
        "cohorts": [_section(s) for s in result.cohorts],
        "cohorts_only_in_baseline": list(result.only_in_baseline),
        "cohorts_only_in_candidate": list(result.only_in_candidate),
        "patterns": [{"improved_cohort": p.improved_cohort,
                      "improved_families": list(p.improved_families),
                      "degraded_cohort": p.degraded_cohort,
                      "degraded_families": list(p.degraded_families),
                      "message": p.message} for p in result.patterns],
        "phrases": None if result.phrases is None else [
            {"text": p.text, "candidate": p.candidate, "baseline": p.baseline}
            for p in result.phrases],
    }


def glossary(alpha: float) -> dict[str, str]:
    return {
        "score": f"0-100: {fmt.SCORE}",
        "change": "relative: a fraction of the baseline (0.05 = +5%); absolute: the "
                  "candidate minus the baseline, for ratios that sit near 0",
        "low, high": "the 95% interval of the change",
        "p_value": "the test's two-sided p-value (see test)",
        "p_adjusted": "p adjusted across the signals in the verdict (see options.correction); "
                      "null for signals not in the verdict",
        "floor": "the smallest change that counts, in the unit of change",
        "verdict": f"degraded / improved: p below {alpha:g} and a change at least the floor, "
                   "the collapse way or away from it; no significant change: either short "
                   "(reason says which); not enough data: a side has no value",
        "baseline_se, candidate_se": "standard error of each side's value",
    }


def render(result: GateResult) -> str:
    return json.dumps(to_dict(result), indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def _side(side: Side) -> dict[str, Any]:
    return {"path": side.path, "kind": side.kind, "name": side.name, "answers": side.count(),
            "cohorts": {c: side.count(c) for c in side.cohorts} if side.has_cohorts else {},
            "completion_tokens_estimated": side.estimated}


def _section(s: Section) -> dict[str, Any]:
    c = s.comparison
    return {
        "cohort": s.cohort, "note": s.note, "verdict": c.verdict,
        "collapse_suspected": c.collapse_suspected,
        "degraded_families": list(c.degraded_families),
        "critical_signals": list(c.critical_signals), "score": round(c.score, 2),
        "answers": {"baseline": c.answers[0], "candidate": c.answers[1]},
        "sample_size": c.sample_size,
        "families": [{"family": f.family, "verdict": f.verdict, "degraded": list(f.degraded),
                      "improved": list(f.improved)} for f in c.families],
        "signals": [_signal(r, c.options.alpha, c.margin(r.signal.key)) for r in c.signals],
        "tail_coverage": [{"kind": t.kind, "rare_items": t.rare_items,
                           "baseline_share": fmt.finite(t.baseline_share),
                           "candidate_share": fmt.finite(t.candidate_share),
                           "p_value": fmt.finite(t.p_value)} for t in c.tail],
        "lengths": {"bounds": list(TOKEN_BUCKETS), "baseline": list(s.lengths[0]),
                    "candidate": list(s.lengths[1])},
    }


def _signal(r: SignalResult, alpha: float, margin: float | None) -> dict[str, Any]:
    s = r.signal
    return {
        "key": s.key, "title": s.title, "family": s.family,
        "collapse_direction": "up" if s.collapse > 0 else "down", "in_verdict": s.verdict,
        "note": s.note, "statistic": s.statistic, "test": r.test or None,
        "change_kind": fmt.change_kind(r),
        "baseline": fmt.finite(r.baseline), "candidate": fmt.finite(r.candidate),
        "baseline_se": fmt.finite(r.baseline_se), "candidate_se": fmt.finite(r.candidate_se),
        "change": fmt.finite(r.change), "low": fmt.finite(r.low), "high": fmt.finite(r.high),
        "p_value": fmt.finite(r.p_value), "p_adjusted": fmt.finite(r.p_adjusted),
        "floor": r.floor, "critical": margin, "verdict": r.verdict,
        "reason": fmt.reason(r, alpha),
    }
