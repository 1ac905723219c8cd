"""Regular expressions and word lists for the rule-based entity extractor.

Kept apart from the extractor so the rules can be read (and tuned) in one place; the word
lists they use are in entity_words.py. Everything is
compiled lazily on first use and cached, so importing the package costs nothing.

Speed comes from the shape of the main pattern: every branch starts with a capital letter, a
digit, or one of ``$€£¥₹@#``, so the regex engine skips the (mostly lower-case) rest of the text
in C. Kinds that start with a lower-case letter (URLs, e-mails, snake_case, dotted names) have
their own patterns, run only when a cheap substring test says they can match.
"""

from __future__ import annotations

import re
import sys
from functools import cache

from .entity_words import COMMON_WORDS, CONNECTORS, OBJECT_WORDS

_MONTH = (
    r"(?:Jan(?:uary|\.)?|Feb(?:ruary|\.)?|Mar(?:ch|\.)?|Apr(?:il|\.)?|May|June?|Jun\.|July?"
    r"|Jul\.|Aug(?:ust|\.)?|Sep(?:tember|t\.?|\.)?|Oct(?:ober|\.)?|Nov(?:ember|\.)?"
    r"|Dec(?:ember|\.)?)"
)
_ORD = r"(?:st|nd|rd|th)?"
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_SP = r"[ \t\u00a0]"
# Units after a number, as word lists compiled into tries (``re`` tries alternatives one by one,
# so a flat list of 80 words would cost about a microsecond per number).
_UNIT_SYMBOLS = """
    kB KB MB GB TB PB KiB MiB GiB TiB bps kbps Mbps Gbps Hz kHz MHz GHz W kW MW GW mm cm m km nm
    km/h mph kph mg g kg lb lbs oz ft mi l L ml mL mAh ms µs ns px dpi fps k K M b B bn mn
    USD EUR GBP JPY CHF INR
    """
UNIT_SYMBOLS = _UNIT_SYMBOLS.split()
_UNIT_WORDS = """
    percent dollar dollars euro euros pound pounds yen rupee rupees byte bytes kilobyte kilobytes
    megabyte megabytes gigabyte gigabytes terabyte terabytes kilometre kilometres kilometer
    kilometers metre metres meter meters centimetre centimetres centimeter centimeters mile miles
    feet foot inch inches kilogram kilograms gram grams tonne tonnes ton tons litre litres liter
    liters second seconds minute minutes hour hours day days week weeks month months year years
    decade decades century centuries million billion trillion thousand token tokens degree
    degrees volt volts watt watts calories kcal
    """
UNIT_WORDS = _UNIT_WORDS.split()


def trie(words: list[str]) -> str:
    """A regex matching exactly ``words``, factored by common prefixes."""
    root: dict = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:
        alts = [re.escape(ch) + emit(sub) for ch, sub in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 and len(alts[0]) == 1 else "(?:" + "|".join(alts) + ")"
        return body + "?" if "" in node else body

    return emit(root)


_CURRENCY = r"[$€£¥₹]"
# Possessive quantifiers (Python 3.11+) skip backtracking state; the match is the same without.
_P = "+" if sys.version_info >= (3, 11) else ""
_BIG_NUMBER = r"(?i:million|billion|trillion|thousand)"
_TITLES = ("Mr", "Mrs", "Ms", "Dr", "Prof", "St", "Sr", "Jr", "Mt", "Gen", "Sen", "Gov")


@cache
def uppercase_class() -> str:
    """A character class of the BMP's upper- and title-case letters (``re`` has no ``\\p{Lu}``)."""
    ranges: list[list[int]] = []
    for cp in range(0x10000):
        ch = chr(cp)
        if ch.isupper() or ch.istitle():
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1][1] = cp
            else:
                ranges.append([cp, cp])
    parts = [
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    ]
    return "[" + "".join(parts) + "]"


