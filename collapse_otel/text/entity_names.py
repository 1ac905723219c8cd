"""What is left of a run of capitalised words: the names, titles and dates it holds.

The rule-based extractor's main pattern finds runs of capitalised words; the functions here
clean one run up (leading sentence openers, trailing chat words, titles, shouting), and the
word sets are kept in every casing the text may use, so the hot loop needs no casefold().
"""

from __future__ import annotations

from functools import cache

from . import entity_patterns as pat
from . import entity_words as wl
from .entity_starts import never_names, sentence_initial, strip_leading
from .opener_words import WORDS as OPENER_WORDS

MONTHS = wl.MONTHS
NOT_ALONE = wl.NOT_ALONE


def _cased(words: frozenset[str]) -> frozenset[str]:
    return frozenset(f(w) for w in words for f in (str.capitalize, str.upper, str.lower))


REJECT_CASED = _cased(NOT_ALONE - MONTHS)  # exact-string lookup, no casefold() on the hot path
MONTHS_CASED = _cased(MONTHS)
# one capitalised word opening a sentence: no name if listed, unless named elsewhere in its text
STARTERS_CASED = _cased(wl.SENTENCE_START_WORDS | OPENER_WORDS)
DEMONYMS_CASED = _cased(wl.DEMONYMS)


@cache
def starters_with_dictionary() -> frozenset[str]:
    """:data:`STARTERS_CASED` and the capitalised English words that are never names."""
    return STARTERS_CASED | never_names()
LOWER_WORDS = wl.SENTENCE_START_WORDS | wl.COMMON_WORDS
TITLE_WORDS = _cased(wl.TITLES)
HONORIFICS = _cased(wl.HONORIFICS)
STRIP_FIRST = wl.COMMON_WORDS | wl.NEVER_ALONE  # a span's first word that multiword() cuts
NEVER_ALONE_CASED = _cased(wl.NEVER_ALONE)
# the last of two words that sends the span to multiword(): "... and I", "Afghan Ambassador"
NOT_LAST_CASED = NEVER_ALONE_CASED | _cased(wl.OFFICES)
# spans made only of these are dates, not names: "Saturday Night", "Last Year"
TIME_WORDS = wl.CALENDAR_WORDS | frozenset(
    "last next this night morning evening afternoon year week month day weekend".split()  # noqa: SIM905
)


# Around a nationality word used as a noun, a language or a people ("taught English at",
# "in Czech and", "some Japanese,"): what may follow it, and what before it makes it an
# adjective still ("is Danish.", "a Czech composer").
_AFTER_NOUN = frozenset(
    """and or at in to with as but for from on was is by than which who that into because while
    when where since fluently natively well""".split()  # noqa: SIM905
)
_BEFORE_ADJECTIVE = frozenset(
    """a an is was are were be been being become became becomes very more most not so too as
    all half partly fully proudly""".split()  # noqa: SIM905
)


def demonym_kind(text: str, start: int, end: int) -> str:
    """ "name" for a nationality word used as a noun (a language, a people), else "demonym".

    What follows decides, looking past a list ("German, Scottish and English ancestry"); then
    what comes before ("is Danish.")."""
    i, n = end, len(text)
    for _ in range(8):
        j = _skip_spaces(text, i)
        k = _word_end(text, j)
        after = text[j:k]
        if after in ("and", "or") or not after and text[j:j + 1] == ",":
            m = _skip_spaces(text, k if after else j + 1)
            if text[m:m + 4] in ("and ", "or "):
                m = _skip_spaces(text, m + 3)
            q = _word_end(text, m)
            if text[m:q] in DEMONYMS_CASED or after and text[m:m + 1].isupper():
                i = q
                continue
        if after and after not in _AFTER_NOUN:
            return "demonym"
        if not after and j < n and text[j] not in ".,;:)!?\n\r":  # "Muslim / Hindu"
            return "demonym"
        break
    window = text[max(0, start - 16):start].rstrip(" \t")  # no look past a line break
    before = window[max(window.rfind(" "), window.rfind("\t"), window.rfind("\n")) + 1:]
    return "demonym" if before.lower() in _BEFORE_ADJECTIVE else "name"


def _skip_spaces(text: str, i: int) -> int:
    while i < len(text) and text[i] == " ":
        i += 1
    return i


def _word_end(text: str, i: int) -> int:
    while i < len(text) and text[i].isalpha():
        i += 1
    return i


def syllable_end(text: str, end: int) -> int:
    """End of a name whose last word goes on with a hyphen and a short lower-case syllable, as
    East Asian given names do ("Kim Jong-un", "Hau Lung-bin", "Ban Ki-moon"); not a compound
    ("Bush-era", "Nobel-winning"): the syllable before has at most four letters, the one after
    one to four, and is no English word of its own."""
    j = end + 1
    k = j
    while k < len(text) and text[k].isalpha() and text[k].islower():
        k += 1
    if not 1 <= k - j <= 4 or (k < len(text) and (text[k].isalnum() or text[k] == "-")):
        return end
    i = end - 1
    while i > 0 and text[i - 1].isalpha():
        i -= 1
    if end - i > 4 or text[j:k] in _SUFFIX_WORDS:
        return end
    return k


