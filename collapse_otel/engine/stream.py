"""One stream's state: cumulative counters and a two-pane sliding window of sketches.

The window is the previous pane plus the current one. The current pane rotates when it holds
half the window's answers or is half the window's time span old, so the window always covers
between half and all of the configured answers / seconds, and eviction is dropping a pane:
no per-answer subtraction, and every sketch only needs ``merge``.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from ..records import StreamKey
from ..records.outcomes import LOOP, Outcome
from ..signals.accumulators import MomentStats
from ..signals.codec import Reader, Writer
from ..signals.duplicates import DuplicateResult, check_and_add_many
from ..signals.minhash import MinHasher
from ..text.hashing import text_hash
from .analysis import PreparedAnswer
from .outcome_stats import OutcomeTotals, WindowOutcomes
from .pane import PANE_BYTES, TAG_PANE, Pane, sampled
from .snapshot import TOKEN_BUCKETS, HistogramSnapshot, StreamSnapshot, WindowSignals
from .window import WindowInputs, compute_window

__all__ = ["COUNTERS", "PANE_BYTES", "TAG_PANE", "Pane", "StreamHead", "StreamState",
           "read_stream_head"]

TAG_STREAM = 41   # version 3 adds the feedback and evaluation totals
STREAM_BYTES = 4_000   # a stream's counters, histograms and key
ANSWER_BYTES = 2_048   # what an answer is assumed to add to a pane before one is measured
COUNTERS = ("answers", "without_text", "truncated", "exact", "near", "prompt", "completion",
            "prompt_estimated", "completion_estimated",   # the counters of version 1
            "with_question", "cross_exact", "cross_near")
V1_COUNTERS = 9


class StreamState:
    """Counters since start plus the window panes of one (service, release, cohort)."""

    def __init__(self, key: StreamKey, first_seen: float, *, pane_answers: int,
                 pane_seconds: float, threshold: float, minhasher: MinHasher,
                 sample_size: int) -> None:
        self.key = key
        self.first_seen = first_seen
        self.pane_answers = pane_answers
        self.pane_seconds = pane_seconds
        self._threshold, self._minhasher, self._sample_size = threshold, minhasher, sample_size
        self._seed = text_hash("\x1f".join(key))
        self._panes_made = 0
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.prompt_hist = [0] * (len(TOKEN_BUCKETS) + 1)
        self.completion_hist = [0] * (len(TOKEN_BUCKETS) + 1)
        self.outcomes = OutcomeTotals()   # feedback and evaluation results since start
        self.previous: Pane | None = None
        self.current = self._new_pane(first_seen)
        self.dirty = True
        self.version = 0          # bumped by every change, so a refresh knows what it saw
        self.pane_bytes = float("inf")  # set by the aggregator's memory budget
        self.memory_limited = False     # the budget cut this window short (exported)
        self.answer_bytes = float(ANSWER_BYTES)  # per answer in the last full pane
        self.last_seen = first_seen
        self.cached: WindowSignals | None = None
        self.computed_at = float("-inf")

    def _new_pane(self, start: float) -> Pane:
        self._panes_made += 1
        return Pane(start, seed=(self._seed + self._panes_made) & (2**64 - 1),
                    threshold=self._threshold, minhasher=self._minhasher,
                    sample_size=self._sample_size)

    def _advance(self, ts: float) -> None:
        cur = self.current
        due = cur.answers >= self.pane_answers or ts - cur.start >= self.pane_seconds
        if due or (cur.answers and cur.nbytes() >= self.pane_bytes):
            self.memory_limited = not due
            if cur.answers > 16:
                self.answer_bytes = (cur.nbytes() - cur.base_bytes) / cur.answers
            too_old = ts - cur.start >= 2 * self.pane_seconds
            self.previous = None if too_old else cur
            self.current = self._new_pane(ts)
            self.dirty = True
            self.version += 1

    def nbytes(self) -> int:
        """Approximate memory held by this stream (its panes and counters)."""
        prev = self.previous.nbytes() if self.previous is not None else 0
        return STREAM_BYTES + prev + self.current.nbytes() + self.outcomes.nbytes()

    def drop_previous(self) -> int:
        """Forget the older pane (the memory budget's last resort); bytes freed."""
        prev = self.previous
        if prev is None:
            return 0
        self.previous = None
        self.memory_limited = True
        self.dirty = True
        self.version += 1
        return prev.nbytes()

    def advance_clock(self, now: float) -> None:
        """Let time slide the window of a stream that receives no records."""
        if now - self.current.start >= self.pane_seconds:
            self._advance(now)

    def apply_many(self, answers: list[PreparedAnswer]) -> list[DuplicateResult | None]:
        """Add prepared answers in order; their duplicate verdicts (None without text).

        The answers are cut where the current pane rotates; each piece goes to its pane at
        once (duplicate checks and the reservoir still see the answers one by one, in order)."""
        results: list[DuplicateResult | None] = []
        i, n = 0, len(answers)
        while i < n:
            self._advance(answers[i].timestamp)  # rotates the pane when it is due
            pane = self.current
            end, j = min(n, i + self.pane_answers - pane.answers), i + 1
            if self.pane_bytes != float("inf"):  # cut where the pane will be full by bytes
                held = pane.nbytes()
                per_answer = (held - pane.base_bytes) / pane.answers if pane.answers > 16 else \
                    self.answer_bytes
                end = min(end, i + max(1, int((self.pane_bytes - held) // max(per_answer, 64))))
            while j < end and answers[j].timestamp - pane.start < self.pane_seconds:
                j += 1
            results += self._apply_segment(answers[i:j])
            i = j
        self.dirty = True
        self.version += 1
        return results

    def apply_outcomes(self, events: list[Outcome], max_evaluators: int) -> None:
        """Count feedback and evaluation results: in the totals, and in the current pane, so
        the window's rates slide with its answers (a result for an answer of the older pane
        lands in the current one: both are in the window)."""
        for event in events:
            self._advance(event.timestamp)
            if event.kind == LOOP:   # an agent turn: looping or not
                self.outcomes.add_turn(event.loop_length, event.loop_kinds)
                self.current.outcomes.add_turn(bool(event.loop_kinds))
            elif event.evaluator:
                self.outcomes.add_evaluation(event.evaluator, event.result, event.score,
                                             max_evaluators)
                self.current.outcomes.add(None, event.result)
            else:
                self.outcomes.add_feedback(event.rating, event.score)
                self.current.outcomes.add(event.rating, None)
            self.last_seen = max(self.last_seen, event.timestamp)
        self.dirty = True
        self.version += 1

    def _apply_segment(self, segment: list[PreparedAnswer]) -> list[DuplicateResult | None]:
        pane = self.current
        with_text = [p for p in segment if p.has_text]
        dup = pane.duplicates
        panes = [dup] if self.previous is None else [self.previous.duplicates, dup]
        questions = [p.question_hash for p in with_text]
        verdicts = check_and_add_many(
            panes, [p.text_hash for p in with_text], [p.shingles for p in with_text],
            [p.band_keys for p in with_text], dup.threshold, questions)
        pane.sample.offer(len(with_text), lambda i: sampled(with_text[i]))
        c = self.counts
        c["exact"] += sum(v.exact for v in verdicts)
        c["near"] += sum(v.near for v in verdicts)
        if any(questions):
            c["with_question"] += sum(1 for q in questions if q)
            c["cross_exact"] += sum(v.exact and v.cross_question for v in verdicts)
            c["cross_near"] += sum(v.near and v.cross_question for v in verdicts)
        self._add_segment(segment)
        if len(with_text) == len(segment):
            return list(verdicts)
        it = iter(verdicts)
        return [next(it) if p.has_text else None for p in segment]

    def _add_segment(self, segment: list[PreparedAnswer]) -> None:
        """Counters and order-free sketches of answers just added to the current pane (sums
        in answer order, so the result equals adding them one by one)."""
        if not segment:
            return
        c, pane = self.counts, self.current
        pane.answers += len(segment)
        c["answers"] += len(segment)
        self.last_seen = max(self.last_seen, max(p.timestamp for p in segment))
        estimated = [p for p in segment if p.tokens_estimated]  # usually none
        reported = [p for p in segment if not p.tokens_estimated] if estimated else segment
        for suffix, group in (("", reported), ("_estimated", estimated)):
            prompts = [p.prompt_tokens for p in group if p.prompt_tokens is not None]
            completions = [p.completion_tokens for p in group if p.completion_tokens is not None]
            for kind, values, hist in (("prompt", prompts, self.prompt_hist),
                                       ("completion", completions, self.completion_hist)):
                if values:
                    c[kind + suffix] += sum(values)
                    _count_buckets(values, hist)
        completions = [p.completion_tokens for p in segment if p.completion_tokens is not None]
        if completions:  # in answer order, as the one-by-one sums were
            pane.completion.update_many(completions)
        with_text = [p for p in segment if p.has_text]
        c["without_text"] += len(segment) - len(with_text)
        if not with_text:
            return
        pane.answers_with_text += len(with_text)
        c["truncated"] += sum(p.truncated for p in with_text)
        pane.seq_rep.update_many([p.seq_rep for p in with_text if p.seq_rep is not None])

    # -- reading --
    def window_inputs(self, embedder: str = "hashed") -> WindowInputs:
        """Merged copies of the window's sketches: cheap, taken under the aggregator's lock,
        so the costly ``compute_window`` can run without it (``embedder``: what embedded
        the sample)."""
        panes = [p for p in (self.previous, self.current) if p is not None]
        seq, comp = MomentStats(), MomentStats()
        sample = self.current.sample.copy() if self.previous is None else \
            self.previous.sample.copy().merge(self.current.sample)
        outcomes = WindowOutcomes()
        for p in panes:
            seq.merge(p.seq_rep)
            comp.merge(p.completion)
            outcomes.merge(p.outcomes)
        return WindowInputs(
            answers=sum(p.answers for p in panes),
            with_text=sum(p.answers_with_text for p in panes),
            exact=sum(p.duplicates.exact_count for p in panes),
            near=sum(p.duplicates.near_count for p in panes),
            seq=seq, completion=comp, sample=sample.get(),
            text_hashes=np.fromiter((h for p in panes for h in p.duplicates.text_hashes),
                                    dtype=np.uint64),
            with_question=sum(p.duplicates.with_question for p in panes),
            cross_question=sum(p.duplicates.cross_exact + p.duplicates.cross_near
                               for p in panes),
            question_hashes=_known_questions(panes),
            feedback=(outcomes.up, outcomes.down) if self.outcomes.has_feedback else None,
            evaluations=(outcomes.passed, outcomes.failed, outcomes.unknown)
            if self.outcomes.results else None,
            loops=(outcomes.looping, outcomes.turns) if self.outcomes.turns else None,
            embedder=embedder)

    def window_signals(self) -> WindowSignals:
        return compute_window(self.window_inputs())

    def snapshot(self, window: WindowSignals) -> StreamSnapshot:
        c = self.counts
        feedback, feedback_scores, evaluations, scores = self.outcomes.exported()
        turns, loops, lengths = self.outcomes.loops_exported()
        return StreamSnapshot(
            key=self.key,
            answers_total=c["answers"],
            answers_without_text_total=c["without_text"],
            answers_truncated_total=c["truncated"],
            duplicate_answers_total=MappingProxyType({"exact": c["exact"], "near": c["near"]}),
            answers_with_question_total=c["with_question"],
            cross_question_duplicates_total=MappingProxyType({"exact": c["cross_exact"],
                                                              "near": c["cross_near"]}),
            tokens_total=MappingProxyType({"prompt": c["prompt"], "completion": c["completion"]}),
            tokens_estimated_total=MappingProxyType({"prompt": c["prompt_estimated"],
                                                     "completion": c["completion_estimated"]}),
            prompt_tokens=_hist(self.prompt_hist, c["prompt"] + c["prompt_estimated"]),
            completion_tokens=_hist(self.completion_hist,
                                    c["completion"] + c["completion_estimated"]),
            first_seen=self.first_seen,
            window=window,
            window_memory_limited=self.memory_limited,
            feedback_total=feedback,
            evaluations_total=evaluations, evaluation_scores=scores,
            feedback_scores=feedback_scores,
            agent_turns_total=turns, agent_loops_total=loops, agent_loop_length=lengths,
        )

    # -- persistence --
    def to_bytes(self) -> bytes:
        """Version 2 says how many counters follow (version 1 had the first nine); version 3
        adds the feedback and evaluation totals after the histograms."""
        w = Writer(TAG_STREAM, 3)
        for part in self.key:
            w.text(part)
        w.f64(self.first_seen).u64(self.pane_answers).f64(self.pane_seconds).u64(self._panes_made)
        w.u64(len(self.counts))
        for name in sorted(self.counts):
            w.text(name).u64(self.counts[name])
        w.array(np.array(self.prompt_hist), "<i8").array(np.array(self.completion_hist), "<i8")
        w.blob(self.outcomes.to_bytes())
        w.blob(self.previous.to_bytes() if self.previous else b"").blob(self.current.to_bytes())
        return w.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, *, threshold: float, minhasher: MinHasher,
                   sample_size: int) -> StreamState:
        head = read_stream_head(data)
        r = head.rest
        state = cls(head.key, head.first_seen, pane_answers=head.pane_answers,
                    pane_seconds=head.pane_seconds, threshold=threshold, minhasher=minhasher,
                    sample_size=sample_size)
        state.counts.update(head.counts)
        state.prompt_hist, state.completion_hist = head.prompt_hist, head.completion_hist
        state.outcomes = head.outcomes
        made = head.panes_made
        prev, cur = r.blob(), r.blob()
        r.done()
        state.previous = Pane.from_bytes(prev, minhasher) if prev else None
        state.current = Pane.from_bytes(cur, minhasher)
        state._panes_made = made
        return state


class StreamHead(NamedTuple):
    """What a stream's bytes hold before its panes: enough to export its counters."""

    key: StreamKey
    first_seen: float
    pane_answers: int
    pane_seconds: float
    panes_made: int
    counts: dict[str, int]
    prompt_hist: list[int]
    completion_hist: list[int]
    rest: Reader
    outcomes: OutcomeTotals


def read_stream_head(data: bytes) -> StreamHead:
    """Key, counters and histograms of a stream's bytes (``StreamState.to_bytes``) without
    parsing its panes; counters (and feedback totals) a version does not hold read as 0."""
    r = Reader(data, TAG_STREAM, versions=(1, 2, 3))
    key = StreamKey(r.text(), r.text(), r.text())
    first_seen, pane_answers, pane_seconds, made = r.f64(), r.u64(), r.f64(), r.u64()
    counts = dict.fromkeys(COUNTERS, 0)
    for _ in range(r.u64() if r.version >= 2 else V1_COUNTERS):
        name = r.text()
        if name not in counts:
            raise ValueError(f"unknown stream counter {name!r}")
        counts[name] = r.u64()
    prompt, completion = r.array("<i8").tolist(), r.array("<i8").tolist()
    if len(prompt) != len(TOKEN_BUCKETS) + 1 or len(completion) != len(TOKEN_BUCKETS) + 1:
        raise ValueError("histogram buckets do not match this version")
    outcomes = OutcomeTotals.from_bytes(r.blob()) if r.version >= 3 else OutcomeTotals()
    return StreamHead(key, first_seen, pane_answers, pane_seconds, made, counts, prompt,
                      completion, r, outcomes)


def _known_questions(panes: list[Pane]) -> np.ndarray:
    """The window's known question hashes (one per answer with text and a question)."""
    out = np.concatenate([np.frombuffer(p.duplicates.question_hashes, dtype=np.uint64)
                          for p in panes])
    result: np.ndarray = out[out != 0]
    return result


def _count_buckets(values: list[int], hist: list[int]) -> None:
    """hist[i] += how many values fall in bucket i (value <= TOKEN_BUCKETS[i], else the last)."""
    counts = np.bincount(np.searchsorted(TOKEN_BUCKETS, values, side="left"),
                         minlength=len(hist))
    for i in np.flatnonzero(counts).tolist():
        hist[i] += int(counts[i])


def _hist(buckets: list[int], total: int) -> HistogramSnapshot:
    return HistogramSnapshot(tuple(buckets), float(total), sum(buckets))
