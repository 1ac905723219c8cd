"""Entity extraction for the entity-diversity signal.

An extractor turns one answer into entity *mentions*: ``spans()`` gives their character offsets in
the input, ``extract()`` gives one normalised key per mention (repeats count, so the aggregator can
compute mentions, distinct entities and entropy). Keys are NFKC, case-folded and
whitespace-collapsed, so "New York" and "new  york" are one entity.

The default, :class:`RuleBasedEntityExtractor`, is offline, deterministic and cheap enough to run
on every answer. :class:`SpacyEntityExtractor` wraps a user's own spaCy pipeline when better
recall is worth the cost. Extractors never raise: whatever goes wrong yields fewer entities.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

from . import entity_patterns as pat
from . import entity_words as wl
from .entity_names import (
    DEMONYMS_CASED,
    MONTHS,
    MONTHS_CASED,
    NEVER_ALONE_CASED,
    NOT_LAST_CASED,
    REJECT_CASED,
    STARTERS_CASED,
    STRIP_FIRST,
    TIME_WORDS,
    TITLE_WORDS,
    demonym_kind,
    gerund,
    hump,
    missing_space,
    multiword,
    starters_with_dictionary,
    syllable_end,
)
from .entity_spans import anchored, find_all, merge_spans
from .entity_starts import (
    SENTENCE_END,
    Bounds,
    lower_elsewhere,
    named_elsewhere,
    sentence_initial,
)

#: Every kind the rule-based extractor knows. ``name`` = capitalised proper-noun spans;
#: ``demonym`` = a nationality or religion adjective standing alone ("Australian", "Muslims").
ENTITY_KINDS = frozenset(
    {"name", "demonym", "quantity", "date", "url", "email", "code", "handle", "hashtag"}
)

_BATCH_SEPARATOR = "\n\n"  # no rule matches across a line break
_DOTTED_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")


@runtime_checkable
class EntityExtractor(Protocol):
    """What the aggregator needs from an entity extractor. Implementations must never raise."""

    def extract(self, text: str) -> list[str]:
        """One normalised key per entity mention, in text order."""
        ...

    def spans(self, text: str) -> list[tuple[int, int]]:
        """``(start, end)`` character offsets of the mentions in ``text``, in text order."""
        ...


def entity_key(mention: str) -> str:
    """NFKC, case-folded, whitespace collapsed: the identity of an entity across answers."""
    if not mention.isascii():
        mention = unicodedata.normalize("NFKC", mention)
    return " ".join(mention.casefold().split())


class RuleBasedEntityExtractor:
    """Regex rules for names, quantities, dates, URLs, e-mails and code identifiers.

    ``kinds`` selects which kinds are reported (default: all of :data:`ENTITY_KINDS`). Text past
    ``max_chars`` is not analysed, which bounds the time one huge answer can take.
    """

    def __init__(self, kinds: Iterable[str] | None = None, max_chars: int = 200_000) -> None:
        chosen = ENTITY_KINDS if kinds is None else frozenset(kinds)
        unknown = chosen - ENTITY_KINDS
        if unknown:
            raise ValueError(f"unknown entity kinds: {sorted(unknown)}")
        self.kinds = chosen
        self.max_chars = max(0, int(max_chars))
        self._main = pat.main_pattern()
        self._month_date = pat.month_date_pattern()
        self._object_after = pat.object_after_pattern()
        self._first_group = self._main.groupindex["first"]
        self._url = pat.url_pattern()
        self._tick = pat.tick_pattern()
        self._email = pat.email_pattern()
        self._snake = pat.snake_pattern()
        self._dotted_anchor = pat.dotted_anchor()
        self._dotted = pat.dotted_pattern()
        self._starters = starters_with_dictionary()

    def __repr__(self) -> str:
        return f"RuleBasedEntityExtractor(kinds={sorted(self.kinds)!r})"

    def extract(self, text: str) -> list[str]:
        try:
            if not isinstance(text, str) or not text:
                return []
            text = text[: self.max_chars]
            found = self._find_in(text)
            if text.isascii():  # the usual case: NFKC is the identity, skip it per mention
                keys = []
                for s, e, _ in found:
                    key = text[s:e].casefold()
                    # tabs, line breaks, runs of spaces, spaces at an end (`code `)
                    if not key.isprintable() or " " in key and (
                            "  " in key or key[0] == " " or key[-1] == " "):
                        key = " ".join(key.split())
                    keys.append(key)
                return keys
            return [entity_key(text[s:e]) for s, e, _ in found]
        except Exception:  # never raise into the pipeline; a bad answer just has no entities
            return []

    def extract_many(self, texts: Sequence[str]) -> list[list[str]]:
        """``[extract(t) for t in texts]``, found in one scan of the texts joined by blank lines
        (no rule matches across a line break), which saves the per-call work of every rule."""
        try:
            parts = [t[: self.max_chars] if isinstance(t, str) else "" for t in texts]
            starts, ends, pos = [], [], 0
            for part in parts:
                starts.append(pos)
                ends.append(pos + len(part))
                pos += len(part) + len(_BATCH_SEPARATOR)
            joined = _BATCH_SEPARATOR.join(parts)
            out: list[list[str]] = [[] for _ in parts]
            for s, e, _ in self._find_in(joined, (starts, ends)):
                i = bisect_right(starts, s) - 1
                if e > starts[i] + len(parts[i]):  # across a separator: never expected
                    return [self.extract(t) for t in texts]
                mention = joined[s:e]
                if parts[i].isascii():
                    key = mention.casefold()
                    if not key.isprintable() or " " in key and (
                            "  " in key or key[0] == " " or key[-1] == " "):
                        key = " ".join(key.split())
                    out[i].append(key)
                else:
                    out[i].append(entity_key(mention))
            return out
        except Exception:  # never raise into the pipeline
            return [self.extract(t) for t in texts]

    def spans(self, text: str) -> list[tuple[int, int]]:
        try:
            return [(s, e) for s, e, _ in self._find(text)]
        except Exception:
            return []

    def mentions(self, text: str) -> list[tuple[int, int, str]]:
        """``(start, end, kind)`` per mention: what ``spans()`` reports, with the rule that fired."""
        try:
            return self._find(text)
        except Exception:
            return []

    # -- internals -------------------------------------------------------------------------

    def _find(self, text: str) -> list[tuple[int, int, str]]:
        if not isinstance(text, str) or not text:
            return []
        return self._find_in(text[: self.max_chars])

    def _find_in(
        self, text: str, bounds: Bounds | None = None
    ) -> list[tuple[int, int, str]]:
        """``bounds``: start and end offsets of the texts joined in ``text`` (``extract_many``)."""
        strong = self._strong(text)
        found = self._names_and_numbers(text, bounds, starters=self._starters)
        if strong:
            found = merge_spans(strong, found)
        kinds = self.kinds
        if len(kinds) == len(ENTITY_KINDS):
            return found
        return [m for m in found if m[2] in kinds]

    def _strong(self, text: str) -> list[tuple[int, int, str]]:
        """Lower-case-led kinds that win over anything overlapping them (URLs, e-mails, code).

        Each kind is looked for only when a one-character test (memchr, nanoseconds) says it can
        be there: a multi-character ``in`` test costs a pass over the text (about 1 us here)."""
        out: list[tuple[int, int, str]] = []
        if "`" in text:
            ticks = self._tick.finditer(text)
            out += [(*m.span(1), "code") for m in ticks if not m.group(1).isspace()]
        dots: list[int] = []
        www = False
        if "." in text:
            for m in self._dotted_anchor.finditer(text):
                i = m.start()
                if text[i - 3:i] == "www":
                    www = True
                if text[i + 1:i + 2] in _DOTTED_START:
                    dots.append(i)
        if ("/" in text and "://" in text) or www:
            out += [(*m.span(), "url") for m in self._url.finditer(text)]
        if "@" in text:
            anchored(text, find_all(text, "@"), self._email, "email", out)
        if "_" in text:
            anchored(text, find_all(text, "_"), self._snake, "code", out)
        if dots:
            found: list[tuple[int, int, str]] = []
            anchored(text, dots, self._dotted, "code", found)
            out += [m for m in found if not missing_space(text, m[0], m[1])]
        if len(out) > 1:
            out = merge_spans([], sorted(out, key=lambda m: (m[0], -m[1])))
        return out

    def _names_and_numbers(  # noqa: C901 (one rule per branch, kept together for speed)
        self, text: str, bounds: Bounds | None,
        # The sets and helpers the hot loop reads, bound once here instead of at every call.
        reject: frozenset[str] = REJECT_CASED, starters: frozenset[str] = STARTERS_CASED,
        starter_words: frozenset[str] = wl.SENTENCE_START_WORDS,
        opens: Callable[[str, int], bool] = sentence_initial, ends: frozenset[str] = SENTENCE_END,
        months: frozenset[str] = MONTHS_CASED, demonyms: frozenset[str] = DEMONYMS_CASED,
        strip_first: frozenset[str] = STRIP_FIRST, never_alone: frozenset[str] = NEVER_ALONE_CASED,
        titles: frozenset[str] = TITLE_WORDS, suffixes: tuple[str, ...] = wl.NON_NAME_SUFFIXES,
        common: frozenset[str] = wl.COMMON_WORDS, not_alone: frozenset[str] = wl.NOT_ALONE,
        regions: frozenset[str] = wl.REGION_WORDS, roles: tuple[str, ...] = wl.ROLE_SUFFIXES,
        not_last: frozenset[str] = NOT_LAST_CASED, time_words: frozenset[str] = TIME_WORDS,
    ) -> list[tuple[int, int, str]]:
        """Name, number and date mentions; ``bounds`` as for :meth:`_find_in` (the evidence for
        a sentence-initial word comes from its own text only)."""
        # The hot loop: runs once per capitalised word / number in every answer, so it is
        # inlined and ordered by frequency (about half the matches are "The", "I", "It"...).
        out: list[tuple[int, int, str]] = []
        add = out.append
        object_after = self._object_after
        first_group = self._first_group
        last_end = 0
        for m in self._main.finditer(text):
            start, end = m.span()
            if start < last_end:
                continue  # inside a month-first date that ran past the regex match
            kind = m.lastgroup
            if kind == "name":
                word = text[start:end]
                if word in reject:
                    if word.isupper() and len(word) > 1 and text[start - 1:start] == "(" \
                            and text[end:end + 1] == ")":
                        add((start, end, "name"))  # "World Health Organization (WHO)"
                    continue
                first_end = m.end(first_group)
                if text[end:end + 1] == "-" and first_end != end:  # "Kim Jong-un"
                    end = syllable_end(text, end)
                if first_end == end:  # one word
                    if word in months:
                        date = self._month_date.match(text, start)
                        if date is not None:
                            last_end = date.end()
                            add((start, last_end, "date"))
                        continue
                    if end - start == 1:
                        continue
                    prev = text[start - 2] if start > 1 and text[start - 1] == " " else ""
                    if prev.isalpha() or prev == ",":
                        pass  # "... word Name": mid-sentence, the usual case; no call
                    elif prev in ends or opens(text, start):
                        if word in starters:  # "Opening": a name only if used as one elsewhere
                            if not named_elsewhere(text, word, start, bounds):
                                continue
                        elif word.endswith(suffixes) or (word[-1] == "g" and gerund(word)) or (
                            word[1:].islower() and (
                                object_after.match(text, end)  # "Diversify your portfolio"
                                or lower_elsewhere(text, word, start, bounds)  # "Pack... pack"
                            )
                        ):
                            continue
                    add((start, end, demonym_kind(text, start, end) if word in demonyms
                         else "name"))
                    continue
                first = text[start:first_end].casefold()
                if first in MONTHS:
                    date = self._month_date.match(text, start)
                    if date is not None:
                        last_end = date.end()
                        add((start, last_end, "date"))
                        continue
                starter = (first in starter_words or first.endswith(roles)
                           and text[start:first_end] in starters) and not (
                    start > 1 and text[start - 1] == " " and text[start - 2].isalpha()
                ) and opens(text, start)
                if starter and named_elsewhere(text, text[start:first_end], start, bounds):
                    starter = False  # "Total Recall ... fans of Total Recall": kept whole
                if not starter and first not in strip_first:  # the usual case, inlined
                    space = text.rfind(" ", first_end, end)
                    if space == first_end:  # two words: "New York", no split() needed
                        if (text[start:first_end] not in titles
                                and text[space + 1:end] not in not_last):
                            if first in time_words and text[space + 1:end].lower() in time_words:
                                last_end = end  # "Saturday Night", "Last Year": a date
                                continue
                            # "Roman Catholic church", "North American tour": an adjective
                            add((start, end, demonym_kind(text, start, end)
                                 if first in regions and text[space + 1:end] in demonyms
                                 else "name"))
                            last_end = end
                            continue
                    else:
                        words = text[start:end].split()
                        if (words[-1] not in never_alone and titles.isdisjoint(words)
                                and (len(words) < 3 or not text[start:end].isupper())):
                            add((start, end, "name"))
                            last_end = end
                            continue
                elif (first in common and text.rfind(" ", first_end, end) == first_end
                      and opens(text, start)):
                    # "The Beatles", "In London" opening a sentence: what multiword() does to
                    # two words, inlined (the second word alone, if it can stand alone)
                    second = text[first_end + 1:end]
                    low = second.casefold()
                    if low not in MONTHS:
                        if len(second) > 1 and low not in not_alone and low not in starter_words \
                                and low not in wl.CONNECTORS and not low.isdigit():
                            add((first_end + 1, end, demonym_kind(text, first_end + 1, end)
                                 if second in demonyms else "name"))
                            last_end = end
                        continue
                spans = multiword(text, start, end, first, starter)
                if spans:
                    out += spans
                    last_end = spans[-1][1]
            elif kind == "hump":
                span = hump(text, start, end)
                if not out or out[-1][1] <= span[0]:  # "$0A": "$0" already taken
                    add(span)
            else:
                add((start, end, (kind or "").rstrip("0123456789")))
        return out


class SpacyEntityExtractor:
    """Adapter for a user-installed spaCy pipeline: ``SpacyEntityExtractor(spacy.load(...))``.

    Anything with ``nlp(text).ents`` (items with ``start_char``/``end_char``) works. spaCy is never
    imported here and is not a dependency: install it yourself (``pip install collapse-otel[spacy]``).
    ``labels`` keeps only those entity labels (e.g. ``{"PERSON", "ORG"}``).
    """

    def __init__(self, nlp: Callable[[str], Any], labels: Iterable[str] | None = None) -> None:
        self.nlp = nlp
        self.labels = None if labels is None else frozenset(labels)

    @classmethod
    def load(cls, model: str = "en_core_web_sm", labels: Iterable[str] | None = None,
             **kwargs: Any) -> SpacyEntityExtractor:
        """``spacy.load(model, **kwargs)``, imported only here; raises if spaCy is missing."""
        try:
            import spacy
        except ImportError as exc:
            raise ImportError(
                "SpacyEntityExtractor needs spaCy: pip install 'collapse-otel[spacy]' and a model"
                f" (python -m spacy download {model})"
            ) from exc
        return cls(spacy.load(model, **kwargs), labels=labels)

    def spans(self, text: str) -> list[tuple[int, int]]:
        try:
            if not isinstance(text, str) or not text:
                return []
            doc = self.nlp(text)
            out = []
            for ent in doc.ents:
                if self.labels is not None and ent.label_ not in self.labels:
                    continue
                s, e = int(ent.start_char), int(ent.end_char)
                if 0 <= s < e <= len(text):
                    out.append((s, e))
            return sorted(out)
        except Exception:  # a broken pipeline must not break the host
            return []

    def extract(self, text: str) -> list[str]:
        try:
            return [entity_key(text[s:e]) for s, e in self.spans(text)]
        except Exception:
            return []
