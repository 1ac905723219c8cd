"""The files of ``collapse-otel audit``: dataset versions, a holdout set and answer hashes.

A dataset version is a JSONL or CSV file (``.gz`` too) of rows with a text column and a source
column; its label is its ``version`` column (one value per file) or else its file name without
extensions. Every problem is an ``InputError`` (``FILE:LINE: message``, exit status 2) that
never quotes the row: training text stays out of messages and logs. Source and version values
become Prometheus labels, so they are bounded (length, distinct sources per file).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, overload

from ..compare.inputs import (
    CSV_DELIMITERS,
    JSONL_EXTENSIONS,
    InputError,
    numbered_lines,
    open_input,
    read_rows,
    sniff,
)
from ..state.answer_hashes import HASH_CHARS

MAX_SOURCES = 32          # distinct sources per file: more means the wrong column
MAX_SOURCE_CHARS = 64
MAX_VERSION_CHARS = 128
_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True)
class Columns:
    text: str = "text"
    source: str = "source"
    version: str = "version"


@dataclass
class Version:
    """One dataset version: its rows' line numbers, texts and sources, in file order."""

    label: str
    path: str
    kind: str
    lines: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    declared_synthetic: bool | None = None    # what its metadata declares (Croissant)

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class Holdout:
    path: str
    lines: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)


def file_kind(path: str | os.PathLike[str]) -> str:
    """``jsonl``, ``csv`` or ``tsv``: by extension, else by the first character."""
    _, kind, first = sniff(path)
    if kind is not None:
        return kind
    if b"\t" in first:
        return "tsv"
    if b"," in first:
        return "csv"
    raise InputError(path, 0, "not a JSONL or CSV file")


def row_text(path: str, n: int, row: dict, column: str) -> str:
    """The row's text column: a string (never quoted in a message)."""
    if column not in row:
        raise InputError(path, n, f"no '{column}' field")
    value = row[column]
    if not isinstance(value, str):
        raise InputError(path, n, f"'{column}' must be a string")
    return value


@overload
def row_name(path: str, n: int, row: dict, column: str, limit: int,
             required: Literal[True] = ...) -> str: ...
@overload
def row_name(path: str, n: int, row: dict, column: str, limit: int,
             required: bool = ...) -> str | None: ...
def row_name(path: str, n: int, row: dict, column: str, limit: int,
             required: bool = True) -> str | None:
    """A short name (source, version): a string or an integer, not empty, at most
    ``limit`` characters; never quoted in a message."""
    if column not in row:
        if required:
            raise InputError(path, n, f"no '{column}' field")
        return None
    value = row[column]
    if value is None or value == "":
        if required:
            raise InputError(path, n, f"'{column}' is empty")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(path, n, f"'{column}' must be a string")
    text = str(value).strip()
    if not text:
        raise InputError(path, n, f"'{column}' is blank")
    if len(text) > limit or not text.isprintable():
        raise InputError(path, n, f"'{column}' must be a short name (at most {limit} "
                                  f"printable characters): is it the right column?")
    return text


def version_label(path: str | os.PathLike[str]) -> str:
    """The file name without ``.gz`` and its data extension: ``v3.jsonl.gz`` -> ``v3``."""
    name = Path(path).name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    stem, dot, ext = name.rpartition(".")
    if dot and f".{ext.lower()}" in (*JSONL_EXTENSIONS, *CSV_DELIMITERS) and stem:
        name = stem
    return name[:MAX_VERSION_CHARS]


def read_version(path: str | os.PathLike[str], columns: Columns) -> Version:
    path = str(path)
    kind = file_kind(path)
    out = Version(version_label(path), path, kind)
    labels: set[str] = set()
    sources: set[str] = set()
    labelled = 0
    for n, row in read_rows(path, kind, columns.text):
        text = row_text(path, n, row, columns.text)
        source = row_name(path, n, row, columns.source, MAX_SOURCE_CHARS).lower()
        label = row_name(path, n, row, columns.version, MAX_VERSION_CHARS, required=False)
        if label is not None:
            labels.add(label)
            labelled += 1
            if len(labels) > 1:
                raise InputError(path, n, f"a second '{columns.version}' value: one file "
                                          "holds one dataset version")
        sources.add(source)
        if len(sources) > MAX_SOURCES:
            raise InputError(path, n, f"more than {MAX_SOURCES} distinct sources: is "
                                      f"'{columns.source}' the right column?")
        out.lines.append(n)
        out.texts.append(text)
        out.sources.append(source)
    if not out.texts:
        raise InputError(path, 0, "no rows")
    if labels:
        if labelled != len(out.texts):
            raise InputError(path, 0, f"some rows have a '{columns.version}' value and some "
                                      "do not")
        out.label = labels.pop()
    return out


def read_holdout(path: str | os.PathLike[str], text_column: str) -> Holdout:
    path = str(path)
    kind = file_kind(path)
    out = Holdout(path)
    for n, row in read_rows(path, kind, text_column):
        out.lines.append(n)
        out.texts.append(row_text(path, n, row, text_column))
    if not out.texts:
        raise InputError(path, 0, "no rows")
    return out


def read_hashes(path: str | os.PathLike[str]) -> set[int]:
    """A file of answer hashes: 16 hex characters a line (blank lines skipped)."""
    path = str(path)
    out: set[int] = set()
    try:
        f = open_input(path)
    except OSError as exc:
        raise InputError(path, 0, f"cannot read: {exc.strerror or exc}") from None
    with f:
        for n, text in numbered_lines(path, f):
            line = text.strip()
            if not line:
                continue
            if len(line) != HASH_CHARS or not _HEX.issuperset(line):
                raise InputError(path, n, f"expected a hash of {HASH_CHARS} hex characters")
            out.add(int(line, 16))
    return out
