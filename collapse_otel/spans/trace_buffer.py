"""Per-trace holding of LLM answers until their retrievals can be joined to them.

Shared by CollapseSpanProcessor (spans one by one) and the OTLP receiver (spans in batches) so
both bound memory and release answers the same way. An answer waits in its trace until the
caller closes the trace (its local root span arrived), ``hold_seconds`` pass since the trace was
first seen, or more than ``max_traces`` traces or ``max_bytes`` bytes are held (the oldest goes
first); then it takes the context ids of the retrievals nearest to it (trace_join), and each
user turn of the trace has its answer picked, the other LLM calls marked intermediate
(trace_turns); with ``loops`` on, an agent trace (tool calls, several LLM calls or a step
limit) also gets its loop outcome (collapse_otel.turns.loops: the trace as one turn). What held
traces cost is estimated (``held_bytes``, brought up to date whenever a trace is held or held
again), so the holder can count it in its memory bound. Single-threaded: only the pipeline's
worker touches a buffer.
"""

from __future__ import annotations

import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from ..records import AnswerRecord
from ..records.outcomes import LOOP, Outcome
from ..turns.answers import TurnPolicy
from ..turns.loops import MAX_TOOL_CALLS, is_agent_turn, judge
from .conventions import LLM, RETRIEVER, TOOL, SpanFacts
from .trace_join import join_context_ids
from .trace_turns import Note, answer_flags, turn_questions

MAX_LINKS_PER_TRACE = 10_000
# estimated bytes, beyond the text: a held trace, a span link, a waiting answer or retrieval
TRACE_COST, LINK_COST, ITEM_COST = 600, 120, 250
Links = Iterable[tuple[int, int | None, Note | None]]
BuildRecord = Callable[[SpanFacts, Mapping[str, Any] | None, Any], AnswerRecord]


class Trace:
    """What one trace holds: answers waiting, retrievals seen, and its span tree."""

    __slots__ = ("first_seen", "pending", "retrievals", "parents", "counted", "notes", "tools",
                 "limit")

    def __init__(self, now: float) -> None:
        self.first_seen = now
        self.counted = 0                 # what the buffer's held_bytes counts for it (held)
        self.pending: list[tuple[int, int, SpanFacts, Mapping[str, Any] | None]] = []
        self.retrievals: list[tuple[int, int, tuple[str, ...]]] = []
        self.parents: dict[int, int | None] = {}
        self.notes: dict[int, Note] = {}
        self.tools: list[int] = []       # tool-call hashes (loops), at most MAX_TOOL_CALLS
        self.limit = False               # a span of it failed at a step limit


