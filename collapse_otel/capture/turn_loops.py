"""Per-turn loop evidence a capture path keeps while agent turns run (collapse_otel.turns.loops).

``LoopWatch`` holds, per open turn (a LangChain root run), its LLM outputs in order, its
tool-call hashes and whether it hit a step limit: at most ``max_turns`` turns (the oldest is
dropped first) and ``MAX_STEPS`` outputs and ``loops.MAX_TOOL_CALLS`` tool calls per turn;
whatever is dropped is counted (``collapse_records_dropped{reason="loop_state_dropped"}``).
When a turn ends, ``finish`` queues a deferred judgement (``LoopJudgement``): the worker
compares the outputs (shingles, Jaccard) and queues the turn's loop outcome, so the host thread
only appends; with the analysis in a separate process, that process judges.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from .. import forksafe
from ..turns.loops import LoopJudgement, TurnLoops, is_agent_turn

MAX_STEPS = 256          # LLM outputs kept per turn (the newest)
DROPPED = "loop_state_dropped"


class _Turn(TurnLoops):
    __slots__ = ("texts", "calls")

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str | None] = []
        self.calls = 0


class LoopWatch:
    """Bounded loop evidence of the open turns of one capture path (thread-safe)."""

    def __init__(self, max_turns: int) -> None:
        self._max_turns = max_turns
        self._turns: OrderedDict[Hashable, _Turn] = OrderedDict()
        self._lock = forksafe.Lock()

    def __len__(self) -> int:
        return len(self._turns)

    def _turn(self, key: Hashable, pipeline: Any) -> _Turn:
        turn = self._turns.get(key)
        if turn is None:
            turn = self._turns[key] = _Turn()
            if len(self._turns) > self._max_turns:
                self._turns.popitem(last=False)
                pipeline.count_drop(DROPPED)
        return turn

    def tool(self, key: Hashable, name: Any, arguments: Any, pipeline: Any) -> None:
        with self._lock:
            turn = self._turn(key, pipeline)
            before = turn.dropped
            turn.tool(name, arguments)
        if turn.dropped > before:
            pipeline.count_drop(DROPPED)

    def output(self, key: Hashable, text: str | None, pipeline: Any) -> None:
        dropped = False
        with self._lock:
            turn = self._turn(key, pipeline)
            turn.calls += 1
            turn.texts.append(text)
            if len(turn.texts) > MAX_STEPS:
                del turn.texts[0]
                dropped = True
        if dropped:
            pipeline.count_drop(DROPPED)

    def limit(self, key: Hashable, pipeline: Any) -> None:
        with self._lock:
            self._turn(key, pipeline).limit = True

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._turns.pop(key, None)

    def finish(self, key: Hashable, pipeline: Any, labels: tuple[str | None, ...]) -> None:
        """Queue the judgement of an ended turn (an agent turn only) in the stream
        ``labels`` (service, release, cohort; None parts: the configuration's)."""
        with self._lock:
            turn = self._turns.pop(key, None)
        if turn is None or not is_agent_turn(turn.calls, len(turn.tools) + turn.dropped,
                                             turn.limit):
            return
        pipeline.submit_deferred(LoopJudgement(
            turn.texts, turn.tools, turn.limit, pipeline.config.near_duplicate_threshold,
            labels, time.time()))

