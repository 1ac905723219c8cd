"""Span helpers of the rule-based entity extractor: anchored matching and de-overlapping.

Kept apart from the rules themselves (entities.py) because they only move offsets around.
"""

from __future__ import annotations

from typing import Any


def find_all(text: str, char: str) -> list[int]:
    out = []
    i = text.find(char)
    while i >= 0:
        out.append(i)
        i = text.find(char, i + 1)
    return out


_WORD_BACK = frozenset("_.+-")


def anchored(
    text: str, anchors: list[int], pattern: Any, kind: str, out: list[tuple[int, int, str]]
) -> None:
    """Match ``pattern`` at the start of the word holding each anchor position.

    Each character is walked back over at most once (a word holding many anchors, such as
    "a.b.c.d...", is tried once), so the cost stays linear in the text length.
    """
    done = 0
    floor = 0
    for i in anchors:
        if i < done:
            continue
        lo = max(done, floor)
        start = i
        while start > lo and (text[start - 1].isalnum() or text[start - 1] in _WORD_BACK):
            start -= 1
        floor = i + 1
        if start == lo and lo > done and _is_back(text[lo - 1]):
            continue  # same word as the previous anchor: already tried from its start
        while start < i and text[start] in ".+-":
            start += 1
        if start and text[start - 1] in "@#":
            continue  # a handle or hashtag, found by the main pattern
        m = pattern.match(text, start)
        if m is not None and m.end() > i:
            out.append((start, m.end(), kind))
            done = m.end()


def _is_back(ch: str) -> bool:
    return ch.isalnum() or ch in _WORD_BACK


def merge_spans(
    strong: list[tuple[int, int, str]], weak: list[tuple[int, int, str]]
) -> list[tuple[int, int, str]]:
    """Both lists sorted by start; keep all of ``strong``, and ``weak`` items not overlapping it.

    With ``strong`` empty, de-overlap ``weak``: earliest start, then longest, wins.
    """
    out: list[tuple[int, int, str]] = []
    if not strong:
        last_end = -1
        for s, e, k in weak:
            if s >= last_end:
                out.append((s, e, k))
                last_end = e
        return out
    i = 0
    for s, e, k in weak:
        while i < len(strong) and strong[i][1] <= s:
            out.append(strong[i])
            i += 1
        if i < len(strong) and strong[i][0] < e:
            continue
        out.append((s, e, k))
    out.extend(strong[i:])
    return out
