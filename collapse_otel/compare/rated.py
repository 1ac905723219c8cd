"""Feedback and evaluation columns of ``collapse-otel compare`` inputs.

A row may say how its answer fared: ``rating`` (or ``feedback``): thumbs up or down (``up`` /
``down``, true / false, ``thumbs_up`` ...); ``eval_passed`` (true / false) or ``evaluation`` (a
pass or fail label such as ``pass``, ``relevant``, ``hallucinated``, or true / false), with an
optional ``evaluator`` name (default ``evaluation``). Each becomes the event capture would
queue, so the thumbs-down and evaluation fail rates are judged offline as online. An empty cell
says nothing; a value that cannot be read is an input error (no value is ever quoted).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..config import CollapseConfig
from ..outcomes import EVALUATION, FEEDBACK, Outcome, as_rating, evaluator_name, judge_of

DEFAULT_EVALUATOR = "evaluation"
_CONFIG = CollapseConfig()
_JUDGE = judge_of(_CONFIG.evaluation_pass_labels, _CONFIG.evaluation_fail_labels, "")
_BOOL = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def row_outcomes(row: dict) -> tuple[Outcome, ...]:
    """The feedback and evaluation events of one input row (ValueError, naming the column,
    on a bad value)."""
    out = []
    for column in ("rating", "feedback"):
        value = row.get(column)
        if value is None or value == "":
            continue
        rating = as_rating(_BOOL.get(value.strip().lower(), value)
                           if isinstance(value, str) else value)
        if rating is None:
            raise ValueError(f"'{column}' must be up / down or true / false")
        out.append(Outcome(FEEDBACK, rating=rating, timestamp=0.0))
        break
    passed, label = row.get("eval_passed"), row.get("evaluation")
    if passed not in (None, "") or label not in (None, ""):
        name = evaluator_name(row.get("evaluator")) or DEFAULT_EVALUATOR
        result = _result(name, passed, label)
        out.append(Outcome(EVALUATION, evaluator=name, result=result, timestamp=0.0))
    return tuple(out)


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
    return feedback, evaluations
