"""The two sides of a comparison, from answers, from an aggregator's streams or a state file.

Every side becomes the window inputs of one stream (``WindowInputs``), so answers judged
offline go through exactly the analysis the aggregator runs in production.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from ..config import CollapseConfig
from ..engine.aggregator import Aggregator
from ..engine.feeding import observe_all
from ..engine.window import WindowInputs
from ..records import AnswerRecord, StreamKey
from ..records.outcomes import Outcome
from ..signals.accumulators import MomentStats
from ..text.token_estimate import estimate_tokens
from .engine import CompareOptions, Comparison, compare_windows

SIDE = "side"
PROGRESS_STEP = 1024


def window_of_answers(answers: Iterable[str | AnswerRecord], *, sample_size: int = 1000,
                      aggregator: Aggregator | None = None,
                      progress: Callable[[int], object] | None = None,
                      outcomes: Iterable[Outcome] = (), embedder: str = "hashed",
                      ) -> WindowInputs:
    """Analyse answers (texts or records) as one stream whose window holds them all, with
    the feedback and evaluation results given for them (``outcomes``);
    ``progress(n)`` is called after every ``PROGRESS_STEP`` answers (a progress bar).

    An answer with text and no completion-token count gets capture's estimate (flagged as
    estimated), as ``observe`` and every other capture path give it: the same texts judged
    online and offline have the same lengths, and the length family is judged either way.
    ``embedder``: hashed, or a bundled model (COLLAPSE_OTEL_EMBEDDER's values)."""
    records = [a if isinstance(a, AnswerRecord) else AnswerRecord(a) for a in answers]
    agg = aggregator or Aggregator(side_config(len(records), sample_size, embedder))
    relabelled = [side_record(r) for r in records]
    step = PROGRESS_STEP if progress is not None else max(len(relabelled), 1)
    for start in range(0, len(relabelled), step):
        chunk = relabelled[start:start + step]
        observe_all(agg, chunk)
        if progress is not None:
            progress(len(chunk))
    return side_window(agg, outcomes)


def side_config(answers: int, sample_size: int = 1000, embedder: str = "hashed",
                ) -> CollapseConfig:
    """One stream whose window holds all ``answers`` answers of a side."""
    return CollapseConfig(
        window_answers=2 * answers + 2, window_seconds=1e15, sample_size=sample_size,
        refresh_seconds=3600, memory_budget_mb=1 << 20, max_streams=1, embedder=embedder)


def side_window(agg: Aggregator, outcomes: Iterable[Outcome] = ()) -> WindowInputs:
    """The side's window once its answers are in ``agg``, with ``outcomes`` counted."""
    key = StreamKey(SIDE, SIDE, SIDE)
    rated = [(key, replace(o, timestamp=0.0)) for o in outcomes]
    if rated:
        agg.observe_outcomes(rated)
    inputs = agg.window_inputs(key)
    return inputs if inputs is not None else \
        WindowInputs(0, 0, 0, 0, MomentStats(), MomentStats(), [])


def side_record(r: AnswerRecord) -> AnswerRecord:
    """The record as one side's stream holds it (token estimate from the text if none)."""
    completion, estimated = r.completion_tokens, r.tokens_estimated
    if completion is None and r.answer:
        completion, estimated = estimate_tokens(r.answer), True
    return AnswerRecord(r.answer, r.prompt_tokens, completion, r.context_ids, r.model,
                        SIDE, SIDE, SIDE, 0.0, estimated, question=r.question)


def compare_answers(baseline: Sequence[str | AnswerRecord],
                    candidate: Sequence[str | AnswerRecord],
                    options: CompareOptions | None = None, *, baseline_name: str = "baseline",
                    candidate_name: str = "candidate") -> Comparison:
    """Compare two sets of answers (e.g. release N-1's and release N's, or a pinned
    human-written baseline and a candidate)."""
    opts = options or CompareOptions()
    return compare_windows(window_of_answers(baseline, sample_size=opts.sample_size,
                                             embedder=opts.embedder),
                           window_of_answers(candidate, sample_size=opts.sample_size,
                                             embedder=opts.embedder), opts,
                           baseline_name=baseline_name, candidate_name=candidate_name)


def compare_streams(aggregator: Aggregator, baseline: StreamKey, candidate: StreamKey,
                    options: CompareOptions | None = None) -> Comparison:
    """Compare two streams of one aggregator (their current windows)."""
    a, b = aggregator.window_inputs(baseline), aggregator.window_inputs(candidate)
    missing = [str(k) for k, w in ((baseline, a), (candidate, b)) if w is None]
    if missing:
        raise KeyError(f"no such stream: {', '.join(missing)}")
    assert a is not None and b is not None   # a missing one raised above
    return compare_windows(a, b, options, baseline_name="/".join(baseline),
                           candidate_name="/".join(candidate))


def load_state(path: str | os.PathLike[str], config: CollapseConfig | None = None) -> Aggregator:
    """An aggregator restored from a ``collapse-otel serve`` state file (ValueError if the
    file is not one)."""
    from ..state.file import load_into

    agg = Aggregator(config or CollapseConfig(refresh_seconds=3600, memory_budget_mb=1 << 20))
    load_into(path, agg)
    return agg
