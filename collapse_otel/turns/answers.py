"""What counts as an answer: one per user turn, the LLM output that reaches the caller.

A user turn is one LangChain root run (a chain, an agent, a LangGraph graph invocation) or, on
spans, the top chain span of a trace (else the trace's local root). Of the LLM calls made in
it, the *answer* is the last one whose text is in the turn's output (what the run or span
returned), else the last one to finish; the others (query rewriters, routers, judges, tool-call
steps) are *intermediate* calls, counted apart and kept out of the answer signals. A tool-call
step (tool calls and no text) is never the answer.

``answer_include`` / ``answer_exclude`` (comma-separated, case-insensitive globs) narrow which
calls may be answers: a call matches when its own name, one of its tags or the name of a run
or span it runs inside matches. Excluded calls are always intermediate; with an include list,
only calls that match it can be answers. ``answer_mode = every_call`` makes every eligible
call an answer (the behaviour before turns). Shared by the LangChain handler and span reading.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..config import CollapseConfig

MAX_OUTPUT_STRINGS = 512       # strings of a turn's output compared with its LLM answers
MAX_OUTPUT_DEPTH = 8
MAX_OUTPUT_JSON_CHARS = 1_000_000


class TurnPolicy:
    """The answer rules of one config (built once per config, cached)."""

    __slots__ = ("every_call", "_include", "_exclude")

    def __init__(self, mode: str = "turn", include: str = "", exclude: str = "") -> None:
        self.every_call = mode == "every_call"
        self._include = _globs(include)
        self._exclude = _globs(exclude)

    @property
    def filters(self) -> bool:
        """True when names and tags matter (callers only collect them then)."""
        return self._include is not None or self._exclude is not None

    def eligible(self, names: Iterable[Any]) -> bool:
        """May an LLM call with these names (its own, its tags, its ancestors') be an answer?"""
        if not self.filters:
            return True
        strings = [n.lower() for n in names if isinstance(n, str) and n]
        if self._exclude is not None and any(self._exclude.match(n) for n in strings):
            return False
        return self._include is None or any(self._include.match(n) for n in strings)


_CACHE: dict[tuple[str, str, str], TurnPolicy] = {}


def policy_of(config: CollapseConfig) -> TurnPolicy:
    key = (config.answer_mode, config.answer_include, config.answer_exclude)
    policy = _CACHE.get(key)
    if policy is None:
        if len(_CACHE) > 64:
            _CACHE.clear()
        policy = _CACHE[key] = TurnPolicy(*key)
    return policy


def _globs(spec: str) -> re.Pattern[str] | None:
    parts = [p.strip().lower() for p in (spec or "").split(",") if p.strip()]
    if not parts:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in parts))


def pick_answer(texts: Sequence[str | None], outputs: set[str] | None) -> int | None:
    """Index of the answer among a turn's eligible calls, in the order they finished: the last
    whose (stripped) text is among the turn's output strings, else the last one; None when
    there is no eligible call."""
    if not texts:
        return None
    if outputs:
        for i in range(len(texts) - 1, -1, -1):
            text = texts[i]
            if text is not None and text.strip() in outputs:
                return i
    return len(texts) - 1


def output_strings(value: Any, wanted: set[str]) -> set[str]:
    """The strings of ``wanted`` found in a turn's output: a str, a message (``.content``), a
    generation (``.text``), a mapping or sequence of those, or JSON text of them (bounded)."""
    found: set[str] = set()
    if not wanted:
        return found
    budget = [MAX_OUTPUT_STRINGS]

    def visit(v: Any, depth: int) -> None:
        if budget[0] <= 0 or depth > MAX_OUTPUT_DEPTH or v is None:
            return
        if isinstance(v, str):
            budget[0] -= 1
            s = v.strip()
            if s in wanted:
                found.add(s)
            elif depth == 0 and s[:1] in ("{", "[") and len(s) <= MAX_OUTPUT_JSON_CHARS:
                with contextlib.suppress(ValueError, RecursionError):
                    visit(json.loads(s), depth + 1)
            return
        if isinstance(v, Mapping):
            for item in list(v.values())[:MAX_OUTPUT_STRINGS]:
                visit(item, depth + 1)
            return
        if isinstance(v, (list, tuple)):
            for item in v[-MAX_OUTPUT_STRINGS:]:
                visit(item, depth + 1)
            return
        for attr in ("content", "text"):
            inner = getattr(v, attr, None)
            if isinstance(inner, (str, list)):
                visit(inner, depth + 1)
                return

    try:
        visit(value, 0)
    except Exception:   # an odd output object: no match, the last call is the answer
        return found
    return found
