"""The merged view of a multiprocess directory: a snapshot source for ``CollapseCollector``.

``snapshot()`` reads every state file of the directory (the archive first, then one file per
worker) and merges them stream by stream into one ``AggregatorSnapshot``: counters and
histograms add; window gauges are recomputed from the merged sketches (``merge``). A merged
snapshot is reused for ``cache_seconds``, so scrapes stay cheap. Memory stays bounded: files
are scanned one stream at a time, a stream's sketches are parsed only when its window is
recomputed, and only one merged stream is held at once. A window is recomputed when the
bytes of the stream changed in some file (at most every ``refresh_seconds``, within a time
budget per scrape, as the single-process aggregator does) or when a pane is due to slide.

A file that is corrupt, unreadable or written under another configuration (its fingerprint
differs from this reader's: ``Aggregator.fingerprint()``) is skipped, logged once per reason
and counted (``collapse_multiprocess_files_skipped_total{reason}``); a scrape never fails
because of a file.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO, NamedTuple

from .. import forksafe
from ..config import CollapseConfig
from ..engine.aggregator import Aggregator
from ..engine.outcome_stats import OutcomeTotals
from ..engine.snapshot import AggregatorSnapshot, HistogramSnapshot, StreamSnapshot, WindowSignals
from ..engine.stream import StreamState
from ..engine.window import compute_window
from ..records import StreamKey
from ..state.file import CorruptState
from .files import FileIndex, StreamEntry, read_blob, scan
from .merge import merge_streams
from .paths import archive_path, worker_files

_log = logging.getLogger(__name__)
_EMPTY = WindowSignals()
MERGE_BUDGET_SECONDS = 1.0   # per scrape, for recomputing windows (refresh_seconds > 0)


class MergedStats(NamedTuple):
    """The capture pipelines' health, summed over the files (read like PipelineStats)."""

    dropped: dict[str, int]
    queue_depth: int
    processing_seconds: float
    records_processed: int
    outcomes_unmatched: dict[str, int] = {}
    references: int = 0


@dataclass
class _Window:
    signature: tuple
    computed_at: float    # monotonic
    slide_at: float       # wall clock: when a pane of this stream is due to slide
    window: WindowSignals


@dataclass
class _Open:
    index: FileIndex
    file: BinaryIO
    archive: bool


