"""Feedback and evaluation results: the event capture queues, and the rules that read it.

An ``Outcome`` says how an answer fared (a user's thumbs up or down, a score; an evaluator's
score, label or pass/fail). It names the answer by references (a LangChain run id, an OTel
trace id, a ``gen_ai.response.id``), so that the worker can put it in the stream (service,
release, cohort) of the answer it rates (``worker/references.py``). Pure functions, no I/O: capture,
the span readers and ``compare`` build events with them.
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from uuid import UUID

from ..text.labels import user_label_value

FEEDBACK, EVALUATION, LOOP = "feedback", "evaluation", "loop"
UP, DOWN = "up", "down"
PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"
RESULTS = (PASS, FAIL, UNKNOWN)
RATINGS = (UP, DOWN)
OTHER_EVALUATOR = "__other__"
MAX_REF_CHARS = 512   # a longer reference is cut: it is hashed, never stored or exported

_RATING_WORDS = {"up": UP, "thumbs_up": UP, "positive": UP, "like": UP, "good": UP, "+1": UP,
                 "down": DOWN, "thumbs_down": DOWN, "negative": DOWN, "dislike": DOWN,
                 "bad": DOWN, "-1": DOWN}


@dataclass(frozen=True, slots=True)
class Outcome:
    """One feedback or evaluation event, or an agent turn's loop verdict (``kind`` LOOP). ``refs`` name the rated answer (normalised:
    ``run:<32 hex>``, ``trace:<32 hex>``, ``response:<id>``); ``service`` / ``release`` /
    ``cohort`` given explicitly win over the answer's stream; ``fallback`` holds the labels
    used when no reference is known (None parts: the configuration's defaults)."""

    kind: str
    refs: tuple[str, ...] = ()
    service: str | None = None
    release: str | None = None
    cohort: str | None = None
    fallback: tuple[str | None, str | None, str | None] = (None, None, None)
    rating: str | None = None      # feedback: up | down
    score: float | None = None
    evaluator: str = ""            # evaluation: the evaluator's name (a safe label value)
    result: str = ""               # evaluation: pass | fail | unknown
    timestamp: float = field(default_factory=time.time)
    loop_length: int = 0           # loop: how often the turn's most repeated step ran
    loop_kinds: tuple[str, ...] = ()   # loop: why it loops (collapse_otel.turns.loops; empty: not)


# -- references --------------------------------------------------------------------------

def run_ref(value: Any) -> str | None:
    """``run:<32 hex>`` of a LangChain run id (UUID or its text); None when it is neither."""
    if isinstance(value, UUID):
        return f"run:{value.hex}"
    if isinstance(value, (str, bytes)):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        try:
            return f"run:{UUID(text.strip()).hex}"
        except ValueError:
            return None
    return None


def trace_ref(value: Any) -> str | None:
    """``trace:<32 hex>`` of an OTel trace id: an int in (0, 2^128), 16 bytes, or 32 hex
    digits (an optional 0x); None otherwise (the invalid all-zero id included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return f"trace:{value:032x}" if 0 < value < 1 << 128 else None
    if isinstance(value, (bytes, bytearray)) and len(value) == 16:
        value = int.from_bytes(value, "big")
        return f"trace:{value:032x}" if value else None
    if isinstance(value, str):
        text = value.strip().lower()
        text = text[2:] if text.startswith("0x") else text
        if len(text) == 32:
            try:
                number = int(text, 16)
            except ValueError:
                return None
            return f"trace:{number:032x}" if number else None
    return None


def response_ref(value: Any) -> str | None:
    """``response:<id>`` of a ``gen_ai.response.id``; None when it is not a non-empty str."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        text = value.strip()
        return f"response:{text[:MAX_REF_CHARS]}" if text else None
    return None


# -- values ------------------------------------------------------------------------------

def as_score(value: Any) -> float | None:
    """A finite float from a real number (numpy's included) or a numeric str (not a bool);
    None otherwise, also for a number too large for a float."""
    if isinstance(value, bool) or value is None:   # numpy's bool is not a Real either
        return None
    if not isinstance(value, (numbers.Real, str, bytes)) or \
            (isinstance(value, (str, bytes)) and len(value) > 64):
        return None
    try:
        number = float(value)
    except (ValueError, TypeError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def as_rating(value: Any) -> str | None:
    """``up`` / ``down`` from True / False or a word (up, down, thumbs_up, positive, ...)."""
    if isinstance(value, bool):
        return UP if value else DOWN
    if isinstance(value, str) and len(value) <= 32:
        return _RATING_WORDS.get(normal_word(value))
    return None


def normal_word(value: str) -> str:
    """Lower case, spaces and hyphens as underscores: ``Not relevant`` -> ``not_relevant``."""
    return "_".join(value.strip().lower().replace("-", " ").split())


def evaluator_name(value: Any) -> str | None:
    """An evaluator name safe as a label value (labels.user_label_value: never the overflow
    ``__other__``), or None."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str) or not value.strip():
        return None
    return user_label_value(value.strip())


# -- pass or fail ------------------------------------------------------------------------

@dataclass(frozen=True)
class Judge:
    """Decides an evaluation's result: ``passed`` when given; else its label (the pass and
    fail label sets); else its score against the evaluator's threshold (``name>=0.7``,
    ``name<=0.2`` for scores where lower is better, ``*`` for any evaluator); else unknown."""

    pass_labels: frozenset[str]
    fail_labels: frozenset[str]
    thresholds: tuple[tuple[str, str, float], ...] = ()   # (evaluator or *, >= | <=, value)

    def result(self, evaluator: str, passed: bool | None, label: str | None,
               score: float | None) -> str:
        if passed is not None:
            return PASS if passed else FAIL
        if label:
            word = normal_word(label)
            if word in self.pass_labels:
                return PASS
            if word in self.fail_labels:
                return FAIL
        if score is not None:
            rule = self._threshold(evaluator)
            if rule is not None:
                op, bound = rule
                return PASS if (score >= bound if op == ">=" else score <= bound) else FAIL
        return UNKNOWN

    def _threshold(self, evaluator: str) -> tuple[str, float] | None:
        fallback = None
        for name, op, bound in self.thresholds:
            if name == evaluator:
                return op, bound
            if name == "*":
                fallback = (op, bound)
        return fallback


@lru_cache(maxsize=32)
def judge_of(pass_labels: str, fail_labels: str, thresholds: str) -> Judge:
    """The Judge of a configuration's three settings (cached: configurations are frozen)."""
    return Judge(_words(pass_labels), _words(fail_labels), parse_thresholds(thresholds))


def _words(text: str) -> frozenset[str]:
    return frozenset(w for part in text.split(",") if (w := normal_word(part)))


def parse_thresholds(text: str) -> tuple[tuple[str, str, float], ...]:
    """``faithfulness>=0.7, toxicity<=0.2, *=3`` (``=`` means ``>=``); ValueError when an
    entry has no operator or no finite number."""
    rules = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        for op in (">=", "<=", "="):
            name, sep, value = part.partition(op)
            if sep:
                break
        else:
            raise ValueError(f"evaluation threshold {part!r} has no >=, <= or =")
        number = as_score(value.strip())
        if not name.strip() or number is None:
            raise ValueError(f"evaluation threshold {part!r} needs a name and a number")
        rules.append((name.strip(), "<=" if op == "<=" else ">=", number))
    return tuple(rules)
