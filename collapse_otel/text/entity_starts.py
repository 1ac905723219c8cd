"""Sentence starts for the rule-based entity extractor: where a capital proves nothing.

A word that opens a sentence (or the text, a line, a bullet, a heading, a quote or a bracket) is
capitalised whatever it is, so there its capital is no evidence of a name. What decides instead:

- the word itself: a frequent lower-case word (entity_words.SENTENCE_START_WORDS, generated
  from WikiText-2, and the hand lists) is no name there ("Opening hours", "Book early"), and is
  cut from the front of a longer span ("Visit Kyoto" -> "Kyoto");
- the next word: followed by an object ("Diversify your portfolio"), it is a verb;
- the rest of the same text: a word also written in lower case there is a common word
  ("Symptoms fade. Other symptoms..."), and a listed word that also starts a name mid-sentence
  there is used as a name ("Total is a French company ... analysts expect Total to").

Evidence is taken from one text only, never from the other texts of a batch, so
``extract_many`` stays equal to ``extract`` per text.
"""

from __future__ import annotations

import gzip
from bisect import bisect_right
from functools import cache
from importlib import resources

from . import entity_words as wl

#: Characters after which (spaces aside) a word opens a sentence, a line, an item or a quote.
SENTENCE_END = frozenset(".!?:;\n\r\"“”'‘’([{*•>#|-–—…")
_SPACE = frozenset(" \t\u00a0")
# Around a lower-case occurrence that counts as the same word: not "kyoto.jp", "#paris", "re-use".
_BEFORE_WORD = frozenset(" \t\u00a0\n\r\"“‘'([{*")
_AFTER_WORD = frozenset(" \t\u00a0\n\r\"”’'),;:!?]}*")


# A capital article or possessive opening a span mid-sentence is not part of the name, as news
# NER sets have it ("in The Hague" -> "Hague", "in A Single Man" -> "Single Man").
_ARTICLES = frozenset(("The", "A", "An", "My", "His", "Her", "Our", "Their", "Your"))

Bounds = tuple[list[int], list[int]]  # start and end offsets of the texts joined in one scan


def sentence_initial(text: str, start: int) -> bool:
    """True when the word at ``start`` opens the text, a sentence, a line or a list item."""
    i = start - 1
    while i >= 0 and text[i] in _SPACE:
        i -= 1
    return i < 0 or text[i] in SENTENCE_END or text[i].isdigit()


def named_elsewhere(text: str, word: str, pos: int, bounds: Bounds | None) -> bool:
    """``word`` (at ``pos``) also opens a run of capitalised words mid-sentence in its text, as
    a name does ("... expect Total to grow"); a title-case heading ("How To Book") does not."""
    lo, hi = (0, len(text)) if bounds is None else _segment(pos, bounds)
    n = len(word)
    i = text.find(word, lo, hi)
    while i >= 0:
        j = i + n
        if i != pos and (j == hi or not text[j].isalnum()) and (
            i == lo or not text[i - 1].isalnum()
        ) and not sentence_initial(text, i) and not _previous_word(text, i, lo)[:1].isupper():
            return True
        i = text.find(word, j, hi)
    return False


def lower_elsewhere(text: str, word: str, pos: int, bounds: Bounds | None) -> bool:
    """``word`` (at ``pos``) is also written in lower case, as a word of its own, in its text."""
    low = word.lower()
    lo, hi = (0, len(text)) if bounds is None else _segment(pos, bounds)
    i = text.find(low, lo, hi)
    n = len(low)
    while i >= 0:
        j = i + n
        if (i == lo or text[i - 1] in _BEFORE_WORD) and (
            j == hi or text[j] in _AFTER_WORD
            or (text[j] == "." and (j + 1 == hi or text[j + 1] in _AFTER_WORD))
        ):
            return True
        i = text.find(low, j, hi)
    return False


def _previous_word(text: str, pos: int, lo: int) -> str:
    end = pos
    while end > lo and text[end - 1] in _SPACE:
        end -= 1
    start = end
    while start > lo and not text[start - 1].isspace():
        start -= 1
    return text[start:end]


def _segment(pos: int, bounds: Bounds) -> tuple[int, int]:
    i = bisect_right(bounds[0], pos) - 1
    return bounds[0][i], bounds[1][i]


def strip_leading(words: list[str], initial: bool) -> int | None:
    """Index of the first word left of a capitalised span once leading non-name words are cut.

    Cut: chat words; common words when the span opens a sentence or is in capitals ("NOT",
    "BEST"); frequent lower-case words in the run of capitals that opens a sentence ("Opening
    Hours"), but not past a connector ("Fans of Total Recall" -> "Total Recall"); and the
    connectors or numbers that follow a cut word. ``None``: nothing left.
    """
    starters = initial
    for n, raw in enumerate(words):
        word = raw.casefold()
        if n and (word in wl.CONNECTORS or word.isdigit()):
            starters = False
            continue
        drop = word in wl.NEVER_ALONE or (not n and raw in _ARTICLES) or (
            word in wl.COMMON_WORDS and (initial or (len(raw) > 1 and raw.isupper()))
        ) or (starters and (word in wl.SENTENCE_START_WORDS or not n and word.endswith(
            wl.ROLE_SUFFIXES) and raw in never_names()))
        if not drop:
            return n
    return None


@cache
def never_names() -> frozenset[str]:
    """Capitalised, the English words a spelling dictionary never capitalises ("Hackers",
    "Biologist"; english_words.txt.gz), read on first use."""
    try:
        data = resources.files(__package__).joinpath("english_words.txt.gz").read_bytes()
        words = gzip.decompress(data).decode("ascii").split()
    except (OSError, ValueError):  # a broken install: the hand lists still work
        words = []
    return frozenset(w.capitalize() for w in words)