class MultiprocessSource:
    """Merges ``directory``'s state files. ``config`` (default: from the environment) must
    match the workers' (files written under another fingerprint are skipped);
    ``aggregator``: a template whose fingerprint to accept, when the workers build their
    aggregators with a custom embedder."""

    def __init__(self, directory: str | os.PathLike[str], config: CollapseConfig | None = None,
                 *, aggregator: Aggregator | None = None, cache_seconds: float = 1.0) -> None:
        self.directory = Path(directory)
        self.config = config or CollapseConfig.resolve()
        template = aggregator or Aggregator(self.config)
        self._fingerprint = template.fingerprint()
        self._minhasher = template._minhasher
        self.cache_seconds = cache_seconds
        self._lock = forksafe.Lock()
        self._indexes: dict[Path, FileIndex] = {}
        self._windows: dict[StreamKey, _Window] = {}
        self._skip_counted: set[tuple] = set()
        self._logged: set[str] = set()
        self._snapshot: AggregatorSnapshot | None = None
        self._stats = MergedStats({}, 0, 0.0, 0)
        self._taken = float("-inf")
        self.skipped: dict[str, int] = {}
        self.files: dict[str, int] = {"worker": 0, "archive": 0}
        self.merge_seconds = 0.0
        self.merges = 0

    # -- the snapshot source API --
    def snapshot(self) -> AggregatorSnapshot:
        with self._lock:
            now = time.monotonic()
            if self._snapshot is None or now - self._taken >= self.cache_seconds:
                start = time.perf_counter()
                try:
                    self._merge()
                except Exception as exc:   # never fail a scrape: keep the last good view
                    self._log_once("merge", f"merging {self.directory} failed "
                                   f"({type(exc).__name__}); showing the last merge")
                    if self._snapshot is None:
                        self._snapshot = AggregatorSnapshot((), 0, time.time())
                self.merge_seconds = time.perf_counter() - start
                self.merges += 1
                self._taken = time.monotonic()
            snapshot = self._snapshot
            assert snapshot is not None   # a merge sets it, a failed first one to empty
            return snapshot

    def stats(self) -> MergedStats:
        self.snapshot()
        return self._stats

    # -- reading the directory --
    def _open_all(self) -> list[_Open] | None:
        """Every usable file, opened: the archive first, then the workers' files. None when
        a listed worker file vanished before it could be opened (``mark_process_dead`` moved
        it into the archive meanwhile): the caller lists again, so it is counted once."""
        opened: list[_Open] = []
        paths = [(archive_path(self.directory), True)] + \
            [(p, False) for p in worker_files(self.directory)]
        for path, is_archive in paths:
            try:
                f = open(path, "rb")  # noqa: SIM115 - closed by the caller
            except FileNotFoundError:
                if is_archive:
                    continue
                for o in opened:
                    o.file.close()
                return None
            except OSError as exc:
                self._skip(("unreadable", str(path)), "unreadable",
                           f"{path.name} cannot be read ({exc.strerror or exc})")
                continue
            index = self._index(path, f)
            if index is None:
                f.close()
                continue
            opened.append(_Open(index, f, is_archive))
        return opened

    def _index(self, path: Path, f: BinaryIO) -> FileIndex | None:
        ident: tuple = ()
        try:
            st = os.fstat(f.fileno())
            ident = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
            index = self._indexes.get(path)
            if index is None or index.ident != ident:
                index = scan(f, path)
                self._indexes[path] = index
        except (CorruptState, OSError) as exc:
            self._skip(("corrupt", str(path), ident), "corrupt",
                       f"{path.name} is not a complete state file ({exc})")
            return None
        if index.fingerprint != self._fingerprint:
            self._skip(("incompatible", str(path), ident), "incompatible",
                       f"{path.name} was written under another configuration")
            return None
        return index

    def _skip(self, ident: tuple, reason: str, message: str) -> None:
        if ident not in self._skip_counted:   # each version of a file counts once
            self._skip_counted.add(ident)
            if len(self._skip_counted) > 4096:
                self._skip_counted = {ident}
            self.skipped[reason] = self.skipped.get(reason, 0) + 1
        self._log_once(reason, f"multiprocess state skipped: {message}")

    def _log_once(self, kind: str, message: str) -> None:
        if kind not in self._logged:
            self._logged.add(kind)
            _log.warning("collapse-otel: %s (logged once)", message)

    def _merge(self) -> None:
        opened = None
        for _ in range(5):
            opened = self._open_all()
            if opened is not None:
                break
        if opened is None:   # never a partial view: counters would seem to drop
            raise RuntimeError("the directory kept changing while it was read")
        try:
            absorbed: set[str] = set()
            for o in opened:
                if o.archive:
                    absorbed.update(map(str, o.index.about.get("absorbed", ())))
            self._build([o for o in opened if o.archive or o.index.token not in absorbed])
        finally:
            for o in opened:
                o.file.close()
            present = {o.index.path for o in opened}
            self._indexes = {p: i for p, i in self._indexes.items() if p in present}

    def _build(self, opened: list[_Open]) -> None:
        by_key: dict[StreamKey, list[tuple[StreamEntry, _Open]]] = {}
        for o in opened:
            for entry in o.index.entries:
                by_key.setdefault(entry.key, []).append((entry, o))
        limited = {tuple(k) for o in opened for k in o.index.about.get("limited", ())}
        windows = self._windows_for(by_key)
        streams = []
        for key in sorted(by_key):
            streams.append(_stream_snapshot(key, [e for e, _ in by_key[key]],
                                            windows.get(key, _EMPTY), key in limited,
                                            self.config.max_evaluators))
        self._windows = {k: w for k, w in self._windows.items() if k in by_key}
        self.files = {"worker": sum(not o.archive for o in opened),
                      "archive": sum(o.archive for o in opened)}
        self._snapshot, self._stats = _health(opened, tuple(streams))

    def _windows_for(self, by_key: dict) -> dict[StreamKey, WindowSignals]:
        """Cached windows where nothing changed; recompute the others, new streams first,
        then the longest unrefreshed, within the budget (none when refresh_seconds is 0)."""
        refresh = self.config.refresh_seconds
        mono, wall = time.monotonic(), time.time()
        out: dict[StreamKey, WindowSignals] = {}
        todo = []
        for key, parts in by_key.items():
            signature = tuple(sorted((o.index.token or str(o.index.path), e.digest)
                                     for e, o in parts))
            cached = self._windows.get(key)
            if cached is not None:
                out[key] = cached.window
                fresh = cached.signature == signature and wall < cached.slide_at
                if fresh or (refresh > 0 and mono - cached.computed_at < refresh):
                    continue
            todo.append((cached.computed_at if cached else float("-inf"), key, signature))
        todo.sort(key=lambda t: t[0])
        deadline = mono + MERGE_BUDGET_SECONDS if refresh > 0 else float("inf")
        for done, (_, key, signature) in enumerate(todo):
            if done and time.monotonic() > deadline:
                break
            try:
                out[key] = self._recompute(key, by_key[key], signature)
            except Exception as exc:   # one stream's bytes: skip its window this time
                self._log_once(f"window:{type(exc).__name__}",
                               f"a merged window could not be computed ({type(exc).__name__})")
        return out

    def _recompute(self, key: StreamKey, parts: list, signature: tuple) -> WindowSignals:
        cfg = self.config
        states = [StreamState.from_bytes(read_blob(o.file, e),
                                         threshold=cfg.near_duplicate_threshold,
                                         minhasher=self._minhasher, sample_size=cfg.sample_size)
                  for e, o in parts]
        now = time.time()
        merged = merge_streams(states, threshold=cfg.near_duplicate_threshold,
                               minhasher=self._minhasher, sample_size=cfg.sample_size, now=now,
                               max_evaluators=cfg.max_evaluators)
        del states
        slide_at = merged.current.start + merged.pane_seconds
        window = compute_window(merged.window_inputs())
        self._windows[key] = _Window(signature, time.monotonic(), slide_at, window)
        return window