def _one_scan(branches: list[tuple[str, str, list[tuple[str, str]]]]) -> str:
    """Join ``(first-character class, guard, [(group, rest), ...])`` behind ONE leading class.

    ``re`` only skips ahead fast when a pattern opens with a single character class; a pattern
    opening with an alternation is tried at every position (about 30 times slower here). So the
    first character is consumed by the union class, and a one-character look-behind picks the
    branches it can start; ``guard`` is checked once for all of them.
    """
    union = "".join(first[1:-1] for first, _, _ in branches)
    alts = "|".join(
        f"(?<={first}){guard}(?:" + "|".join(f"(?P<{g}>{rest})" for g, rest in rests) + ")"
        for first, guard, rests in branches
    )
    return f"[{union}](?:{alts})"


@cache
def main_pattern() -> re.Pattern[str]:
    """Dates, quantities, handles, hashtags, `code` and capitalised name spans.

    Group names are the kind plus an optional digit (``date1``); ``first`` marks the end of a
    name's first word. Month-first dates ("March 12, 2024") start as names and are re-matched
    with :func:`month_date_pattern` by the caller.
    """
    up = uppercase_class()
    # words that open a sentence after an initial's dot ("Plan B. Then"): no middle initial
    openers = trie(sorted({w.capitalize() for w in COMMON_WORDS if w.isalpha()}))
    # The rest of a capitalised word: "Paris", "O'Brien", "Jean-Luc", "AT&T", "U.S.", "Mr.";
    # a possessive 's is left out.
    titles: dict[int, list[str]] = {}
    for t in _TITLES:
        titles.setdefault(len(t), []).append(t)
    after_title = "|".join(rf"(?<=\b(?:{'|'.join(ts)})\.)" for ts in titles.values())
    # A middle initial joins the words around it ("Charles J. Fillmore", "L. Ron Hubbard")
    # unless the next word opens a sentence ("Plan B. Then"); a last initial keeps its dot
    # before a comma or a lower-case word ("George W., then").
    # One \w run, then runs joined by ' - & . ("O'Brien", "Jean-Luc", "AT&T", "U.S."), then the
    # dot of an initialism or a title ("U.S.", "Mr."). Loops over runs, not characters, are
    # much faster in ``re``. A possessive 's is left out.
    word_rest = (
        rf"\w*{_P}(?:(?:['’](?![sS]\b)|[-&](?={up}|\d)|\.(?={up}(?:\.|\b)))\w+{_P}"
        rf"|\.(?:(?<=\.{up}\.)|(?:{after_title})(?={_SP}+{up})"
        rf"|(?<=\b{up}\.)(?={_SP}+{up}[\w.])(?!{_SP}+(?:{openers})\b)"
        rf"|(?<=[\w.] {up}\.)(?=[,;:)\]]|{_SP}+[a-z])))*{_P}"
    )
    capword = up + word_rest
    # Connectors join capitalised words ("Bank of America"), not a capital "The" after them,
    # which opens the next name ("Matthew Ingram of The Globe"); "the" alone joins nothing:
    # news NER sets split "Peter the Great" as they split "Rathbun the Scientology (church)".
    conn = trie(sorted(CONNECTORS))
    name_rest = (
        rf"(?P<first>{word_rest})"
        rf"(?:{_SP}+(?:(?!the\b)(?:(?:{conn}){_SP}+){{1,2}}(?!The\b){capword}|{capword}"
        rf"|\d{{1,3}}(?![\w.,/:-]|{_SP}*[-–]{_SP}*\d)))*{_P}"
    )
    num_rest = r"\d{0,2}(?:,\d{3})+(?:\.\d+)?|\d*(?:\.\d+)?"
    units = (
        rf"%|‰|°[CF]?|{trie(UNIT_SYMBOLS)}\b|(?i:{trie(UNIT_WORDS)}|per cent)\b"
    )
    branches = [
        # A capital inside a word ("getValue", "iPhone", "3D"): the caller classifies it.
        (up, rf"(?<=\w{up})", [("hump", r"\w*")]),
        (up, "", [("name", name_rest)]),  # by far the most frequent
        (
            "[0-9]",
            r"(?<![\w.,][0-9])",  # a number that does not continue a word or another number
            [
                ("date1", r"\d{3}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d)?)?(?!\d)"),
                ("date2", r"\d?[/.]\d{1,2}[/.](?:\d{4}|\d\d)(?!\d)"),
                ("date3", rf"\d?{_ORD}{_SP}+(?:of{_SP}+)?{_MONTH}(?:,?{_SP}+\d{{4}})?(?!\w)"),
                ("quantity1", rf"(?:{num_rest}){_SP}?(?:{units}|{_CURRENCY})"),
            ],
        ),
        (
            _CURRENCY,
            "",
            [("quantity2", rf"{_SP}?(?:{_NUM})(?:{_SP}?(?:[kKmMbB]n?\b|{_BIG_NUMBER}\b))?")],
        ),
        ("[@]", r"(?<![\w@]@)", [("handle", r"[A-Za-z0-9_]{1,30}(?![\w@])")]),
        ("[#]", r"(?<![\w&#]#)", [("hashtag", r"[^\W\d_]\w{0,60}")]),
    ]
    return re.compile(_one_scan(branches))


