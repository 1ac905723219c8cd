"""Feedback and evaluation columns of ``collapse-otel compare`` inputs.

A row may say how its answer fared: ``rating`` (or ``feedback``): thumbs up or down (``up`` /
``down``, true / false, ``thumbs_up`` ...); ``eval_passed`` (true / false) or ``evaluation`` (a
pass or fail label such as ``pass``, ``relevant``, ``hallucinated``, or true / false), with an
optional ``evaluator`` name (default ``evaluation``). Each becomes the event capture would
queue, so the thumbs-down and evaluation fail rates are judged offline as online. An empty cell
says nothing. Files written for other purposes use these names too (a free-text ``feedback``
column, 1-5 star ``rating`` s): a column with a value that cannot be read is left out of the
comparison as a whole, with a warning naming the column (never a value).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from ..config import CollapseConfig
from ..records.outcomes import EVALUATION, FEEDBACK, Outcome, as_rating, evaluator_name, judge_of

DEFAULT_EVALUATOR = "evaluation"
_CONFIG = CollapseConfig()
_JUDGE = judge_of(_CONFIG.evaluation_pass_labels, _CONFIG.evaluation_fail_labels, "")
_BOOL = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def row_outcomes(row: dict) -> tuple[tuple[Outcome, ...], dict[str, str]]:
    """The feedback and evaluation events of one input row, and {kind: why} for the kinds
    whose column holds a value that cannot be read (the message names the column)."""
    out, unreadable = [], {}
    for column in ("rating", "feedback"):
        value = row.get(column)
        if value is None or value == "":
            continue
        rating = as_rating(_BOOL.get(value.strip().lower(), value)
                           if isinstance(value, str) else value)
        if rating is None:
            unreadable[FEEDBACK] = f"'{column}' holds values other than up / down or true / false"
        else:
            out.append(Outcome(FEEDBACK, rating=rating, timestamp=0.0))
        break
    passed, label = row.get("eval_passed"), row.get("evaluation")
    if passed not in (None, "") or label not in (None, ""):
        name = evaluator_name(row.get("evaluator")) or DEFAULT_EVALUATOR
        try:
            result = _result(name, passed, label)
        except ValueError as exc:
            unreadable[EVALUATION] = str(exc)
        else:
            out.append(Outcome(EVALUATION, evaluator=name, result=result, timestamp=0.0))
    return tuple(out), unreadable


def _result(name: str, passed: object, label: object) -> str:
    if passed not in (None, ""):
        flag = _BOOL.get(passed.strip().lower()) if isinstance(passed, str) else passed
        if not isinstance(flag, bool):
            raise ValueError("'eval_passed' must be true or false")
        return _JUDGE.result(name, flag, None, None)
    if isinstance(label, bool):
        return _JUDGE.result(name, label, None, None)
    if not isinstance(label, str):
        raise ValueError("'evaluation' must be a pass / fail label")
    result = _JUDGE.result(name, None, label, None)
    if result == "unknown" and label.strip().lower() not in ("unknown", "n/a", "na"):
        raise ValueError("'evaluation' is neither a pass nor a fail label")
    return result


def merge_outcome_counts(windows: Sequence) -> tuple[tuple[int, int] | None,
                                                     tuple[int, int, int] | None]:
    """Feedback and evaluation counts of several windows added (None when none has any)."""
    fb = [w.feedback for w in windows if w.feedback is not None]
    ev = [w.evaluations for w in windows if w.evaluations is not None]
    feedback = tuple(map(sum, zip(*fb, strict=True))) if fb else None
    evaluations = tuple(map(sum, zip(*ev, strict=True))) if ev else None
    # the sums keep the length of the tuples they add (two, three)
    return (cast("tuple[int, int] | None", feedback),
            cast("tuple[int, int, int] | None", evaluations))


def outcomes_by_cohort(path: str, groups: dict[str, list], outcomes: dict[int, tuple[Outcome, ...]],
                       unreadable: dict[str, tuple[int, str]],
                       ) -> tuple[dict[str, list[Outcome]], tuple[str, ...]]:
    """The events of each cohort's records (``outcomes`` by record id), without the kinds
    whose column could not be read, and a warning for each such column."""
    rated = {c: [o for r in rs for o in outcomes.get(id(r), ()) if o.kind not in unreadable]
             for c, rs in groups.items()}
    warnings = tuple(f"{path}:{line}: {why}: that column is left out of the comparison"
                     for line, why in unreadable.values())
    return {c: os for c, os in rated.items() if os}, warnings
