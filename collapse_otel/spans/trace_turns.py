"""Which LLM spans of a trace are answers and which are intermediate calls (collapse_otel.turns).

A user turn is the nearest span above an LLM span that marks a LangChain root run (OpenLLMetry
``workflow``), else the top chain or agent span above it (OpenInference CHAIN / AGENT, OpenLLMetry
task, GenAI invoke_agent): a request span around two independent chains holds two turns.
Without one, the trace's local root (the topmost span known) is the turn. In
each turn the answer is the LLM span whose text the turn's span returned (``output.value``,
``traceloop.entity.output``, ``gen_ai.output.messages``), else the last to end; tool-call
steps and calls the answer filters rule out are intermediate. Pure function, worker thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from ..turns.answers import TurnPolicy, output_strings, pick_answer
from .conventions import SpanFacts
from .questions import chain_question
from .trace_join import ancestors

CHAIN, TOP = 1, 2


class Note(NamedTuple):
    """What a span tells the turn selection besides its links: its name, whether it is a chain
    or agent span (a turn's top), and what it returned (an attribute value, unparsed)."""

    name: str | None
    chain: int = 0       # TOP: a root run's span; CHAIN: a chain or agent span; 0: neither
    output: Any = None
    input: Any = None    # what it was asked (an attribute value, unparsed)
    limit: bool = False  # it failed at a retry or step limit (loops.span_hit_limit)


def answer_flags(llms: Sequence[tuple[int, int, SpanFacts]], parents: Mapping[int, int | None],
                 notes: Mapping[int, Note], policy: TurnPolicy) -> list[bool]:
    """True for the answers among ``llms`` ((span_id, end_time, facts)), False for the
    intermediate calls."""
    eligible = [_eligible(sid, facts, parents, notes, policy) for sid, _, facts in llms]
    if policy.every_call:
        return eligible
    turns: dict[int, list[int]] = {}
    for k, (sid, _, _) in enumerate(llms):
        turns.setdefault(_turn_of(sid, parents, notes), []).append(k)
    flags = [False] * len(llms)
    for top, members in turns.items():
        calls = sorted((k for k in members if eligible[k]), key=lambda k: llms[k][1])
        texts = [llms[k][2].answer for k in calls]
        found = None
        note = notes.get(top)
        if len(calls) > 1 and note is not None and note.output is not None:
            found = output_strings(note.output, {t.strip() for t in texts if t})
        pick = pick_answer(texts, found)
        if pick is not None:
            flags[calls[pick]] = True
    return flags


def turn_questions(llms: Sequence[tuple[int, int, SpanFacts]],
                   parents: Mapping[int, int | None], notes: Mapping[int, Note],
                   ) -> list[str | None]:
    """The user's question of each LLM span's turn: from the input of the turn's chain span,
    else (no chain span above it: the LLM call is the turn) its last user message. An LLM call
    inside a chain whose input says nothing gets None: its prompt holds more than the question
    (retrieved documents, a rewritten query)."""
    out: list[str | None] = []
    asked: dict[int, str | None] = {}
    for sid, _, facts in llms:
        top = _turn_of(sid, parents, notes)
        note = notes.get(top)
        if note is not None and note.chain:
            if top not in asked:
                asked[top] = chain_question(note.input) if note.input is not None else None
            out.append(asked[top])
        else:
            out.append(facts.question)
    return out


def _turn_of(span_id: int, parents: Mapping[int, int | None], notes: Mapping[int, Note]) -> int:
    path = ancestors(span_id, parents)
    top = None
    for node in path[1:]:
        note = notes.get(node)
        if note is not None and note.chain:
            if note.chain == TOP:
                return node
            top = node
    return path[-1] if top is None else top


def _eligible(span_id: int, facts: SpanFacts, parents: Mapping[int, int | None],
              notes: Mapping[int, Note], policy: TurnPolicy) -> bool:
    if facts.tool_call:
        return False
    if not policy.filters:
        return True
    names: list[Any] = list(facts.tags)
    for node in ancestors(span_id, parents):
        note = notes.get(node)
        if note is not None:
            names.append(note.name)
    return policy.eligible(names)