def _stream_snapshot(key: StreamKey, entries: list[StreamEntry], window: WindowSignals,
                     limited: bool, max_evaluators: int = 32) -> StreamSnapshot:
    counts = {name: sum(e.counts.get(name, 0) for e in entries) for name in entries[0].counts}
    outcomes = OutcomeTotals()
    for e in entries:
        outcomes.merge(e.outcomes, max_evaluators)
    feedback, feedback_scores, evaluations, scores = outcomes.exported()
    turns, loops, lengths = outcomes.loops_exported()
    prompt = [sum(col) for col in zip(*(e.prompt_hist for e in entries), strict=True)]
    completion = [sum(col) for col in zip(*(e.completion_hist for e in entries), strict=True)]
    return StreamSnapshot(
        key=key, answers_total=counts["answers"],
        answers_without_text_total=counts["without_text"],
        answers_truncated_total=counts["truncated"],
        duplicate_answers_total=MappingProxyType({"exact": counts["exact"],
                                                  "near": counts["near"]}),
        answers_with_question_total=counts["with_question"],
        cross_question_duplicates_total=MappingProxyType({"exact": counts["cross_exact"],
                                                          "near": counts["cross_near"]}),
        tokens_total=MappingProxyType({"prompt": counts["prompt"],
                                       "completion": counts["completion"]}),
        tokens_estimated_total=MappingProxyType({"prompt": counts["prompt_estimated"],
                                                 "completion": counts["completion_estimated"]}),
        prompt_tokens=HistogramSnapshot(tuple(prompt),
                                        float(counts["prompt"] + counts["prompt_estimated"]),
                                        sum(prompt)),
        completion_tokens=HistogramSnapshot(
            tuple(completion), float(counts["completion"] + counts["completion_estimated"]),
            sum(completion)),
        first_seen=min(e.first_seen for e in entries), window=window,
        window_memory_limited=limited, feedback_total=feedback, feedback_scores=feedback_scores,
        evaluations_total=evaluations, evaluation_scores=scores, agent_turns_total=turns,
        agent_loops_total=loops, agent_loop_length=lengths)


def _health(opened: list[_Open], streams: tuple) -> tuple[AggregatorSnapshot, MergedStats]:
    """Health summed over the files: counters over all of them (the archive keeps those of
    dead workers), gauges (queue depth, memory held) over the workers' files only."""
    dropped: dict[str, int] = {}
    rebuilt: dict[str, int] = {}
    queue = processed = retained = budget = trims = folded = references = 0
    seconds = 0.0
    unmatched: dict[str, int] = {}
    for o in opened:
        about = o.index.about
        stats, memory = about.get("stats", {}), about.get("memory", {})
        for reason, n in stats.get("dropped", {}).items():
            dropped[reason] = dropped.get(reason, 0) + int(n)
        for part, n in about.get("rebuilt", {}).items():
            rebuilt[part] = rebuilt.get(part, 0) + int(n)
        processed += int(stats.get("records_processed", 0))
        for kind, n in stats.get("outcomes_unmatched", {}).items():
            unmatched[kind] = unmatched.get(kind, 0) + int(n)
        seconds += float(stats.get("processing_seconds", 0.0))
        trims += int(memory.get("trims", 0))
        folded += o.index.folded
        if not o.archive:
            queue += int(stats.get("queue_depth", 0))
            references += int(stats.get("references", 0))
            retained += int(memory.get("retained", 0))
            budget += int(memory.get("budget", 0))
    snapshot = AggregatorSnapshot(streams, folded, time.time(), memory_retained_bytes=retained,
                                  memory_budget_bytes=budget, memory_trims_total=trims,
                                  state_rebuilt=MappingProxyType(rebuilt))
    return snapshot, MergedStats(dropped, queue, seconds, processed, unmatched, references)

