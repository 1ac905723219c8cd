"""The worker's book of answers: each answer counted once, intermediate LLM calls set apart.

Several capture paths may see the same LLM call: the LangChain handler, a CollapseSpanProcessor
reading an OpenInference or OpenLLMetry span of the same run, the util-genai completion hook,
an ``observe()`` call. Each record says which path made it (``AnswerRecord.source``); a record
that matches one an *other* path made shortly before is a second sighting and is dropped (a path
repeating itself is a real duplicate answer, a collapse signal, and always counts).

Matching keys, computed from what every path reads the same way:

- the answer text (Python's own str hash: in-process and short-lived), when it has text;
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

from ..records import OTHER_RELEASE, AnswerRecord, StreamKey
from ..text.labels import user_label_value

TTL_SECONDS = 60.0     # a span path holds an answer up to its trace's hold_seconds (30)
GRACE_SECONDS = 1.0
MAX_KEYS = 8_192       # at most two keys per record; about 5 MiB when full
MAX_SIGHTINGS = 1_024  # unpaired sightings kept per key and path
DIRECT_SOURCES = frozenset({"langchain", "observe"})


class _Seen:
    __slots__ = ("at", "alive", "stream")

    def __init__(self, at: float, stream: StreamKey) -> None:
        self.at = at
        self.alive = True        # False once it absorbed another path's sighting
        self.stream = stream     # where the kept record went


class AnswerLedger:
    def __init__(self, max_streams: int = 200, *, ttl: float = TTL_SECONDS,
                 grace: float = GRACE_SECONDS, max_keys: int = MAX_KEYS) -> None:
        self._ttl, self._grace, self._max_keys = ttl, grace, max_keys
        self._max_streams = max_streams
        # key -> (last written, {(source, has text): sightings not yet paired, oldest first})
        self._seen: OrderedDict[Any, list[Any]] = OrderedDict()   # [last written, {slot: [_Seen]}]
        self._next_expiry = float("-inf")
        self._waiting: deque[tuple[float, AnswerRecord]] = deque()
        self._direct_until = float("-inf")
        self.intermediate: dict[StreamKey, int] = {}
        self.duplicates = 0
        # (references of a dropped second sighting, the kept record's stream): feedback that
        # names the dropped copy belongs where the answer was counted
        self.repointed: list[tuple[tuple[str, ...], StreamKey]] = []

    def expect_direct(self, now: float) -> None:
        """A direct path (the LangChain handler) is capturing into this pipeline: span paths'
        records wait their grace from now on (host thread: one float written)."""
        self._direct_until = now + self._ttl

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
            if direct and rec.source and self._sighting(rec, now, register=False) is None:
                self._waiting.append((now + self._grace, rec))
            else:
                self._take(rec, now, out)
        return out

    def pass_on(self, records: list[AnswerRecord], now: float,
                flush: bool = False) -> list[AnswerRecord]:
        """``admit`` then ``release``: what the worker analyses now."""
        out = self.admit(records, now) if records else []
        return out + self.release(now, everything=flush) if self._waiting else out

    def release(self, now: float, everything: bool = False) -> list[AnswerRecord]:
        """Records whose grace is over (all of them with ``everything``: a flush)."""
        out: list[AnswerRecord] = []
        waiting = self._waiting
        while waiting and (everything or waiting[0][0] <= now):
            self._take(waiting.popleft()[1], now, out)
        return out

    def _take(self, rec: AnswerRecord, now: float, out: list[AnswerRecord]) -> None:
        first = self._sighting(rec, now, register=True) if rec.source else None
        if first is not None:
            self.duplicates += 1
            if rec.refs and first.stream != rec.stream:
                self.repointed.append((rec.refs, first.stream))
            return
        if rec.intermediate:
            self._count_intermediate(rec.stream)
        else:
            out.append(rec)

    def _sighting(self, rec: AnswerRecord, now: float, register: bool) -> _Seen | None:
        """The first sighting when ``rec`` is a second one (paired with it when ``register``);
        else None, and with ``register`` it is written down under its keys."""
        self._expire(now)
        source, has_text = rec.source, rec.answer is not None
        tkey = hash(rec.answer) if rec.answer is not None else None   # in-process only
        ukey = None
        if not rec.tokens_estimated and rec.prompt_tokens is not None \
                and rec.completion_tokens is not None:
            ukey = (rec.prompt_tokens, rec.completion_tokens)   # a tuple: never a text's int
        limit = now - self._ttl
        first = self._pair(tkey, source, None, limit, register) if tkey is not None else None
        if first is None and ukey is not None:
            first = self._pair(ukey, source, has_text, limit, register)
        if first is not None:
            return first
        if register:
            seen = _Seen(now, rec.stream)
            for key in (tkey, ukey):
                if key is not None:
                    self._add(key, (source, has_text), seen, now)
        return None

    def _pair(self, key: Any, source: str, has_text: bool | None, limit: float,
              take: bool) -> _Seen | None:
        """An unpaired sighting of another path under ``key`` (for a usage key, one of the
        two without text), or None. ``take``: pair it."""
        entry = self._seen.get(key)
        if entry is None:
            return None
        for (other, other_text), sightings in entry[1].items():
            if other == source or (has_text and other_text):
                continue
            stale = 0
            while stale < len(sightings) and (not sightings[stale].alive or
                                              sightings[stale].at < limit):
                stale += 1
            if stale:
                del sightings[:stale]
            if sightings:
                first = sightings[0]
                if take:
                    sightings.pop(0).alive = False
                return first
        return None

    def _add(self, key: Any, slot: tuple[str, bool], seen: _Seen, now: float) -> None:
        entries = self._seen
        entry = entries.get(key)
        if entry is None:
            entries[key] = entry = [now, {slot: [seen]}]
            if len(entries) > self._max_keys:
                entries.popitem(last=False)
            return
        entry[0] = now
        entries.move_to_end(key)             # last written goes last: oldest first out
        sightings = entry[1].get(slot)
        if sightings is None:
            entry[1][slot] = [seen]
            return
        sightings.append(seen)
        if len(sightings) > MAX_SIGHTINGS:
            del sightings[0]

    def _expire(self, now: float) -> None:
        if now < self._next_expiry:
            return
        self._next_expiry = now + 1.0
        seen, limit = self._seen, now - self._ttl
        while seen and next(iter(seen.values()))[0] < limit:
            seen.popitem(last=False)

    def _count_intermediate(self, key: StreamKey) -> None:
        counts = self.intermediate
        if OTHER_RELEASE in key:   # a user's own "__other__" is not the overflow bucket
            key = StreamKey(*(user_label_value(v) for v in key))
        if key not in counts and len(counts) >= self._max_streams:
            key = StreamKey(key.service, OTHER_RELEASE, key.cohort)
            if key not in counts and len(counts) >= 2 * self._max_streams:
                key = StreamKey(OTHER_RELEASE, OTHER_RELEASE, OTHER_RELEASE)
        counts[key] = counts.get(key, 0) + 1
