"""Sentence starts for the rule-based entity extractor: where a capital proves nothing.

A capitalised word that opens a sentence (or a line, bullet, heading, quote or bracket) is
capitalised whatever it is, so there its capital is no evidence of a name. What decides instead:

- the word itself: a common lower-case word ("Enjoy", "Opening", "Visit") is not a name there;
- the rest of the same text: a word also written in lower case elsewhere in the text is a common
  word ("Pack light. ... what to pack"), and a common word that also starts a capitalised span
  mid-sentence elsewhere is used as a name by this text ("Rust is fast. ... teams adopt Rust").

Evidence is taken from one text only, never from the other texts of a batch, so
``extract_many`` stays equal to ``extract`` per text.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

#: Characters after which (spaces aside) a word opens a sentence, a line, an item or a quote.
SENTENCE_END = frozenset(".!?:;\n\r\"“”'‘’([{*•>#|-–—…")
_SPACE = frozenset(" \t\u00a0")
# Around a lower-case occurrence that counts as the same word: not "kyoto.jp", "#paris", "re-use".
_BEFORE_WORD = frozenset(" \t\u00a0\n\r\"“‘'([{*")
_AFTER_WORD = frozenset(" \t\u00a0\n\r\"”’'),;:!?]}*")

NAME_ELSEWHERE = 0  # keep the mention only if the word starts a name mid-sentence in the text
LOWER_ELSEWHERE = 1  # drop the mention if the word is written in lower case in the text

Mention = tuple[int, int, str]
#: ``(index into the mentions, word, replacement if the evidence goes against it, mode)``.
Pending = tuple[int, str, "Mention | None", int]


def sentence_initial(text: str, start: int) -> bool:
    """True when the word at ``start`` opens the text, a sentence, a line or a list item."""
    i = start - 1
    while i >= 0 and text[i] in _SPACE:
        i -= 1
    return i < 0 or text[i] in SENTENCE_END or text[i].isdigit()


def resolve(
    text: str,
    found: list[Mention],
    pending: list[Pending],
    bounds: tuple[list[int], list[int]] | None = None,
) -> list[Mention]:
    """Apply the within-text evidence to the ``pending`` mentions of ``found``.

    ``bounds``: the start and end offsets of the texts joined in ``text`` (``extract_many``);
    ``None``: ``text`` is one text.
    """
    out: list[Mention | None] = list(found)
    names: dict[int, set[str]] = {}
    starts: list[int] | None = None
    for index, word, replacement, mode in pending:
        lo, hi = _segment(text, found[index][0], bounds)
        if mode == LOWER_ELSEWHERE:
            if _lower_elsewhere(text, word, lo, hi):
                out[index] = replacement
            continue
        if lo not in names:
            if starts is None:
                starts = [m[0] for m in found]
            names[lo] = _mid_sentence_names(text, found, bisect_left(starts, lo),
                                            bisect_left(starts, hi))
        if word not in names[lo]:
            out[index] = replacement
    return [m for m in out if m is not None]


def _segment(
    text: str, pos: int, bounds: tuple[list[int], list[int]] | None
) -> tuple[int, int]:
    if bounds is None:
        return 0, len(text)
    i = bisect_right(bounds[0], pos) - 1
    return bounds[0][i], bounds[1][i]


def _mid_sentence_names(text: str, found: list[Mention], first: int, last: int) -> set[str]:
    """First words of the name mentions ``found[first:last]`` that do not open a sentence."""
    out = set()
    for s, e, kind in found[first:last]:
        if kind == "name" and not sentence_initial(text, s):
            space = text.find(" ", s, e)
            out.add(text[s:e] if space < 0 else text[s:space])
    return out


def _lower_elsewhere(text: str, word: str, lo: int, hi: int) -> bool:
    """``word`` written in lower case as a word of its own in ``text[lo:hi]``."""
    low = word.lower()
    n = len(low)
    i = text.find(low, lo, hi)
    while i >= 0:
        j = i + n
        if (i == lo or text[i - 1] in _BEFORE_WORD) and (
            j == hi or text[j] in _AFTER_WORD
            or (text[j] == "." and (j + 1 == hi or text[j + 1] in _AFTER_WORD))
        ):
            return True
        i = text.find(low, j, hi)
    return False
