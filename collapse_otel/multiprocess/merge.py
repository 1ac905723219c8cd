"""One stream's state from several processes merged into one: what a single process that had
seen every process's answers would hold, as far as the sketches allow.

- Counters, token histograms and feedback / evaluation totals add (exact; evaluators beyond
  ``max_evaluators`` fold into ``__other__`` as in one process).
- Window panes merge pane by pane (the processes' older panes into one, their current panes
  into another), each in order of pane start:
  - answer counts and feedback / evaluation counts add, and the seq-rep and completion-token moments add (exact, up to the
    order of float additions);
  - reservoir samples merge (``ReservoirSample.merge``: exact while every process's pane
    still holds every answer it saw, else a uniform sample of the union);
  - duplicate indexes are *replayed*: each process's answers, in its own order, are checked
    against everything merged before them, with the stored shingle sketches and LSH band
    keys, and added. Exact duplicates across processes are therefore found (the count of
    exact duplicates of a set does not depend on the order); a near-duplicate verdict can
    depend on the order in which two similar answers are met, so near counts are
    approximate (measured in tests/integration/test_multiprocess_workers.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from ..engine.pane import Pane, PaneParams
from ..engine.stream import StreamState
from ..signals.duplicates import DuplicateIndex, band_keys_for, check_and_add_many
from ..signals.minhash import MinHasher

_MIX = 0x9E3779B97F4A7C15
_MASK = 2**64 - 1


def replay(source: DuplicateIndex, into: DuplicateIndex, older: DuplicateIndex | None) -> None:
    """Check and add ``source``'s answers, in order, to ``into`` (``older``: the window's
    older pane, checked too), with the band keys ``source`` stored."""
    stored = source._keys_by_answer()
    keys: list[list[int] | None] = []
    for i, sh in enumerate(source.shingles):
        if sh is None or not len(sh):
            keys.append(None)
        else:
            found = stored.get(i)
            keys.append(found if found is not None else band_keys_for(into.minhasher, sh))
    panes = [into] if older is None else [older, into]
    check_and_add_many(panes, list(source.text_hashes), list(source.shingles), keys,
                       into.threshold, source.question_hashes.tolist())


def merge_panes(panes: Sequence[Pane], older: Pane | None, *, threshold: float,
                minhasher: MinHasher, sample_size: int) -> Pane:
    """One pane holding the answers of ``panes`` (at least one), oldest pane first."""
    ordered = sorted(panes, key=lambda p: p.start)
    seed = (ordered[0].sample.seed ^ _MIX) & _MASK
    out = Pane(ordered[0].start, threshold=threshold, minhasher=minhasher,
               sample_size=sample_size, seed=seed)
    for pane in ordered:
        out.answers += pane.answers
        out.answers_with_text += pane.answers_with_text
        out.seq_rep.merge(pane.seq_rep)
        out.completion.merge(pane.completion)
        out.sample.merge(pane.sample)
        out.outcomes.merge(pane.outcomes)
        replay(pane.duplicates, out.duplicates, older.duplicates if older else None)
    return out


def merge_streams(states: Sequence[StreamState], *, threshold: float, minhasher: MinHasher,
                  sample_size: int, now: float | None = None,
                  max_evaluators: int = 32) -> StreamState:
    """The states of one stream (one per process, at least one) merged into a new state.
    Each is first slid to ``now`` (wall clock; None: not slid), as its process would have:
    the window of a process that died or went idle empties with time."""
    if not states:
        raise ValueError("nothing to merge")
    if now is not None:
        for state in states:
            state.advance_clock(now)
    first = states[0]
    out = StreamState(first.key, min(s.first_seen for s in states),
                      pane_answers=first.pane_answers, pane_seconds=first.pane_seconds,
                      threshold=threshold, minhasher=minhasher, sample_size=sample_size)
    for state in states:
        for name, value in state.counts.items():
            out.counts[name] = out.counts.get(name, 0) + value
        for mine, theirs in ((out.prompt_hist, state.prompt_hist),
                             (out.completion_hist, state.completion_hist)):
            for i, value in enumerate(theirs):
                mine[i] += value
        out.outcomes.merge(state.outcomes, max_evaluators)
        out.last_seen = max(out.last_seen, state.last_seen)
        out.memory_limited = out.memory_limited or state.memory_limited
    args = PaneParams(threshold=threshold, minhasher=minhasher, sample_size=sample_size)
    previous = [s.previous for s in states if s.previous is not None]
    out.previous = merge_panes(previous, None, **args) if previous else None
    out.current = merge_panes([s.current for s in states], out.previous, **args)
    out._panes_made = max(s._panes_made for s in states)
    return out


def cap_window(state: StreamState, now: float | None = None) -> None:
    """Rotate a merged state whose current pane outgrew its size, as its process would have
    (the archive of dead workers stays within about two panes of answers this way)."""
    if state.current.answers >= state.pane_answers:
        state._advance(time.time() if now is None else now)
