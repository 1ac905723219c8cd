"""``collapse-otel audit`` over partitions on a Dask cluster: the same figures as one process.

Each uncompressed JSONL version is cut into byte blocks at line ends by Dask's own reader
(``dask.bytes.read_bytes``); a gzipped or CSV version is one partition. Every partition reads
its rows with the audit's own parser and builds a ``Partial``: rows and lines, rows per source
(in order of first appearance), the version labels, own-answer hits, and per holdout row its
exact match and every verified near-duplicate candidate. Partials merge exactly and in order
(``merge(a, b)`` equals reading a then b), as a tree (``dask.bag`` reduction). The diversity
sample depends only on the rows per source, so a second pass fetches just the sampled rows
and the driver measures them as the single-process audit does.

Equal to ``run_audit`` while the contamination bounds do not bind (no LSH bucket over
``BUCKET_DEPTH`` rows, no holdout row over ``CANDIDATES`` candidates in one partition): past
them a partition keeps more than one process does, so it can only find more matches. Dask is
an optional extra (``pip install 'collapse-otel[distributed]'``), imported only here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

from ..compare.inputs import InputError
from ..compare.partitions import BLOCKSIZE, SPLIT_EVERY, file_blocks, partition_rows
from ..signals.duplicates import sorted_jaccard
from ..signals.minhash import MinHasher
from ..state.answer_hashes import answer_hash
from ..text.hashing import text_hash
from ..text.normalize import clean_text, normalize
from .contamination import CANDIDATES, Contamination, Match, Sketches, TrainingIndex, sketch
from .diversity import DiversityOptions, SamplePlan, measure_plan, plan, with_counts
from .engine import AuditOptions, AuditResult, audit_result, version_audit
from .inputs import (
    MAX_SOURCE_CHARS,
    MAX_SOURCES,
    MAX_VERSION_CHARS,
    Columns,
    Holdout,
    file_kind,
    row_name,
    row_text,
    version_label,
)


@dataclass
class Partial:
    """A run of consecutive rows of one version, as mergeable figures (row and line numbers
    count from the run's start)."""

    rows: int = 0
    lines: int = 0                                   # newlines in the run's bytes
    error: tuple[int, str] | None = None             # the first bad row: (line, message)
    counts: dict[str, int] = field(default_factory=dict)
    blocks: list[dict[str, int]] = field(default_factory=list)   # counts per partition
    labels: set[str] = field(default_factory=set)
    labelled: int = 0
    own_hits: int = 0
    first: dict[int, tuple[int, int]] = field(default_factory=dict)   # text hash -> row, line
    # per holdout row: verified candidates (similarity, shared bands, row, text hash, line)
    near: list[list[tuple[float, int, int, int, int]]] = field(default_factory=list)


def merge(a: Partial, b: Partial) -> Partial:
    """``a`` then ``b``: exactly the partial of their rows read in one run."""
    out = Partial(a.rows + b.rows, a.lines + b.lines, a.error, dict(a.counts),
                  a.blocks + b.blocks, a.labels | b.labels, a.labelled + b.labelled,
                  a.own_hits + b.own_hits, dict(a.first))
    if out.error is None and b.error is not None:
        out.error = (b.error[0] + a.lines, b.error[1])
    for source, n in b.counts.items():
        out.counts[source] = out.counts.get(source, 0) + n
    for h, (row, line) in b.first.items():
        out.first.setdefault(h, (row + a.rows, line + a.lines))
    # b's row that repeats a text of a is no candidate in one run (a's first row is)
    out.near = [x + [(s, hits, row + a.rows, h, line + a.lines) for s, hits, row, h, line in y
                     if h not in a.first]
                for x, y in zip(a.near, b.near, strict=True)]
    return out


def merge_all(parts) -> Partial:
    parts = list(parts)
    out = parts[0]
    for p in parts[1:]:
        out = merge(out, p)
    return out


@dataclass(frozen=True)
class _Held:
    """The holdout as every partition needs it."""

    hashes: list[int | None]
    sketches: Sketches
    wanted: frozenset[int]                # the hashes that are there


def _parse(path: str, kind: str, data: bytes | None, columns: Columns):
    """(line, text, source, label) per row; ``data`` is a JSONL block, None: the whole file."""
    for n, row in partition_rows(path, kind, data, columns.text):
        text = row_text(path, n, row, columns.text)
        source = row_name(path, n, row, columns.source, MAX_SOURCE_CHARS).lower()
        label = row_name(path, n, row, columns.version, MAX_VERSION_CHARS, required=False)
        yield n, text, source, label


def partial(path: str, kind: str, data: bytes | None, opts: AuditOptions,
            held: _Held | None, own: frozenset[int] | None) -> Partial:
    """One partition's figures (a bad row is kept as the partial's error, raised at the end
    with its line in the file)."""
    out = Partial(lines=data.count(b"\n") if data is not None else 0,
                  near=[[] for _ in held.hashes] if held is not None else [])
    lines, texts = [], []
    try:
        for n, text, source, label in _parse(path, kind, data, opts.columns):
            lines.append(n)
            texts.append(text)
            out.counts[source] = out.counts.get(source, 0) + 1
            if label is not None:
                out.labels.add(label)
                out.labelled += 1
    except InputError as exc:
        out.error = (exc.line, exc.message)
        return out
    out.rows = len(texts)
    out.blocks = [dict(out.counts)]
    if own is not None:
        out.own_hits = sum(answer_hash(t) in own for t in texts)
    if held is not None:
        _contamination(out, texts, lines, opts, held)
    return out


def _partition(*args) -> list[Partial]:
    return [partial(*args)]   # a bag partition of one element


def _contamination(out: Partial, texts: list[str], lines: list[int], opts: AuditOptions,
                   held: _Held) -> None:
    minhasher = MinHasher()
    rows = sketch(texts, minhasher)
    index = TrainingIndex(rows, lines, opts.threshold, minhasher)
    first = index._first
    dup = index._index
    for h, row in first.items():
        if h in held.wanted:
            out.first[h] = (row, lines[row])
    for j, (th, sh, keys) in enumerate(zip(held.hashes, held.sketches.shingles,
                                           held.sketches.band_keys, strict=True)):
        found = out.near[j]
        if th is None or th in first or sh is None or keys is None:
            continue
        hits = Counter(dup.candidates(keys))   # ranked as DuplicateIndex.best_match ranks
        for idx in sorted(hits, key=lambda i: (hits[i], i), reverse=True)[:CANDIDATES]:
            other = dup.shingles[idx]
            if other is None:
                continue
            sim = sorted_jaccard(sh, other)
            if sim >= opts.threshold:
                h = cast(int, rows.hashes[idx])   # a row with shingles has text: a hash
                found.append((sim, hits[idx], idx, h, lines[idx]))
                out.first[h] = (idx, lines[idx])


def _matches(p: Partial, held: _Held, holdout: Holdout) -> Contamination:
    """The single-process choice: the first exact row, else the best verified candidate
    (highest similarity, then most shared bands, then the latest row)."""
    matches = []
    for j, (line, th) in enumerate(zip(holdout.lines, held.hashes, strict=True)):
        if th is None:
            continue
        if th in p.first:
            matches.append(Match(line, p.first[th][1], 1.0))
        elif p.near and p.near[j]:
            sim, _hits, _row, _h, training_line = max(p.near[j], key=lambda c: c[:3])
            matches.append(Match(line, training_line, round(sim, 4)))
    return Contamination(len(holdout.lines), tuple(matches))


def _samples(path: str, kind: str, data: bytes | None, opts: AuditOptions,
             offsets: dict[str, int], wanted: dict[str, set[int]]) -> dict[tuple[str, int], str]:
    """The planned rows in one partition (positions count over the whole version)."""
    seen = dict(offsets)
    out = {}
    for _n, text, source, _label in _parse(path, kind, data, opts.columns):
        i = seen.get(source, 0)
        seen[source] = i + 1
        if i in wanted.get(source, ()):
            out[source, i] = text
    return out


def run_audit_distributed(paths: Sequence[str], options: AuditOptions | None = None, *,
                          holdout: Holdout | None = None, own_hashes: set[int] | None = None,
                          blocksize: int = BLOCKSIZE, split_every: int = SPLIT_EVERY
                          ) -> AuditResult:
    """``run_audit`` over the version files ``paths`` (oldest first), computed by Dask's
    current scheduler (a ``distributed.Client`` when one is open)."""
    import dask
    import dask.bag as db

    opts = options or AuditOptions()
    if not paths:
        raise ValueError("no dataset versions")
    held = None
    if holdout is not None:
        hashes = [text_hash(t) if t else None
                  for t in (normalize(clean_text(x)) for x in holdout.texts)]
        held = _Held(hashes, sketch(holdout.texts, MinHasher()),
                     frozenset(h for h in hashes if h is not None))
    own = frozenset(own_hashes) if own_hashes is not None else None
    held_d, own_d, opts_d = dask.delayed(held), dask.delayed(own), dask.delayed(opts)
    kinds, blocks, reductions = [], [], []
    for path in map(str, paths):
        kind = file_kind(path)
        parts = file_blocks(path, kind, blocksize)
        kinds.append(kind)
        blocks.append(parts)
        bag = db.from_delayed([dask.delayed(_partition)(path, kind, part, opts_d, held_d, own_d)
                               for part in parts])
        reductions.append(bag.reduction(merge_all, merge_all, split_every=split_every))
    merged = dask.compute(*reductions)
    labels = [_check(path, p) for path, p in zip(paths, merged, strict=True)]
    _unique(labels, paths)
    samples = []
    plans: list[tuple[SamplePlan, int] | None] = []   # None: diversity not measured
    for label, path, kind, parts, p in zip(labels, paths, kinds, blocks, merged, strict=True):
        if opts.diversity is None:
            plans.append(None)
            continue
        sp = plan(label, p.counts, opts.synthetic_sources, opts.diversity)
        wanted = sp.wanted()
        offsets: dict[str, int] = {}
        for part, counts in zip(parts, p.blocks, strict=True):
            samples.append(dask.delayed(_samples)(str(path), kind, part, opts_d, dict(offsets),
                                                  {s: w for s, w in wanted.items()
                                                   if s in counts}))
            for s, n in counts.items():
                offsets[s] = offsets.get(s, 0) + n
        plans.append((sp, len(p.blocks)))
    fetched = list(dask.compute(*samples)) if samples else []
    contaminated: set[int]
    audits, previous, contaminated = [], None, set()
    for label, path, kind, p, planned in zip(labels, paths, kinds, merged, plans, strict=True):
        found = _matches(p, held, holdout) if held is not None and holdout is not None \
            else None
        if found is not None:
            contaminated.update(m.holdout_line for m in found.matches)
        diversity = None
        if planned is not None:
            sp, n = planned
            rows: dict[tuple[str, int], str] = {}
            for part in fetched[:n]:
                rows.update(part)
            del fetched[:n]
            planned_with = cast(DiversityOptions, opts.diversity)   # planned: it is set
            diversity = with_counts(measure_plan(label, sp, rows, planned_with), p.counts)
        previous = version_audit(opts, previous, label, str(path), kind, p.rows, p.counts,
                                 found, p.own_hits if own is not None else None, diversity)
        audits.append(previous)
    return audit_result(opts, audits, holdout, len(contaminated),
                        len(own_hashes) if own_hashes is not None else None)


def _check(path: str, p: Partial) -> str:
    """The version's label, after the checks ``read_version`` makes row by row."""
    if p.error is not None:
        raise InputError(path, *p.error)
    if not p.rows:
        raise InputError(path, 0, "no rows")
    if len(p.counts) > MAX_SOURCES:
        raise InputError(path, 0, f"more than {MAX_SOURCES} distinct sources: is the source "
                                  "column the right one?")
    if len(p.labels) > 1:
        raise InputError(path, 0, "more than one version value: one file holds one dataset "
                                  "version")
    if p.labels and p.labelled != p.rows:
        raise InputError(path, 0, "some rows have a version value and some do not")
    return next(iter(p.labels)) if p.labels else version_label(path)


def _unique(labels: list[str], paths: Sequence[str]) -> None:
    seen: dict[str, str] = {}
    for label, path in zip(labels, paths, strict=True):
        if label in seen:
            raise InputError(path, 0, f"version {label!r} again (also {seen[label]}): each "
                                      "file must be another version")
        seen[label] = str(path)
