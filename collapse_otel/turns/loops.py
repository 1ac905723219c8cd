"""Agent loops within one user turn: what repeats, and whether the turn ended at a limit.

A turn of an agent (a LangGraph graph invocation, a trace of ``execute_tool`` spans) *loops*
when the same step comes back: ``MIN_REPEATS`` consecutive near-identical LLM outputs (the
word 5-gram shingles and Jaccard threshold of the near-duplicate signal, here between the
turn's own calls), ``MIN_REPEATS`` calls of one tool with the same arguments, or a turn cut
short by a retry or step limit (LangGraph's recursion limit). Its *loop length* is how many
times its most repeated step ran (1: nothing repeated).

``TurnLoops`` is the bounded per-turn state capture keeps while a turn runs (tool calls as
xxh3 hashes of name and arguments, never the arguments; at most ``MAX_TOOL_CALLS`` of them);
``judge`` is the pure function the worker runs on a finished turn. Tool arguments and answer
texts never leave this process: only the length and the kinds of loop are counted.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import xxhash

from ..records.outcomes import LOOP, Outcome
from ..signals.duplicates import sorted_jaccard
from ..text.hashing import TokenHasher, text_hash
from ..text.normalize import clean_text, normalize, word_bytes

MIN_REPEATS = 3          # a step seen this many times in a row (answers) or at all (tools)
MAX_TOOL_CALLS = 512     # tool-call hashes kept per turn; later ones are counted as dropped
MAX_ARGUMENT_CHARS = 65_536   # longer arguments are hashed by their head
MAX_JUDGED_CHARS = 20_000     # of each answer, for the near-identical test
REPEATED_ANSWER, REPEATED_TOOL_CALL, STEP_LIMIT = (
    "repeated_answer", "repeated_tool_call", "step_limit")
KINDS = (REPEATED_ANSWER, REPEATED_TOOL_CALL, STEP_LIMIT)
_HASHER = TokenHasher()
_LIMIT_WORDS = ("recursion limit", "recursion_limit", "max iterations", "max_iterations",
                "iteration limit", "step limit", "max_steps", "retry limit", "retries exceeded")
_LIMIT_CLASSES = ("GraphRecursionError", "RecursionLimitError", "MaxIterationsError",
                  "MaxStepsError", "RetryError")


def call_hash(name: Any, arguments: Any) -> int:
    """xxh3 of a tool's name and its arguments (JSON with sorted keys when they are not
    text), so the same call hashes alike whatever the dict order; the arguments are not kept."""
    if isinstance(arguments, bytes):
        arguments = arguments.decode("utf-8", "replace")
    if not isinstance(arguments, str):
        try:
            arguments = json.dumps(arguments, sort_keys=True, default=str)
        except (TypeError, ValueError, RecursionError):
            arguments = repr(arguments)
    h = xxhash.xxh3_64()
    h.update(str(name or "").encode("utf-8", "replace"))
    h.update(b"\x1f")
    h.update(arguments[:MAX_ARGUMENT_CHARS].strip().encode("utf-8", "replace"))
    return h.intdigest()


def is_limit_error(error: Any) -> bool:
    """Does this error (an exception, or a span's error type / status text) say the turn hit
    a retry or step limit (LangGraph's GraphRecursionError, an agent's max iterations)?"""
    if error is None:
        return False
    if isinstance(error, BaseException):
        names = [c.__name__ for c in type(error).__mro__]
        if any(n in _LIMIT_CLASSES for n in names):
            return True
        text = str(error)
    else:
        text = str(error)
    text = text[:2_000].lower()
    return any(c.lower() in text for c in _LIMIT_CLASSES) or \
        any(w in text for w in _LIMIT_WORDS)


def span_hit_limit(attributes: Any, status: Any = None) -> bool:
    """Did a span fail at a retry or step limit: its status description, or its
    ``error.type`` / ``exception.type`` / ``exception.message`` attribute says so?"""
    if status and is_limit_error(status):
        return True
    get = getattr(attributes, "get", None)
    if get is None:
        return False
    return any(isinstance(v := get(k), str) and is_limit_error(v)
               for k in ("error.type", "exception.type", "exception.message"))


class TurnLoops:
    """What one running turn keeps for loop detection: its tool-call hashes (bounded) and
    whether it hit a limit."""

    __slots__ = ("tools", "dropped", "limit")

    def __init__(self) -> None:
        self.tools: list[int] = []
        self.dropped = 0
        self.limit = False

    def tool(self, name: Any, arguments: Any) -> None:
        if len(self.tools) >= MAX_TOOL_CALLS:
            self.dropped += 1
            return
        self.tools.append(call_hash(name, arguments))


def answer_run(texts: Iterable[str | None], threshold: float) -> int:
    """The longest run of consecutive near-identical texts (exact after normalisation, or
    word 5-gram Jaccard >= ``threshold``); calls without text (tool-call steps) are skipped,
    so an agent that says the same thing between its tool calls still repeats itself. The
    texts are shingled in one pass (the answer signals' hashing)."""
    norms = [normalize(clean_text(t[:MAX_JUDGED_CHARS])) for t in texts if t and t.strip()]
    if len(norms) < 2:
        return len(norms)
    hashes, owner = _HASHER.batch([word_bytes(n) for n in norms]).ngrams(5)
    cuts = np.searchsorted(owner, np.arange(len(norms) + 1))
    best = run = 1
    last = (text_hash(norms[0]), np.unique(hashes[cuts[0]:cuts[1]]))
    for i in range(1, len(norms)):
        current = (text_hash(norms[i]), np.unique(hashes[cuts[i]:cuts[i + 1]]))
        run = run + 1 if _same(last, current, threshold) else 1
        best = max(best, run)
        last = current
    return best


def _same(a: tuple[int, np.ndarray], b: tuple[int, np.ndarray], threshold: float) -> bool:
    if a[0] == b[0]:
        return True
    if not len(a[1]) or not len(b[1]):   # under 5 words: exact repeats only
        return False
    return sorted_jaccard(a[1], b[1]) >= threshold


def judge(texts: Sequence[str | None], tools: Sequence[int], limit: bool,
          threshold: float = 0.8, min_repeats: int = MIN_REPEATS) -> tuple[int, tuple[str, ...]]:
    """(loop length, kinds of loop) of a finished turn: its LLM outputs in order, its tool-call
    hashes and whether it ended at a limit. No kinds: the turn did not loop."""
    answers = answer_run(texts, threshold)
    calls = max(Counter(tools).values(), default=0)
    kinds = []
    if answers >= min_repeats:
        kinds.append(REPEATED_ANSWER)
    if calls >= min_repeats:
        kinds.append(REPEATED_TOOL_CALL)
    if limit:
        kinds.append(STEP_LIMIT)
    return max(1, answers, calls), tuple(kinds)


def is_agent_turn(llm_calls: int, tool_calls: int, limit: bool) -> bool:
    """A turn that took steps (more than one LLM call, or a tool call) or hit a limit: the
    turns a loop rate is taken over (a plain one-call chain cannot loop)."""
    return llm_calls > 1 or tool_calls > 0 or limit


class LoopJudgement:
    """A deferred judgement of one ended agent turn: a plain picklable object (not a
    closure), so that with the analysis in a separate process the host sends its evidence
    there and the shingling and comparing run in that process, not on a host thread."""

    __slots__ = ("texts", "tools", "limit", "threshold", "labels", "at")

    def __init__(self, texts: list[str | None], tools: list[int], limit: bool,
                 threshold: float, labels: tuple[str | None, ...], at: float) -> None:
        self.texts, self.tools, self.limit = texts, tools, limit
        self.threshold, self.labels, self.at = threshold, labels, at

    def fields(self) -> tuple[Any, ...]:
        """What travels to the analysis process (``LoopJudgement(*fields)`` rebuilds it)."""
        return (self.texts, self.tools, self.limit, self.threshold, self.labels, self.at)

    def __call__(self) -> list[Outcome]:
        length, kinds = judge(self.texts, self.tools, self.limit, self.threshold)
        service, release, cohort = self.labels
        return [Outcome(LOOP, service=service, release=release, cohort=cohort,
                        timestamp=self.at, loop_length=length, loop_kinds=kinds)]
