"""The worker's book of answers: each answer counted once, intermediate LLM calls set apart.

Several capture paths may see the same LLM call: the LangChain handler, a CollapseSpanProcessor
reading an OpenInference or OpenLLMetry span of the same run, the util-genai completion hook,
an ``observe()`` call. Each record says which path made it (``AnswerRecord.source``); a record
that matches one an *other* path made shortly before is a second sighting and is dropped (a path
repeating itself is a real duplicate answer, a collapse signal, and always counts).

Matching keys, computed from what every path reads the same way:

- the answer text (xxh3-64), when the record has text;
- the token usage the model reported ``(prompt, completion)``, only to pair a record without
  text (content capture off on spans) with one that has it.

Memory is bounded: at most ``max_keys`` keys, each kept ``ttl`` seconds (worker clock), oldest
first out. A record of a span path (spans, completion hook) waits ``grace`` seconds while a direct
path (LangChain handler, ``observe()``) is active, so that when both saw the answer the direct
path's record, with its labels and text, is the one kept whichever reached the queue first.

Intermediate calls (``AnswerRecord.intermediate``: rewriters, routers, judges, tool-call steps)
are counted per stream and never reach the aggregator's answer signals. Worker thread only.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import Any

from .records import OTHER_RELEASE, AnswerRecord, StreamKey
from .text.hashing import text_hash

TTL_SECONDS = 60.0     # a span path holds an answer up to its trace's hold_seconds (30)
GRACE_SECONDS = 1.0
MAX_KEYS = 16_384      # at most two keys per record
DIRECT_SOURCES = frozenset({"langchain", "observe"})


class _Seen:
    __slots__ = ("source", "has_text", "claimed")

    def __init__(self, source: str, has_text: bool) -> None:
        self.source = source
        self.has_text = has_text
        self.claimed: tuple[str, ...] = ()    # paths whose second sighting this absorbed


class AnswerLedger:
    def __init__(self, max_streams: int = 200, *, ttl: float = TTL_SECONDS,
                 grace: float = GRACE_SECONDS, max_keys: int = MAX_KEYS) -> None:
        self._ttl, self._grace, self._max_keys = ttl, grace, max_keys
        self._max_streams = max_streams
        self._seen: OrderedDict[Any, tuple[float, list[_Seen]]] = OrderedDict()
        self._waiting: deque[tuple[float, AnswerRecord]] = deque()
        self._direct_until = float("-inf")
        self.intermediate: dict[StreamKey, int] = {}
        self.duplicates = 0

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def admit(self, records: Iterable[AnswerRecord], now: float) -> list[AnswerRecord]:
        """The records to analyse now, of those the worker just took from the queue."""
        out: list[AnswerRecord] = []
        later: list[AnswerRecord] = []
        for rec in records:
            if rec.source in DIRECT_SOURCES:
                self._direct_until = now + self._ttl
                self._take(rec, now, out)
            else:
                later.append(rec)
        direct = now < self._direct_until
        for rec in later:
            if direct and rec.source and not self._sighting(rec, now, register=False):
                self._waiting.append((now + self._grace, rec))
            else:
                self._take(rec, now, out)
        return out

    def release(self, now: float, everything: bool = False) -> list[AnswerRecord]:
        """Records whose grace is over (all of them with ``everything``: a flush)."""
        out: list[AnswerRecord] = []
        waiting = self._waiting
        while waiting and (everything or waiting[0][0] <= now):
            self._take(waiting.popleft()[1], now, out)
        return out

    def _take(self, rec: AnswerRecord, now: float, out: list[AnswerRecord]) -> None:
        if rec.source and self._sighting(rec, now, register=True):
            self.duplicates += 1
            return
        if rec.intermediate:
            self._count_intermediate(rec.stream)
        else:
            out.append(rec)

    def _sighting(self, rec: AnswerRecord, now: float, register: bool) -> bool:
        """True when ``rec`` is a second sighting (claimed on the match when ``register``);
        else, with ``register``, it is written down under its keys."""
        self._expire(now)
        source, text = rec.source, rec.answer
        tkey = ("t", text_hash(text)) if text is not None else None
        ukey = None
        if not rec.tokens_estimated and rec.prompt_tokens is not None \
                and rec.completion_tokens is not None:
            ukey = ("u", rec.prompt_tokens, rec.completion_tokens)
        match = self._match(tkey, source, None) if tkey is not None else None
        if match is None and ukey is not None:
            match = self._match(ukey, source, text is not None)
        if match is not None:
            if register:
                match.claimed = (*match.claimed, source)
            return True
        if register:
            seen = _Seen(source, text is not None)
            for key in (tkey, ukey):
                if key is not None:
                    self._add(key, seen, now)
        return False

    def _match(self, key: Any, source: str, has_text: bool | None) -> _Seen | None:
        """An earlier record of another path under ``key`` that has not absorbed a sighting of
        ``source`` yet; for a usage key one of the two must be without text."""
        entry = self._seen.get(key)
        if entry is None:
            return None
        for seen in entry[1]:
            if seen.source != source and source not in seen.claimed and \
                    (has_text is None or not (has_text and seen.has_text)):
                return seen
        return None

    def _add(self, key: Any, seen: _Seen, now: float) -> None:
        entry = self._seen.get(key)
        if entry is None:
            self._seen[key] = (now, [seen])
            if len(self._seen) > self._max_keys:
                self._seen.popitem(last=False)
        elif len(entry[1]) < 8:
            entry[1].append(seen)

    def _expire(self, now: float) -> None:
        seen, limit = self._seen, now - self._ttl
        while seen and next(iter(seen.values()))[0] < limit:
            seen.popitem(last=False)

    def _count_intermediate(self, key: StreamKey) -> None:
        counts = self.intermediate
        if key not in counts and len(counts) >= self._max_streams:
            key = StreamKey(key.service, OTHER_RELEASE, key.cohort)
            if key not in counts and len(counts) >= 2 * self._max_streams:
                key = StreamKey(OTHER_RELEASE, OTHER_RELEASE, OTHER_RELEASE)
        counts[key] = counts.get(key, 0) + 1
