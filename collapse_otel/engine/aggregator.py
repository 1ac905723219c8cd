"""The streaming aggregator: per-stream windows of every collapse signal, bounded in memory.

Records are analysed per batch outside the lock (collapse_otel.engine.analysis), then applied to
their stream under the lock. Streams beyond ``max_streams`` fold into release='__other__'.
Window gauges are computed on demand from the sketches and cached per stream, so a scrape
costs little when nothing changed.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Sequence
from types import MappingProxyType
from typing import NamedTuple

from .. import forksafe
from ..config import CollapseConfig
from ..records import OTHER_RELEASE, AnswerRecord, StreamKey
from ..records.outcomes import Outcome
from ..signals.embedders import embedder_name, make_embedder
from ..signals.embedding import Embedder
from ..signals.minhash import MinHasher
from ..state import frames as state_frames
from ..state.answer_hashes import writer_for
from ..text.entities import EntityExtractor, RuleBasedEntityExtractor
from ..text.hashing import TokenHasher
from ..text.labels import user_label_value
from .analysis import BatchAnalyzer, PreparedAnswer, chunks
from .budget import MemoryBudget
from .snapshot import AggregatorSnapshot, WindowSignals
from .state_compat import fingerprint, reconcile
from .stream import StreamState
from .window import WindowInputs, compute_window

__all__ = ["Aggregator", "AnswerResult", "sanitize_label"]

_log = logging.getLogger(__name__)
OVERFLOW_STREAMS = 16
ANALYSER_BYTES = 4 << 20  # held whatever the streams: the analyser's caches (context ids)
SNAPSHOT_REFRESH_BUDGET = 0.25  # seconds a snapshot may spend recomputing stale streams
_EMPTY_WINDOW = WindowSignals()  # (service, '__other__', cohort) streams allowed past the cap


class AnswerResult(NamedTuple):
    """What the aggregator concluded about one answer (a named tuple: one is made per
    answer, three times faster than a frozen dataclass)."""

    stream: StreamKey
    has_text: bool
    exact_duplicate: bool
    near_duplicate: bool
    max_similarity: float
    seq_rep_4: float | None
    entity_count: int
    truncated: bool


def sanitize_label(value: object, default: str) -> str:
    """A label value safe to export (valid UTF-8, at most 128 characters; a repaired value
    keeps a hash of the original so two long names never merge), never empty, never the
    overflow label ``__other__`` (escaped: see ``labels.user_label_value``)."""
    text = user_label_value(value)
    return text if text.strip() else user_label_value(default)


class Aggregator:
    """Per-(service, release, cohort) collapse signals over sliding windows."""

    def __init__(self, config: CollapseConfig | None = None, *,
                 entity_extractor: EntityExtractor | None = None,
                 embedder: Embedder | None = None) -> None:
        self.config = config or CollapseConfig.resolve()
        cfg = self.config
        self._hasher = TokenHasher()
        self._minhasher = MinHasher()
        self.embedder = embedder or make_embedder(cfg.embedder, cfg.embedding_dim, self._hasher)
        self._analyzer = BatchAnalyzer(
            max_answer_chars=cfg.max_answer_chars,
            entity_extractor=entity_extractor or RuleBasedEntityExtractor(),
            embedder=self.embedder, minhasher=self._minhasher, hasher=self._hasher)
        self._lock = forksafe.RLock()
        self._streams: dict[StreamKey, StreamState] = {}
        self.streams_folded_total = 0
        self.errors_total = 0
        self._errors_logged: set[str] = set()
        self._key_cache: dict[tuple[object, ...], StreamKey] = {}
        self._last_tick = float("-inf")
        self.streams_evicted_total = 0
        self.memory: MemoryBudget[StreamKey] = MemoryBudget(cfg.memory_budget_mb << 20,
                                                           ANALYSER_BYTES)
        self.state_rebuilt: dict[str, int] = {}   # parts a restore rebuilt (config changed)
        self.answer_hashes = writer_for(cfg)   # answer_hash_file: None unless asked for

    # -- writing --
    def observe(self, record: AnswerRecord) -> AnswerResult | None:
        """Analyse one answer; None if its analysis failed (counted in ``errors_total``)."""
        return self.observe_batch([record])[0]

    def observe_batch(self, records: Sequence[AnswerRecord]) -> list[AnswerResult | None]:
        for rec in records:
            if not isinstance(rec, AnswerRecord):
                raise TypeError(f"expected AnswerRecord, got {type(rec).__name__}")
        results: list[AnswerResult | None] = []
        for chunk in chunks(records):
            prepared = self._prepare(chunk)
            if self.answer_hashes is not None:   # never raises: counts its own failures
                self.answer_hashes.write_prepared(prepared)
            with self._lock:
                results += self._apply_prepared(prepared)
        return results

    def prepare(self, records: Sequence[AnswerRecord]) -> list[PreparedAnswer | None]:
        """The costly half of ``observe_batch``: analyse records without applying them
        (None: a record whose analysis failed, counted). Another process may do it."""
        return self._prepare(records)

    def observe_prepared(self, prepared: Sequence[PreparedAnswer | None]) -> None:
        """The other half: apply analysed answers in order, as ``observe_batch`` would have
        applied them (a partition analysed them; the state is the same)."""
        with self._lock:
            self._apply_prepared(list(prepared))

    def observe_outcomes(self, events: Sequence[tuple[StreamKey, Outcome]]) -> int:
        """Count feedback and evaluation results, each in the stream given with it (labels
        sanitised and folded by the stream cap as an answer's are); how many were counted."""
        done = 0
        with self._lock:
            touched: set[StreamKey] = set()
            for raw, event in events:
                try:
                    key = self._key_of(tuple(raw))
                    state = self._stream_for(key, event.timestamp)
                    state.apply_outcomes([event], self.config.max_evaluators)
                except Exception as exc:   # this event only
                    self._record_error(exc)
                    continue
                touched.add(state.key)
                done += 1
            self.memory.update(self._streams, touched)
        return done

    def _apply_prepared(self, prepared: list[PreparedAnswer | None]) -> list[AnswerResult | None]:
        """Apply analysed answers in order (under the lock); runs of consecutive answers of
        one stream are applied together."""
        results: list[AnswerResult | None] = [None] * len(prepared)
        run: list[int] = []
        run_key: StreamKey | None = None
        state: StreamState | None = None
        folded = False
        touched: set[StreamKey] = set()
        for i, p in enumerate(prepared):
            if p is None:
                continue
            try:
                key = self._key_for(p.record)
            except Exception as exc:  # a label that cannot even be read: this record only
                self._record_error(exc)
                continue
            if key != run_key or folded:  # a folded record looks again: a place may free up
                if run:  # apply before looking up the next stream, which may evict idle ones
                    assert state is not None   # a run is only started once a stream is found
                    self._apply_run(state, prepared, run, results)
                    run = []
                state, run_key = self._stream_for(key, p.timestamp), key
                folded = state.key != key
                touched.add(state.key)
            run.append(i)
        if run:
            assert state is not None
            self._apply_run(state, prepared, run, results)
        self.memory.update(self._streams, touched)
        return results

    def _apply_run(self, state: StreamState, prepared: list[PreparedAnswer | None], run: list[int],
                   results: list[AnswerResult | None]) -> None:
        answers = [p for p in (prepared[i] for i in run) if p is not None]   # run: no None
        try:
            verdicts = state.apply_many(answers)
        except Exception as exc:
            # applying prepared answers fails only on a bug or MemoryError: this run's records
            # are reported as failed (results None) and the other streams' runs still apply;
            # this stream may hold part of the run, and is recomputed at its next refresh
            state.dirty = True
            self._record_error(exc)
            return
        for i, p, dup in zip(run, answers, verdicts, strict=True):
            results[i] = AnswerResult(
                state.key, p.has_text, bool(dup and dup.exact), bool(dup and dup.near),
                dup.max_similarity if dup else 0.0, p.seq_rep, len(p.entity_hashes or ()),
                p.truncated)

    def _prepare(self, records: Sequence[AnswerRecord]) -> list[PreparedAnswer | None]:
        try:
            return list(self._analyzer.prepare(records))
        except Exception:  # isolate the record that broke the batch
            out: list[PreparedAnswer | None] = []
            for rec in records:
                try:
                    out.extend(self._analyzer.prepare([rec]))
                except Exception as exc:  # counted and logged once per kind, never raised
                    self._record_error(exc)
                    out.append(None)
            return out

    def _record_error(self, exc: Exception) -> None:
        self.errors_total += 1
        kind = type(exc).__name__
        if kind not in self._errors_logged:
            self._errors_logged.add(kind)
            _log.warning("collapse-otel: signal analysis failed (%s); record dropped", kind)

    def _key_for(self, rec: AnswerRecord) -> StreamKey:
        return self._key_of((rec.service, rec.release, rec.cohort))

    def _key_of(self, raw: tuple[object, ...]) -> StreamKey:
        if all(type(v) is str for v in raw):
            key = self._key_cache.get(raw)
            if key is not None:
                return key
        cfg = self.config
        key = StreamKey(sanitize_label(raw[0], cfg.service),
                        sanitize_label(raw[1], cfg.release),
                        sanitize_label(raw[2], cfg.cohort))
        if len(self._key_cache) >= 4096:
            self._key_cache.clear()
        if all(type(v) is str for v in raw):  # plain str only: their hash cannot misbehave
            self._key_cache[raw] = key
        return key

    def _stream_for(self, key: StreamKey, ts: float) -> StreamState:
        cfg = self.config
        state = self._streams.get(key)
        if state is not None:
            return state
        if len(self._streams) >= cfg.max_streams:
            self._tick()  # idle streams may free a place (the lock is re-entrant)
        if len(self._streams) >= cfg.max_streams:
            self.streams_folded_total += 1
            key = StreamKey(key.service, OTHER_RELEASE, key.cohort)
            state = self._streams.get(key)
            if state is not None:
                return state
            if len(self._streams) >= cfg.max_streams + OVERFLOW_STREAMS:
                key = StreamKey(OTHER_RELEASE, OTHER_RELEASE, OTHER_RELEASE)
                state = self._streams.get(key)
                if state is not None:
                    return state
        state = self._new_stream(key, ts)
        self._streams[key] = state
        return state

    def _new_stream(self, key: StreamKey, first_seen: float) -> StreamState:
        cfg = self.config
        state = StreamState(
            key, first_seen, pane_answers=max(1, (cfg.window_answers + 1) // 2),
            pane_seconds=cfg.window_seconds / 2, threshold=cfg.near_duplicate_threshold,
            minhasher=self._minhasher, sample_size=cfg.sample_size)
        state.pane_bytes = self.memory.cap / 2
        return state

    # -- reading --
    def snapshot(self, max_age: float | None = None) -> AggregatorSnapshot:
        """An immutable view of every stream.

        Window gauges are cached per stream and kept fresh by the capture worker
        (``refresh``), so a scrape is cheap. Without a worker, a snapshot refreshes stale
        streams itself (changed and older than ``refresh_seconds``), oldest first, for at most
        ``SNAPSHOT_REFRESH_BUDGET`` seconds, outside the lock; a stream not computed yet shows
        its counters and an empty window. ``max_age=0`` recomputes every changed stream
        (tests, the demo's final table), as does ``refresh_seconds=0`` in the config.
        """
        if max_age is None and self.config.refresh_seconds > 0:
            age = self.config.refresh_seconds
            self._recompute(lambda s, now: s.cached is None or
                            (s.dirty and now - s.computed_at >= age), SNAPSHOT_REFRESH_BUDGET)
        else:  # an explicit max_age, or refresh_seconds=0 (always fresh): no budget
            max_age = max_age or 0.0
            self._recompute(lambda s, now: s.cached is None or
                            (s.dirty and now - s.computed_at >= max_age))
        with self._lock:
            streams = tuple(s.snapshot(s.cached or _EMPTY_WINDOW) for s in self._streams.values())
            return AggregatorSnapshot(streams, self.streams_folded_total, time.time(),
                                      memory_retained_bytes=self.memory.retained,
                                      memory_budget_bytes=self.memory.budget,
                                      memory_trims_total=self.memory.trims_total,
                                      state_rebuilt=MappingProxyType(dict(self.state_rebuilt)))

    def refresh(self, budget_seconds: float | None = 0.05, max_age: float | None = None) -> int:
        """Recompute stale window gauges (changed and older than ``max_age``, default the
        config's ``refresh_seconds``), oldest first, for about ``budget_seconds`` (at least one
        stream; None: all). Called by the capture worker when idle and by ``flush``."""
        age = self.config.refresh_seconds if max_age is None else max_age
        return self._recompute(lambda s, now: s.cached is None or
                               (s.dirty and now - s.computed_at >= age), budget_seconds)

    def _recompute(self, stale: Callable[[StreamState, float], bool],
                   budget: float | None = None) -> int:
        start = time.monotonic()
        done = 0
        self._tick()
        while budget is None or done == 0 or time.monotonic() - start < budget:
            now = time.monotonic()
            with self._lock:
                todo = [s for s in self._streams.values()
                        if stale(s, now) and s.computed_at < start]
                if not todo:
                    return done
                state = min(todo, key=lambda s: s.computed_at)
                version, inputs = state.version, state.window_inputs()
            window = compute_window(inputs)  # the costly part, without the lock
            with self._lock:
                state.cached, state.computed_at = window, max(now, start)
                if state.version == version:
                    state.dirty = False
            done += 1
        return done

    def _tick(self) -> None:
        """Slide idle streams' windows with the clock and drop long-idle streams (at most
        once a second: it visits every stream)."""
        now = time.time()
        if now - self._last_tick < 1.0:
            return
        self._last_tick = now
        idle = self.config.stream_idle_seconds
        with self._lock:
            for key, state in list(self._streams.items()):
                if now - state.last_seen > idle:
                    del self._streams[key]
                    self.streams_evicted_total += 1
                else:
                    state.advance_clock(now)
            self.memory.update(self._streams)

    def stream_keys(self) -> list[StreamKey]:
        with self._lock:
            return list(self._streams)

    def window_inputs(self, key: StreamKey) -> WindowInputs | None:
        """The merged window sketches of one stream (what ``compare`` judges), or None."""
        with self._lock:
            state = self._streams.get(key)
            return state.window_inputs(embedder_name(self.embedder)) if state else None

    def completion_histogram(self, key: StreamKey) -> tuple[int, ...] | None:
        """Completion tokens per TOKEN_BUCKETS bucket since start (compare's length plot)."""
        with self._lock:
            state = self._streams.get(key)
            return tuple(state.completion_hist) if state is not None else None

    # -- persistence --
    def write_state(self, write: Callable[[bytes], object]) -> None:
        """Write the state of every stream through ``write`` (the configuration itself is not
        stored), one stream at a time: the lock is held while one stream is encoded, so
        analysis and scrapes go on between streams, and no copy of the whole state is built."""
        with self._lock:
            keys, folded = list(self._streams), self.streams_folded_total
        write(state_frames.header(folded, self.fingerprint()))
        for key in keys:
            with self._lock:
                state = self._streams.get(key)
                blob = state.to_bytes() if state is not None else None
            if blob is not None:
                write(state_frames.frame(blob))
        write(state_frames.END)

    def to_bytes(self) -> bytes:
        """``write_state`` into one bytes object."""
        parts: list[bytes] = []
        self.write_state(parts.append)
        return b"".join(parts)

    def read_state(self, read: Callable[[int], bytes],
                   check: Callable[[], None] | None = None) -> None:
        """Replace this aggregator's streams with those ``write_state`` wrote, read through
        ``read(n)``. ``check`` runs after the last stream and before anything is replaced (a
        checksum). Raises ValueError on corrupt or foreign bytes, leaving the state untouched."""
        folded, stored, frames = state_frames.read_frames(read)
        streams: dict[StreamKey, StreamState] = {}
        for blob in frames:
            state = StreamState.from_bytes(
                blob, threshold=self.config.near_duplicate_threshold,
                minhasher=self._minhasher, sample_size=self.config.sample_size)
            streams[state.key] = state
        if check is not None:
            check()
        rebuilt = reconcile(streams.values(), stored, self.fingerprint(), self._minhasher)
        with self._lock:
            self._streams = streams
            self.streams_folded_total = folded
            for part, count in rebuilt.items():
                self.state_rebuilt[part] = self.state_rebuilt.get(part, 0) + count
            self.memory.update(streams)

    def fingerprint(self) -> dict[str, object]:
        """What this aggregator's sketches depend on (stored with the state)."""
        return fingerprint(self.config, self.embedder, self._minhasher)

    def restore(self, data: bytes) -> None:
        """``read_state`` from bytes (``to_bytes`` output); trailing bytes are corruption."""
        buf = io.BytesIO(data)

        def nothing_left() -> None:
            if buf.read(1):
                raise ValueError("trailing bytes after aggregator state")

        self.read_state(buf.read, nothing_left)

    @classmethod
    def from_bytes(cls, data: bytes, config: CollapseConfig | None = None,
                   *, entity_extractor: EntityExtractor | None = None,
                   embedder: Embedder | None = None) -> Aggregator:
        agg = cls(config, entity_extractor=entity_extractor, embedder=embedder)
        agg.restore(data)
        return agg