_SUFFIX_WORDS = frozenset(
    """era led run born wide like free made type size held area rich based old year day style up
    out off on by to the and for""".split()  # noqa: SIM905
)


def gerund(word: str) -> bool:
    """ "Leaving", "Refusing": the -ing form of a common verb opening a sentence."""
    if not word.endswith("ing") or len(word) < 6:
        return False
    stem = word[:-3].lower()
    return stem in LOWER_WORDS or stem + "e" in LOWER_WORDS


def cut_titles(text: str, start: int, end: int) -> list[tuple[int, int, str]]:
    """The name parts of a span holding titles: "US President Barack Obama" -> "US", "Barack
    Obama". A title is cut only before another capitalised word ("Lord of the Rings" stays),
    and, but for "Mr", "Dr"..., not before an institution ("Sheriff Court", "Mayor's Office")."""
    words = text[start:end].split()
    if words[0] in HONORIFICS and TITLE_WORDS.isdisjoint(words[1:]):  # "Mr X", "Dr X Y"
        return part(text, text.find(words[1], start + len(words[0])), end)
    out: list[tuple[int, int, str]] = []
    first = prev_end = -1
    pos = start
    last = len(words) - 1
    skip = 0
    for n, word in enumerate(words):
        s = text.find(word, pos)
        pos = s + len(word)
        if skip:  # the "of (the)" after a title: "Governor of Virginia" -> "Virginia"
            skip -= 1
        elif word in TITLE_WORDS and n < last and (words[n + 1][0].isupper() and (
            word in HONORIFICS or words[n + 1].lower() not in wl.INSTITUTIONS
        ) or words[n + 1] == "of" and n + 1 < last):
            if first >= 0:
                out += part(text, first, prev_end)
            first = -1
            if words[n + 1] == "of":
                skip = 2 if n + 2 < last and words[n + 2] == "the" else 1
        elif n == last and first >= 0 and word.lower() in wl.OFFICES:  # "LA Sheriff" -> "LA"
            out += part(text, first, prev_end)
            return out
        elif first < 0:
            first = s
        prev_end = pos
    if first >= 0:
        out += part(text, first, end)
    return out


def part(text: str, start: int, end: int) -> list[tuple[int, int, str]]:
    word = text[start:end]
    if " " not in word and (len(word) == 1 or word.casefold() in NOT_ALONE):
        return []
    return [(start, end, demonym_kind(text, start, end) if word in DEMONYMS_CASED else "name")]


def multiword(
    text: str, start: int, end: int, first: str, starter: bool = False
) -> list[tuple[int, int, str]]:
    """Clean a span of several capitalised words into the names (or date) it holds.

    Runs of capitals with 3+ words are shouting; leading common words go when the span opens a
    sentence ("The Beatles" -> "Beatles", ``starter``: "Visit Kyoto" -> "Kyoto"); chat words
    ("I", "OK") go from either end; titles are cut (:func:`cut_titles`).
    """
    span = text[start:end]
    words = span.split()
    if len(words) >= 3 and span.isupper():
        return []  # "IM HAVING A HEART ATTACK"
    if starter or first in wl.COMMON_WORDS or first in wl.NEVER_ALONE:
        keep = strip_leading(words, starter or sentence_initial(text, start))
        if keep is None:
            return []
        if keep:
            pos = start
            for raw in words[: keep + 1]:
                start = text.find(raw, pos)
                pos = start + len(raw)
            words = words[keep:]
            if words[0].casefold() in MONTHS:  # "On March 5, 2024"
                date = pat.month_date_pattern().match(text, start)
                if date is not None:
                    return [(start, date.end(), "date")]
    while len(words) > 1 and words[-1].casefold() in wl.NEVER_ALONE:  # "... and I"
        end = text.rfind(words.pop(), start, end)
        while text[end - 1].isspace():
            end -= 1
    if len(words) >= 3 and text[start:end].isupper():
        return []  # what is left is shouting too
    if len(words) == 1:  # one word left
        word = words[0]
        if len(word) <= 1 or word.casefold() in NOT_ALONE:
            return []
        return [(start, end, demonym_kind(text, start, end) if word in DEMONYMS_CASED
                 else "name")]
    if TITLE_WORDS.isdisjoint(words):
        return [(start, end, "name")]
    return cut_titles(text, start, end)


def hump(text: str, start: int, end: int) -> tuple[int, int, str]:
    """A capital inside a word: "getValue", "iPhone", "eBay" are code; "3D", "4K" are names."""
    word_start = start - 1
    while word_start and (text[word_start - 1].isalnum() or text[word_start - 1] == "_"):
        word_start -= 1
    kind = "code" if any(c.islower() for c in text[word_start:start]) else "name"
    return (word_start, end, kind)


def missing_space(text: str, start: int, end: int) -> bool:
    """ "odd.He", "from.Within": two sentences glued together, not a dotted name."""
    for part in text[start:end].split(".")[1:]:
        if part[:1].isupper() and part.casefold() in wl.COMMON_WORDS:
            return True
    return False