@cache
def month_date_pattern() -> re.Pattern[str]:
    """Month-first dates: "March 12, 2024", "Mar 12th", "March 2024"."""
    return re.compile(
        rf"{_MONTH}{_SP}+(?:\d{{1,2}}{_ORD}(?:,?{_SP}+\d{{4}})?|\d{{4}})(?!\w)"
    )


@cache
def object_after_pattern() -> re.Pattern[str]:
    """One of :data:`OBJECT_WORDS` after spaces, matched where a word ends."""
    return re.compile(rf"{_SP}+(?:{trie(sorted(OBJECT_WORDS))})\b")


@cache
def tick_pattern() -> re.Pattern[str]:
    """Markdown inline code: the text between single backticks, one line, up to 80 characters."""
    return re.compile(r"`([^`\n]{1,80})`")


@cache
def url_pattern() -> re.Pattern[str]:
    """http(s)/ftp URLs and www. hosts, without trailing sentence punctuation."""
    return re.compile(r"(?:https?://|ftp://|www\.)[^\s<>\"'`]*[^\s<>\"'`.,;:!?)\]}]")


# The patterns below are matched with ``.match()`` at the start of the word around an anchor
# character ("@", "_", a dot glued to a letter), found by a fast scan; see entity_spans.anchored.


@cache
def email_pattern() -> re.Pattern[str]:
    return re.compile(r"[\w+-][\w.+-]*@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")


@cache
def snake_pattern() -> re.Pattern[str]:
    """snake_case / SCREAMING_CASE / __dunder__ identifiers, optionally dotted or called."""
    return re.compile(
        r"_*[A-Za-z][A-Za-z0-9]*(?:_+[A-Za-z0-9]+)+_*(?:\.[A-Za-z_]\w+)*(?:\(\))?"
        r"|__[A-Za-z0-9]+__(?:\(\))?"
    )


@cache
def dotted_anchor() -> re.Pattern[str]:
    """A dot glued to a following letter, as in ``os.path``, or ending "www": one scan for the
    dotted-name and the www. rules; starts with a literal, so fast."""
    return re.compile(r"\.(?:(?=[A-Za-z_])|(?<=www\.))")


@cache
def dotted_pattern() -> re.Pattern[str]:
    """``pkg.module.name`` and ``obj.method()``; every part has two or more characters."""
    return re.compile(r"[A-Za-z_][A-Za-z0-9_]+(?:\.[A-Za-z_][A-Za-z0-9_]+)+(?:\(\))?(?![\w@])")
