"""``collapse-otel compare`` over partitions on a Dask cluster: the same report as one process.

What costs is analysing each answer (parsing and checking the row, normalising, shingles
and MinHash band keys, seq-rep, entities, the embedding): every partition does that for its
rows. What a side's window keeps does not all merge exactly, though: near duplicates are
found against every earlier answer through bounded LSH buckets (order and bounds decide),
the moments are float sums in answer order, and the reservoir draws by global position. So a
partition keeps, per answer, the compact figures the window needs in order (text and
question hashes, band keys, the bottom-k shingle sketch, seq-rep, token counts, release,
cohort and feedback or evaluation events; no text), with figures that add (lines, the first
bad row, the columns that cannot be read). A ``dask.bag`` reduction merges the partials in
a tree, in file order; the driver applies the figures, in the order the single process
does, to the same aggregator stream that ``window_of_answers`` feeds. The window sample
needs the text of at most ``sample_size`` answers per window: a second pass fetches just
those rows and analyses them again.

A state file is a side's sketch already: it is read by the driver. Dask is an optional
extra (``pip install 'collapse-otel[distributed]'``), imported only inside these functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import NamedTuple, overload

from ..engine.aggregator import Aggregator
from ..engine.analysis import PreparedAnswer, chunks
from ..engine.pane import sampled
from ..engine.window import WindowInputs
from ..records import AnswerRecord
from ..records.outcomes import Outcome
from ..signals.answer_sample import SampledAnswer
from .engine import CompareOptions
from .inputs import (
    InputError,
    Selection,
    Side,
    detect,
    grouped,
    histogram,
    read_side,
    row_record,
)
from .partitions import BLOCKSIZE, SPLIT_EVERY, file_blocks, partition_rows
from .rated import outcomes_by_cohort, row_outcomes
from .sides import SIDE, side_config, side_record, side_window

_TEXTLESS = AnswerRecord(None, service=SIDE, release=SIDE, cohort=SIDE, timestamp=0.0)


class Row(NamedTuple):
    """One answer as the driver needs it: its labels, length and events, and its analysis
    without text (None: the analysis failed, as the aggregator counts it)."""

    release: str
    cohort: str
    completion_tokens: int | None
    outcomes: tuple[Outcome, ...]
    prepared: PreparedAnswer | None


@dataclass
class Partial:
    """A run of consecutive rows of one file (lines count from the run's start)."""

    lines: int = 0                                   # newlines in the run's bytes
    error: tuple[int, str] | None = None             # the first bad row: (line, message)
    unreadable: dict[str, tuple[int, str]] = field(default_factory=dict)   # kind: line, why
    cohort_field: bool = False
    estimated: int = 0
    rows: list[Row] = field(default_factory=list)
    blocks: list[int] = field(default_factory=list)   # rows per partition, in order


def merge(a: Partial, b: Partial) -> Partial:
    """``a`` then ``b``: exactly the partial of their rows read in one run."""
    out = Partial(a.lines + b.lines, a.error, dict(a.unreadable),
                  a.cohort_field or b.cohort_field, a.estimated + b.estimated, a.rows + b.rows,
                  a.blocks + b.blocks)
    if out.error is None and b.error is not None:
        line, message = b.error
        out.error = (line + a.lines if line else 0, message)
    for kind, (line, why) in b.unreadable.items():
        out.unreadable.setdefault(kind, (line + a.lines, why))
    return out


def merge_all(parts) -> Partial:
    parts = list(parts)
    out = parts[0]
    for p in parts[1:]:
        out = merge(out, p)
    return out


@lru_cache(maxsize=4)
def _analyser(sample_size: int, embedder: str) -> Aggregator:
    """What analyses the answers in this process (kept: a model embedder loads once)."""
    return Aggregator(side_config(0, sample_size, embedder))


def partial(path: str, kind: str, data: bytes | None, cohort_column: str, sample_size: int,
            embedder: str) -> Partial:
    """One partition's figures (a bad row is kept as the partial's error, raised by the
    driver with its line in the file)."""
    out = Partial(lines=data.count(b"\n") if data is not None else 0)
    records, events = [], []
    try:
        for n, row in partition_rows(path, kind, data):
            rec, guessed = row_record(path, n, row, cohort_column)
            out.cohort_field = out.cohort_field or cohort_column in row
            found, bad = row_outcomes(row)
            for kind_, why in bad.items():
                out.unreadable.setdefault(kind_, (n, why))
            records.append(rec)
            events.append(found)
            out.estimated += guessed
    except InputError as exc:
        out.error = (exc.line, exc.message)
        out.blocks = [0]
        return out
    agg = _analyser(sample_size, embedder)
    prepared: list[PreparedAnswer | None] = []
    for chunk in chunks([side_record(r) for r in records]):
        prepared += [_textless(p) for p in agg.prepare(chunk)]
    out.rows = [Row(r.release, r.cohort, r.completion_tokens, e, p)
                for r, e, p in zip(records, events, prepared, strict=True)]
    out.blocks = [len(records)]
    return out


def _textless(p: PreparedAnswer | None) -> PreparedAnswer | None:
    """The analysis without the text: what the sample would keep is fetched later."""
    if p is not None:
        p.record, p.normalized, p.sample_text = _TEXTLESS, "", ""
        p.entity_hashes, p.embedding, p.context_hashes = None, None, []
    return p


def _partition(*args) -> list[Partial]:
    return [partial(*args)]   # a bag partition of one element


def _sampled(path: str, kind: str, data: bytes | None, cohort_column: str, sample_size: int,
             embedder: str, wanted: frozenset[int]) -> dict[int, SampledAnswer]:
    """The window sample's answers among this partition's rows (by row number in it)."""
    picked, records = [], []
    for i, (n, row) in enumerate(partition_rows(path, kind, data)):
        if i in wanted:
            picked.append(i)
            records.append(side_record(row_record(path, n, row, cohort_column)[0]))
    prepared = _analyser(sample_size, embedder).prepare(records)
    return {i: sampled(p) for i, p in zip(picked, prepared, strict=True) if p is not None}


@dataclass
class _Pending:
    """An answer side between the passes: its side and the partitions to fetch from."""

    path: str
    kind: str
    side: Side
    parts: list
    offsets: list[int]


def read_sides_distributed(paths: Sequence[str], selections: Sequence[Selection],
                           options: CompareOptions, *, blocksize: int = BLOCKSIZE,
                           split_every: int = SPLIT_EVERY) -> list[Side]:
    """``read_side`` of each path with its windows built (``Side.windows`` and
    ``Side.whole``), answer files analysed by Dask's current scheduler (a
    ``distributed.Client`` when one is open); ``run_gate`` then gives the single process's
    result."""
    import dask
    import dask.bag as db

    kinds = [detect(path) for path in map(str, paths)]
    parts, reductions = [], []
    for path, kind, sel in zip(map(str, paths), kinds, selections, strict=True):
        blocks = file_blocks(path, kind, blocksize) if kind != "state" else []
        parts.append(blocks)
        if blocks:
            args = (sel.cohort_column, options.sample_size, options.embedder)
            bag = db.from_delayed([dask.delayed(_partition)(path, kind, b, *args)
                                   for b in blocks])
            reductions.append(bag.reduction(merge_all, merge_all, split_every=split_every))
    merged = list(dask.compute(*reductions))
    sides: list[Side] = []
    pending: list[_Pending] = []
    for path, kind, sel, blocks in zip(map(str, paths), kinds, selections, parts, strict=True):
        if kind == "state":
            sides.append(read_side(path, sel))
            continue
        p = merged.pop(0)
        side = _side(path, kind, sel, p, options)
        sides.append(side)
        offsets = [0]
        for n in p.blocks:
            offsets.append(offsets[-1] + n)
        pending.append(_Pending(path, kind, side, blocks, offsets))
    _fill_samples(pending, selections, kinds, options)
    return sides


def _side(path: str, kind: str, sel: Selection, p: Partial, options: CompareOptions) -> Side:
    """The side with its windows, whose samples hold row numbers until they are fetched."""
    if p.error is not None:
        raise InputError(path, *p.error)
    name, has_cohorts, groups = grouped(path, sel, p.rows, p.cohort_field)
    lengths = {c: histogram(rs) for c, rs in groups.items()}
    events = {id(r): r.outcomes for r in p.rows if r.outcomes}
    rated, warnings = outcomes_by_cohort(path, groups, events, p.unreadable)
    for i, r in enumerate(p.rows):   # the row number stands in for the sampled answer
        if r.prepared is not None:
            r.prepared.sample_text = str(i)
    cohorts = sorted(groups)
    whole = _window([r for c in cohorts for r in groups[c]],
                    [o for c in cohorts for o in rated.get(c, ())], options)
    windows = {cohorts[0]: whole} if len(groups) == 1 else \
        {c: _window(groups[c], rated.get(c, ()), options) for c in cohorts}
    return Side(path, kind, name, has_cohorts, lengths=lengths, estimated=p.estimated,
                warnings=warnings, windows=windows, whole=whole)


def _window(rows: list[Row], events: Sequence[Outcome], options: CompareOptions,
            ) -> WindowInputs:
    """``window_of_answers`` of the rows' answers, from their analyses."""
    agg = Aggregator(side_config(len(rows), options.sample_size, options.embedder))
    agg.observe_prepared([r.prepared for r in rows])
    return side_window(agg, events)


def _fill_samples(pending: list[_Pending], selections: Sequence[Selection],
                  kinds: list[str], options: CompareOptions) -> None:
    """Fetch the sampled answers of every answer side (one pass over the partitions that
    hold any) and put them in the windows' samples."""
    import dask

    answer_selections = [s for s, k in zip(selections, kinds, strict=True) if k != "state"]
    tasks, owners = [], []
    for pend, sel in zip(pending, answer_selections, strict=True):
        windows = [pend.side.whole, *pend.side.windows.values()]
        wanted = sorted({int(item.text) for w in windows if w is not None for item in w.sample})
        for j, block in enumerate(pend.parts):
            lo, hi = pend.offsets[j], pend.offsets[j + 1]
            here = frozenset(i - lo for i in wanted if lo <= i < hi)
            if here:
                tasks.append(dask.delayed(_sampled)(pend.path, pend.kind, block,
                                                    sel.cohort_column, options.sample_size,
                                                    options.embedder, here))
                owners.append((pend, lo))
    fetched = dask.compute(*tasks) if tasks else ()
    answers: dict[int, dict[int, SampledAnswer]] = {}
    for (pend, lo), found in zip(owners, fetched, strict=True):
        answers.setdefault(id(pend), {}).update({lo + i: s for i, s in found.items()})
    for pend in pending:
        real = answers.get(id(pend), {})
        side = pend.side
        side.whole = _with_sample(side.whole, real)
        # side.whole is set on every side analysed on the cluster (compare --dask)
        side.windows = {c: side.whole if w is not None and len(side.windows) == 1  # type: ignore[misc]
                        else _with_sample(w, real) for c, w in side.windows.items()}


@overload
def _with_sample(w: WindowInputs, real: dict[int, SampledAnswer]) -> WindowInputs: ...
@overload
def _with_sample(w: None, real: dict[int, SampledAnswer]) -> None: ...
def _with_sample(w: WindowInputs | None, real: dict[int, SampledAnswer]) -> WindowInputs | None:
    if w is None:
        return None
    return replace(w, sample=[real[int(item.text)] for item in w.sample])
