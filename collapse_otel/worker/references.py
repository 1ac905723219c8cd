"""Which stream an answer went to, by its references: so feedback lands where its answer did.

The worker notes the references capture attached to each answer record (the LangChain root
run id and the LLM run id, the OTel trace id, ``gen_ai.response.id``) with the record's stream
key. A feedback or evaluation event that names one of them is counted in that stream; one that
names none the worker knows goes to its explicit labels, else its fallback labels (the span's,
or the process defaults; ``unmatched`` counts the API's events that named an unknown answer). References are kept as xxh3-64 hashes of their normalised text in
two generations of dicts: when the newer holds half of ``max_entries`` it becomes the older
and the older is forgotten, so at most ``max_entries`` are held (9.3 MiB at the peak for the
default 65,536, measured), every operation is O(1), and a reference looked up again moves
to the newer generation. Only the worker thread touches it.
"""

from __future__ import annotations

from collections.abc import Iterable

import xxhash

from ..records import AnswerRecord, StreamKey
from ..records.outcomes import Outcome


def _hash(ref: str) -> int:
    return xxhash.xxh3_64_intdigest(ref.encode("utf-8", "surrogatepass"))

MAX_KEYS = 4096   # interned stream keys (a key is shared by every reference to its stream)


class AnswerReferences:
    """Bounded map: reference hash -> stream key of the answer it names."""

    def __init__(self, max_entries: int = 65_536) -> None:
        self.max_entries = max(2, int(max_entries))
        self._newer: dict[int, StreamKey] = {}
        self._older: dict[int, StreamKey] = {}
        self._keys: dict[StreamKey, StreamKey] = {}
        self.unmatched: dict[str, int] = {}   # events with references none of which is known

    def __len__(self) -> int:
        return len(self._newer) + len(self._older)

    def note(self, records: Iterable[AnswerRecord]) -> None:
        """Remember the references of these records (the worker calls it for every record
        it takes from the queue, before the ledger keeps or drops it)."""
        for rec in records:
            refs = rec.refs
            if refs and type(refs) is tuple:
                self.point(refs, rec.stream)

    def point(self, refs: tuple[str, ...], key: StreamKey) -> None:
        """Map these references to ``key`` (also: the references of a second sighting of an
        answer to the stream its first sighting was counted in)."""
        key = self._keys.setdefault(key, key)
        if len(self._keys) > MAX_KEYS:
            self._keys.clear()
        for ref in refs:
            if type(ref) is str:
                self._put(_hash(ref), key)

    def awaits(self, event: Outcome) -> bool:
        """Does the event name an OTel trace none of whose answers is known yet? (Its answer
        may still be held until the trace's root span ends.)"""
        return any(r.startswith("trace:") for r in event.refs) and self.find(event.refs) is None

    def _put(self, h: int, key: StreamKey) -> None:
        newer = self._newer
        newer[h] = key
        if len(newer) >= self.max_entries // 2:
            self._older, self._newer = newer, {}

    def find(self, refs: Iterable[str]) -> StreamKey | None:
        """The stream of the first reference known (moved to the newer generation)."""
        for ref in refs:
            h = _hash(ref)
            key = self._newer.get(h)
            if key is not None:
                return key
            key = self._older.pop(h, None)
            if key is not None:
                self._put(h, key)
                return key
        return None

    def stream_of(self, event: Outcome, defaults: StreamKey) -> StreamKey:
        """The event's stream: explicit labels, then the answer's stream found by reference,
        then the event's fallback labels, then ``defaults`` (the configuration's)."""
        found = self.find(event.refs) if event.refs else None
        if found is None:
            if event.refs and event.fallback == (None, None, None):   # not from a span
                self.unmatched[event.kind] = self.unmatched.get(event.kind, 0) + 1
            s, r, c = event.fallback
            found = StreamKey(s or defaults.service, r or defaults.release,
                              c or defaults.cohort)
        if event.service is None and event.release is None and event.cohort is None:
            return found
        return StreamKey(event.service or found.service, event.release or found.release,
                         event.cohort or found.cohort)