class TraceBuffer:
    """Held traces in first-seen order, bounded in count and in size per trace.

    ``build_record(facts, resource, context_ids)`` makes the records. ``on_close(trace_id)``
    runs whenever a trace is closed, evicted or expired; it may return extra
    ``(span_id, parent_id, note)`` links (spans the caller kept outside the buffer) for the join
    and the turns. ``policy``: the answer rules (the owner may replace it).
    """

    def __init__(self, build_record: BuildRecord, *, hold_seconds: float, max_traces: int,
                 max_pending_per_trace: int = 256, clock: Callable[[], float] = time.monotonic,
                 on_close: Callable[[Any], Links | None] | None = None,
                 max_bytes: int | None = None, policy: TurnPolicy | None = None) -> None:
        self._build = build_record
        self.policy = policy or TurnPolicy()
        self._hold = hold_seconds
        self._max_traces = max_traces
        self._max_pending = max_pending_per_trace
        self._clock = clock
        self._on_close = on_close or (lambda trace_id: None)
        self._traces: OrderedDict[Hashable, Trace] = OrderedDict()
        self.max_bytes = max_bytes       # None: bounded by count only; callers may change it
        self.held_bytes = 0
        self.evicted = 0                 # traces released early: over max_traces or max_bytes
        self.loops = False               # also release agent traces' loop outcomes
        self.near_threshold = 0.8        # the near-duplicate test of the loop judgement
        self.tools_dropped = 0           # tool calls beyond MAX_TOOL_CALLS in a trace

    @property
    def held(self) -> int:
        return len(self._traces)

    def __contains__(self, trace_id: object) -> bool:
        return trace_id in self._traces

    def get(self, trace_id: Hashable) -> Trace | None:
        return self._traces.get(trace_id)

    def new_trace(self) -> Trace:
        """A trace not yet held: the caller holds it (``hold``) or closes it (``close``)."""
        return Trace(self._clock())

    def hold(self, trace_id: Hashable, trace: Trace) -> list[AnswerRecord]:
        """Keep ``trace`` (a held one keeps its place); evict the oldest beyond the bounds."""
        self._traces[trace_id] = trace
        size = trace_size(trace)
        self.held_bytes += size - trace.counted
        trace.counted = size
        return self.shrink()

    def shrink(self) -> list[AnswerRecord]:
        """Release the oldest traces while more than ``max_traces`` or ``max_bytes`` are held."""
        out: list[AnswerRecord] = []
        limit = self.max_bytes
        while self._traces and (len(self._traces) > self._max_traces or
                                (limit is not None and self.held_bytes > limit)):
            self.evicted += 1
            out.extend(self._pop_oldest())
        return out

    def add_span(self, trace: Trace, span_id: int, parent_id: int | None, end_time: int,
                 facts: SpanFacts | None, resource: Mapping[str, Any] | None,
                 note: Note | None = None) -> AnswerRecord | None:
        """Note one span of ``trace``; returns the record of an answer that did not fit (an
        intermediate call: its turn is too large to pick from)."""
        if len(trace.parents) < MAX_LINKS_PER_TRACE:
            trace.parents[span_id] = parent_id
            if note is not None:
                trace.notes[span_id] = note
        if note is not None and note.limit:
            trace.limit = True
        if facts is None:
            return None
        if facts.kind == TOOL:
            if len(trace.tools) < MAX_TOOL_CALLS:
                trace.tools.append(facts.tool_hash)
            else:
                self.tools_dropped += 1
            return None
        if facts.kind == RETRIEVER:
            if facts.context_ids and len(trace.retrievals) < self._max_pending:
                trace.retrievals.append((span_id, end_time, facts.context_ids))
        elif facts.kind == LLM:
            if len(trace.pending) < self._max_pending:
                trace.pending.append((span_id, end_time, facts, resource))
            else:
                return replace(self._build(facts, resource, ()), intermediate=True)
        return None

    def close(self, trace_id: Hashable, trace: Trace | None = None) -> list[AnswerRecord]:
        """Release the trace's answers (its root arrived). ``trace``: one not held, if any."""
        held = self._traces.pop(trace_id, None)
        if held is not None:
            self._forget(held)
        return self._release(trace_id, held if trace is None else trace)

    def close_all(self) -> list[AnswerRecord]:
        out: list[AnswerRecord] = []
        while self._traces:
            out.extend(self._pop_oldest())
        return out

    def expire(self, now: float | None = None) -> list[AnswerRecord]:
        """Release the traces first seen ``hold_seconds`` or more ago."""
        out: list[AnswerRecord] = []
        if not self._traces:
            return out
        limit = (self._clock() if now is None else now) - self._hold
        while self._traces and next(iter(self._traces.values())).first_seen <= limit:
            out.extend(self._pop_oldest())
        return out

    def _pop_oldest(self) -> list[AnswerRecord]:
        trace_id, trace = self._traces.popitem(last=False)
        self._forget(trace)
        return self._release(trace_id, trace)

    def _forget(self, trace: Trace) -> None:
        self.held_bytes -= trace.counted
        trace.counted = 0

    def _release(self, trace_id: Hashable, trace: Trace | None) -> list[AnswerRecord]:
        extra = self._on_close(trace_id)
        if trace is None or not trace.pending:
            return []
        parents: Mapping[int, int | None] = trace.parents
        notes: Mapping[int, Note] = trace.notes
        if extra:
            parents, more = {}, {}
            for link in extra:
                parents[link[0]] = link[1]
                if len(link) > 2 and link[2] is not None:
                    more[link[0]] = link[2]
            parents.update(trace.parents)
            more.update(trace.notes)
            notes = more
        pending = trace.pending
        joined = join_context_ids([(sid, end) for sid, end, _, _ in pending],
                                  trace.retrievals, parents)
        llms = [(sid, end, facts) for sid, end, facts, _ in pending]
        answers = answer_flags(llms, parents, notes, self.policy)
        questions = turn_questions(llms, parents, notes)
        out: list = []
        for (_, _, facts, resource), ids, answer, question in zip(
                pending, joined, answers, questions, strict=True):
            record = self._build(facts, resource, ids)
            if answer and question != record.question:
                record = replace(record, question=question)
            out.append(record if answer else replace(record, intermediate=True))
        limit = trace.limit or any(n.limit for n in notes.values())
        if self.loops and is_agent_turn(len(pending), len(trace.tools), limit):
            out.append(self._loops(trace, out[0], limit))
        return out

    def _loops(self, trace: Trace, first: AnswerRecord, limit: bool) -> Outcome:
        """The loop outcome of an agent trace, in its first answer's stream."""
        texts = [facts.answer for _, _, facts, _ in sorted(trace.pending, key=lambda p: p[1])]
        length, kinds = judge(texts, trace.tools, limit, self.near_threshold)
        return Outcome(LOOP, service=first.service, release=first.release, cohort=first.cohort,
                       timestamp=first.timestamp, loop_length=length, loop_kinds=kinds)


def trace_size(trace: Trace) -> int:
    """Estimated bytes a trace keeps: computed when it is held, so the traces closed in the
    batch that opened them (nearly all) cost nothing to account."""
    size = TRACE_COST + LINK_COST * len(trace.parents) + 16 * len(trace.tools) + \
        ITEM_COST * (len(trace.pending) + len(trace.retrievals))
    for _, _, ids in trace.retrievals:
        size += sum(map(sys.getsizeof, ids))
    for note in trace.notes.values():
        if note.output is not None:
            size += sys.getsizeof(note.output)
        if note.input is not None:
            size += sys.getsizeof(note.input)
    for _, _, facts, _ in trace.pending:
        size += sum(map(sys.getsizeof, facts.context_ids))
        if facts.answer is not None:
            size += sys.getsizeof(facts.answer)
    return size
