"""One side of ``collapse-otel compare``: a JSONL or CSV file of answers, or a
``collapse-otel serve`` state file, strictly validated.

Every problem is an ``InputError`` that names the file and the line and never quotes the
line: answer text stays out of messages and logs.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..engine.snapshot import TOKEN_BUCKETS
from ..engine.window import WindowInputs
from ..records import AnswerRecord, StreamKey
from ..records.outcomes import Outcome
from ..signals.accumulators import MomentStats
from ..state.file import MAGIC
from .rated import merge_outcome_counts, outcomes_by_cohort, row_outcomes
from .sides import load_state

DEFAULT_COHORT = "default"
CHARS_PER_TOKEN = 4.0   # as capture estimates missing token counts (capture.build)
JSONL_EXTENSIONS = (".jsonl", ".ndjson", ".json")
CSV_DELIMITERS = {".csv": ",", ".tsv": "\t"}
csv.field_size_limit(1 << 30)   # long answers are fine; the aggregator bounds what it keeps


class InputError(Exception):
    """Bad input: ``file:line: message`` (line 0 = the file as a whole)."""

    def __init__(self, file: str | os.PathLike[str], line: int, message: str) -> None:
        super().__init__(message)
        self.file, self.line, self.message = str(file), line, message

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Selection:
    """Which part of a file is the side: a release (files and state files), a service and
    a cohort (state files); ``flag`` names the release option in messages."""

    release: str | None = None
    service: str | None = None
    cohort: str | None = None
    cohort_column: str = "cohort"
    cohorts: bool = True
    flag: str = "--baseline-release"


@dataclass
class Side:
    path: str
    kind: str                    # jsonl | csv | state
    name: str                    # the release when known, else the file name
    has_cohorts: bool
    records: dict[str, list[AnswerRecord]] = field(default_factory=dict)  # answer files
    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)  # their feedback, evals
    warnings: tuple[str, ...] = ()   # columns left out, say why (never a value)
    windows: dict[str, WindowInputs] = field(default_factory=dict)        # state files
    lengths: dict[str, list[int]] = field(default_factory=dict)  # per TOKEN_BUCKETS bucket
    whole: WindowInputs | None = None   # all answers' window, when ``windows`` are of
    #                                     answer files analysed elsewhere (compare --dask)
    estimated: int = 0           # answers whose completion tokens were estimated from text

    @property
    def cohorts(self) -> list[str]:
        return sorted(self.records or self.windows)

    def count(self, cohort: str | None = None) -> int:
        """Answers of one cohort, or of the whole side."""
        names = self.cohorts if cohort is None else [cohort]
        if self.records:
            return sum(len(self.records[c]) for c in names)
        return sum(self.windows[c].answers for c in names)


def length_bucket(tokens: int) -> int:
    """Index of the ``TOKEN_BUCKETS`` bucket of a token count (the last one: above all)."""
    return bisect.bisect_left(TOKEN_BUCKETS, tokens)


def read_side(path: str | os.PathLike[str], selection: Selection) -> Side:
    kind = detect(path)
    if kind == "state":
        return _state_side(str(path), selection)
    return _answers_side(str(path), kind, selection)


def kind_by_extension(path: str | os.PathLike[str]) -> str | None:
    """``jsonl``, ``csv`` or ``tsv`` by the last extension other than ``.gz``, else None."""
    suffixes = [s.lower() for s in Path(path).suffixes if s.lower() != ".gz"]
    ext = suffixes[-1] if suffixes else ""
    if ext in JSONL_EXTENSIONS:
        return "jsonl"
    return ext[1:] if ext in CSV_DELIMITERS else None


def sniff(path: str | os.PathLike[str]) -> tuple[bytes, str | None, bytes]:
    """(the first 4 KiB, possibly gunzipped; the kind by extension, else ``jsonl`` when the
    text starts with ``{``, else None; its first line, without byte-order mark and blanks)."""
    try:
        with open_input(path) as f:
            head = f.read(4096)
    except OSError as exc:
        raise InputError(path, 0, f"cannot read: {exc.strerror or exc}") from None
    kind = kind_by_extension(path)
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if kind is None and text.startswith(b"{"):
        kind = "jsonl"
    return head, kind, text.split(b"\n", 1)[0]


def detect(path: str | os.PathLike[str]) -> str:
    """``state``, ``jsonl``, ``csv`` or ``tsv``: by the state magic, else by extension,
    else by the first character (``{`` is JSONL; a header naming ``answer`` is CSV)."""
    head, kind, first = sniff(path)
    if head.startswith(MAGIC):
        return "state"
    if kind is not None:
        return kind
    first = first.lower()
    if b"answer" in first and (b"," in first or b"\t" in first):
        return "tsv" if b"\t" in first else "csv"
    raise InputError(path, 0, "not a JSONL, CSV or collapse-otel state file")


def open_input(path: str | os.PathLike[str]):
    """The file in binary mode, gunzipped when it is gzipped (whatever its name)."""
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")  # noqa: SIM115


def read_rows(path: str, kind: str, required: str = "answer") -> Iterator[tuple[int, dict]]:
    """(line, row) of every row of a ``jsonl``, ``csv`` or ``tsv`` file; ``required``: the
    column a row must have (an ``InputError`` names the line of the first that does not)."""
    with open_input(path) as f:
        if kind == "jsonl":
            yield from jsonl_rows(path, f, required)
        else:
            yield from csv_rows(path, f, CSV_DELIMITERS[f".{kind}"], required)


def numbered_lines(path: str, f) -> Iterator[tuple[int, str]]:
    """(line number, text) of a binary file's lines, checked to be UTF-8."""
    try:
        for n, raw in enumerate(f, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(path, n, "not valid UTF-8") from None
            yield n, text.lstrip("\ufeff") if n == 1 else text
    except (OSError, EOFError) as exc:   # e.g. a truncated gzip file
        raise InputError(path, 0, f"cannot read: {exc}") from None


def jsonl_rows(path: str, f, required: str = "answer") -> Iterator[tuple[int, dict]]:
    """(line, object) of every non-blank line of a binary JSONL file."""
    for n, text in numbered_lines(path, f):
        if not text.strip():
            continue
        try:
            row = json.loads(text.rstrip("\r\n"))
        except json.JSONDecodeError as exc:
            raise InputError(path, n, f"not valid JSON ({exc.msg} at column {exc.colno})") \
                from None
        except RecursionError:
            raise InputError(path, n, "not valid JSON (nested too deeply)") from None
        if not isinstance(row, dict):
            article = "an" if required[:1] in "aeiou" else "a"
            raise InputError(path, n, f"expected a JSON object with {article} '{required}' field")
        yield n, row


def csv_rows(path: str, f, delimiter: str,
             required: str = "answer") -> Iterator[tuple[int, dict]]:
    """(first line, row by header) of every row of a binary CSV or TSV file."""
    numbered = numbered_lines(path, f)
    line = 0

    def texts() -> Iterator[str]:
        nonlocal line
        for line, text in numbered:   # noqa: B007 - the line number is read by the loop below
            yield text

    reader = csv.reader(texts(), delimiter=delimiter, strict=True)
    try:
        header = [h.strip() for h in next(reader, [])]
        if required not in header:
            raise InputError(path, 1, f"the header has no '{required}' column")
        if len(set(header)) != len(header):
            raise InputError(path, 1, "the header names a column twice")
        start = line + 1
        for values in reader:
            if values:   # a blank line
                if len(values) != len(header):
                    raise InputError(path, start, f"expected {len(header)} fields, "
                                                  f"found {len(values)}")
                yield start, dict(zip(header, values, strict=True))
            start = line + 1
    except csv.Error as exc:
        raise InputError(path, line, f"malformed CSV ({exc})") from None


def _answers_side(path: str, kind: str, sel: Selection) -> Side:
    records: list[AnswerRecord] = []
    outcomes: dict[int, tuple[Outcome, ...]] = {}   # by record index
    unreadable: dict[str, tuple[int, str]] = {}    # kind -> (first line, why)
    estimated, has_cohort_field = 0, False
    for n, row in read_rows(path, kind):
        rec, guessed = row_record(path, n, row, sel.cohort_column)
        has_cohort_field = has_cohort_field or sel.cohort_column in row
        found, bad = row_outcomes(row)
        for kind_, why in bad.items():
            unreadable.setdefault(kind_, (n, why))
        if found:
            outcomes[id(rec)] = found
        records.append(rec)
        estimated += guessed
    name, has_cohorts, groups = grouped(path, sel, records, has_cohort_field)
    lengths = {c: histogram(rs) for c, rs in groups.items()}
    rated, warnings = outcomes_by_cohort(path, groups, outcomes, unreadable)
    return Side(path, kind, name, has_cohorts, records=groups, lengths=lengths,
                estimated=estimated, outcomes=rated, warnings=warnings)


def grouped(path: str, sel: Selection, records: list, has_cohort_field: bool,
            ) -> tuple[str, bool, dict[str, list]]:
    """(the side's name, whether it has cohorts, its rows by cohort): the selected release
    and cohort of rows that have ``release`` and ``cohort`` (records, or their figures)."""
    releases = {r.release for r in records if r.release != "unknown"}
    name = Path(path).name
    if sel.release is not None:
        records = [r for r in records if r.release == sel.release]
        if not records:
            raise InputError(path, 0, f"no answers of release {sel.release!r} "
                                      f"(releases here: {_listing(releases)})")
        name = sel.release
    elif len(releases) > 1:
        raise InputError(path, 0, f"holds answers of several releases ({_listing(releases)}): "
                                  f"choose one with {sel.flag}")
    elif releases:
        name = next(iter(releases))
    if not records:
        raise InputError(path, 0, "no answers")
    if sel.cohort is not None:
        present = {r.cohort for r in records}
        records = [r for r in records if r.cohort == sel.cohort]
        if not records:
            raise InputError(path, 0, f"no answers of cohort {sel.cohort!r} "
                                      f"(cohorts here: {_listing(present)})")
    has_cohorts = sel.cohorts and has_cohort_field and sel.cohort is None
    groups: dict[str, list] = {}
    for r in records:
        groups.setdefault(r.cohort if has_cohorts else DEFAULT_COHORT, []).append(r)
    return name, has_cohorts, groups


def histogram(records: list) -> list[int]:
    """Answers per ``TOKEN_BUCKETS`` bucket of their completion tokens."""
    counts = [0] * (len(TOKEN_BUCKETS) + 1)
    for r in records:
        if r.completion_tokens is not None:
            counts[length_bucket(r.completion_tokens)] += 1
    return counts


def row_record(path: str, n: int, row: dict, cohort_column: str) -> tuple[AnswerRecord, bool]:
    """The record of one row, and whether its completion tokens were estimated."""
    if "answer" not in row:
        raise InputError(path, n, "no 'answer' field")
    answer = row["answer"]
    if not isinstance(answer, str):
        raise InputError(path, n, "'answer' must be a string")
    prompt = _optional_text(path, n, row, "prompt")
    question = _optional_text(path, n, row, "question")
    prompt_tokens = _tokens(path, n, row.get("prompt_tokens"), "prompt_tokens")
    completion = _tokens(path, n, row.get("completion_tokens"), "completion_tokens")
    guessed = completion is None
    if guessed:
        completion = max(1, math.ceil(len(answer) / CHARS_PER_TOKEN)) if answer else 0
    if prompt_tokens is None and prompt:
        prompt_tokens = max(1, math.ceil(len(prompt) / CHARS_PER_TOKEN))
    return AnswerRecord(
        answer, prompt_tokens, completion, _contexts(path, n, row.get("context_ids")),
        None, "compare", _label(path, n, row, "release") or "unknown",
        _label(path, n, row, cohort_column) or DEFAULT_COHORT, 0.0, guessed,
        question=question or prompt or None), guessed


def _optional_text(path: str, n: int, row: dict, name: str) -> str | None:
    value = row.get(name)
    if value is not None and not isinstance(value, str):
        raise InputError(path, n, f"'{name}' must be a string")
    return value


def _tokens(path: str, n: int, value: object, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        try:
            value = float(text)
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or value < 0 or value != int(value):
        raise InputError(path, n, f"'{name}' must be a non-negative integer")
    return int(value)


def _contexts(path: str, n: int, value: object) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise InputError(path, n, "'context_ids' is not a valid JSON list") from None
        else:
            return tuple(p.strip() for p in text.split("|") if p.strip())
    if not isinstance(value, list) or not all(
            isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        raise InputError(path, n, "'context_ids' must be a list of strings")
    return tuple(str(v) for v in value)


def _label(path: str, n: int, row: dict, name: str) -> str | None:
    value = row.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(path, n, f"'{name}' must be a string")
    return str(value).strip() or None


def _listing(names: set[str] | list[str]) -> str:
    return ", ".join(sorted(names)) or "none"


def _state_side(path: str, sel: Selection) -> Side:
    try:
        agg = load_state(path)
    except ValueError as exc:
        detail = str(exc).removeprefix(f"{path}: ")
        raise InputError(path, 0, f"not a valid state file ({detail})") from None
    keys = agg.stream_keys()
    if not keys:
        raise InputError(path, 0, "the state file holds no streams")
    service = _choose(path, "service", sel.service, {k.service for k in keys}, "--service")
    keys = [k for k in keys if k.service == service]
    release = _choose(path, "release", sel.release, {k.release for k in keys}, sel.flag)
    keys = [k for k in keys if k.release == release]
    cohorts = sorted(k.cohort for k in keys)
    if sel.cohort is not None:
        if sel.cohort not in cohorts:
            raise InputError(path, 0, f"release {release!r} has no cohort {sel.cohort!r} "
                                      f"(cohorts here: {_listing(cohorts)})")
        cohorts = [sel.cohort]
    windows, lengths = {}, {}
    for cohort in cohorts:
        key = StreamKey(service, release, cohort)
        window = agg.window_inputs(key)
        if window is not None and window.answers:
            windows[cohort] = window
            lengths[cohort] = list(agg.completion_histogram(key) or ())
    if not windows:
        raise InputError(path, 0, f"release {release!r} has no answers in its window")
    has_cohorts = sel.cohorts and sel.cohort is None and (
        len(windows) > 1 or next(iter(windows)) != DEFAULT_COHORT)
    if not sel.cohorts and len(windows) > 1:   # one side: the cohorts' windows together
        windows = {DEFAULT_COHORT: merge_windows(list(windows.values()))}
        lengths = {DEFAULT_COHORT: [sum(c) for c in zip(*lengths.values(), strict=True)]}
    return Side(path, "state", release, has_cohorts, windows=windows, lengths=lengths)


def _choose(path: str, what: str, wanted: str | None, present: set[str], flag: str) -> str:
    if wanted is not None:
        if wanted not in present:
            raise InputError(path, 0, f"no {what} {wanted!r} in the state file "
                                      f"({what}s here: {_listing(present)})")
        return wanted
    if len(present) > 1:
        raise InputError(path, 0, f"the state file holds several {what}s "
                                  f"({_listing(present)}): choose one with {flag}")
    return next(iter(present))


def merge_windows(windows: list[WindowInputs], seed: int = 0) -> WindowInputs:
    """Several cohorts' windows as one: counts and moments add up, the sample takes from
    each cohort in proportion to its answers (sample slots are in random order), text hashes
    and question hashes are pooled. Near and cross-question duplicates stay those found within
    each cohort."""
    if len(windows) == 1:
        return windows[0]
    total = sum(w.answers for w in windows) or 1
    size = max(len(w.sample) for w in windows)
    rng = np.random.default_rng(seed)
    sample = [item for w in windows
              for item in w.sample[:min(len(w.sample), round(size * w.answers / total))]]
    sample = [sample[i] for i in rng.permutation(len(sample))]
    seq, completion = MomentStats(), MomentStats()
    for w in windows:
        seq.merge(w.seq)
        completion.merge(w.completion)
    hashes = [w.text_hashes for w in windows if w.text_hashes is not None]
    pooled = rng.permutation(np.concatenate(hashes)) if hashes else None
    asked = [w.question_hashes for w in windows if w.question_hashes is not None]
    questions = rng.permutation(np.concatenate(asked)) if asked else None
    feedback, evaluations = merge_outcome_counts(windows)
    return WindowInputs(sum(w.answers for w in windows), sum(w.with_text for w in windows),
                        sum(w.exact for w in windows), sum(w.near for w in windows), seq,
                        completion, sample, pooled,
                        with_question=sum(w.with_question for w in windows),
                        cross_question=sum(w.cross_question for w in windows),
                        question_hashes=questions, feedback=feedback, evaluations=evaluations)
