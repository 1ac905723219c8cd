"""Regular expressions and word lists for the rule-based entity extractor.

Kept apart from the extractor so the rules can be read (and tuned) in one place. Everything is
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

from .common_words import WORDS as _LOWER_CASE_WORDS

# Lower-case words allowed inside a multi-word name, between two capitalised words:
# "Bank of America", "Lord of the Rings", "Vincent van Gogh", "Rio de Janeiro". Not "and":
# "Alice and Bob" are two entities far more often than one.
CONNECTORS = frozenset(
    ("of", "the", "de", "da", "di", "do", "dos", "das", "del", "della", "des", "du", "van", "von",
     "der", "den", "ter", "la", "le", "el", "al", "bin", "ibn", "y")
)

# Capitalised at the start of a sentence only because they start it: function words, pronouns,
# frequent openers, interjections and chat words. A leading run of them is cut off a span that
# opens a sentence (and off any span when written in capitals, as in "NOT" or "BEST").
_COMMON_WORDS = """
    a an the this that these those there here it its it's i i'm i've i'll i'd me my mine we we're
    we've our ours you you're you've your yours he he's him his she she's her hers they they're
    them their theirs who whom whose which what what's when where why how whoever whatever
    and or but nor so yet if then else than because since as though although while unless until
    after before once also just only even still already again maybe perhaps please thanks thank
    yes yeah yep yup no nope nah not never always often sometimes usually oh ok okay hey hi hello
    wow well now today tonight tomorrow yesterday soon later finally
    however therefore thus hence meanwhile moreover furthermore instead otherwise anyway indeed
    actually basically really very too much many more most some any all each every both either
    neither few several other another such same own one two three four five six seven eight
    nine ten eleven twelve twenty thirty forty fifty hundred thousand firstly secondly thirdly
    lastly in on at by for from to of off up down out over under into onto upon about above
    below between through during without within along across around against among near like with
    is are was were be been being am do does did done doing have has had having can could shall
    should will would may might must let let's get got go going gone make made see look looks
    love loved want need know think say said tell use try take give keep find call come came
    check stop wait stay leave feel hope watch subscribe share follow click read learn ask visit
    contact consult refer apply
    awesome amazing beautiful funny fake glad sorry write send
    note step example answer question summary conclusion overall result results important
    additionally certainly consider ensure remember install run create add set define avoid
    include provide start open select choose enable configure understand identify implement
    review update based according depending using given key main benefits tips steps option
    options solution approach reason reasons definition introduction background explanation
    features usage output input error warning tip here's there's everyday everything nothing
    something anything everyone someone anyone people video movie kids girl boy man guy guys
    welcome literally seriously sincerely anytime kinda luv congrats bye rip coming mom dad mum
    im ive id ill thats dont cant wont isnt didnt doesnt ca wo u ur da dat dis
    lol lmao lmfao rofl omg wtf btw imo imho tbh idk pls plz thx ty xd haha hahaha damn dude
    bro bruh fuck shit god omfg yay ugh hmm aw aww
    cheers enjoy happy congratulations greetings regards absolutely definitely alright
    """
COMMON_WORDS = frozenset(_COMMON_WORDS.split())

# Adjectives that open many names ("New York", "Great Britain", "Big Ben", "Little Rock"): not
# an entity alone, but never cut off a longer span.
_ALONE_ONLY = """
    new old good great best better bad big small little long high low right left sure true nice
    cool super poor pure real first second third next last
    """
ALONE_ONLY = frozenset(_ALONE_ONLY.split())

# Chat tokens that are never entities: cut from either end of a capitalised span.
_NEVER_ALONE = """
    i i'm i've i'll i'd im ive ok okay rt lol lmao lmfao omg wtf btw imo imho tbh idk pls plz thx
    xd yes no hi hey hello
    """
NEVER_ALONE = frozenset(_NEVER_ALONE.split())

# Titles before a name are not part of it, as in the CoNLL-2003 and MUC guidelines: "President
# Barack Obama" -> "Barack Obama", "NASA Administrator Charles Bolden" -> "NASA", "Charles
# Bolden". Cut only before another capitalised word ("The Lord of the Rings" stays whole), and
# alone they are no entity. Not "General" (General Motors), "Lady" (Lady Gaga), "Major".
_TITLES = """
    mr mr. mrs mrs. ms ms. dr dr. prof prof. professor president vice senator sen. rep.
    representative congressman congresswoman governor gov. mayor minister prime
    chancellor secretary ambassador judge chairman chairwoman chairperson administrator
    commissioner sheriff detective sergeant sgt. lt. lieutenant captain capt. colonel col.
    admiral commander pope cardinal archbishop bishop reverend rev. rabbi imam king queen
    prince princess sir dame coach ceo spokesman spokeswoman director
    """
TITLES = frozenset(_TITLES.split())
INSTITUTIONS = frozenset(
    """court office department league council house hall school college university committee
    club party bank company group museum hospital centre center station street road airport
    stadium church association society foundation institute agency board commission ministry
    service cup award prize""".split()  # noqa: SIM905
)
HONORIFICS = frozenset(("mr", "mr.", "mrs", "mrs.", "ms", "ms.", "dr", "dr.", "prof", "prof.",
                        "sir", "dame"))

# Nationality, regional and religious adjectives ("Australian", "Muslim"): kind "demonym" when
# they stand alone, a name's first word otherwise ("Australian Broadcasting Corporation"). Their
# plurals are names of groups ("Afghans", "Muslims"). News NER sets disagree on them (CoNLL-2003 tags them MISC, names
# read off proper nouns do not), so they are a kind of their own and each benchmark picks.
_DEMONYMS = """
    afghan african albanian algerian american andorran angolan argentine argentinian armenian
    asian australian austrian azerbaijani bahraini bangladeshi belarusian belgian bolivian
    bosnian brazilian british bulgarian burmese cambodian cameroonian canadian chilean chinese
    colombian congolese croatian cuban cypriot czech danish dutch ecuadorian egyptian english
    eritrean estonian ethiopian european filipino finnish french gabonese georgian german
    ghanaian greek guatemalan haitian honduran hungarian icelandic indian indonesian iranian
    iraqi irish israeli italian ivorian jamaican japanese jordanian kazakh kenyan korean
    kurdish kuwaiti latvian lebanese liberian libyan lithuanian macedonian malaysian malian
    maltese mexican moldovan mongolian moroccan mozambican namibian nepalese nepali nigerian
    norwegian pakistani palestinian panamanian paraguayan persian peruvian polish portuguese
    qatari romanian russian rwandan saudi scottish senegalese serbian singaporean slovak
    slovenian somali spanish sudanese swedish swiss syrian taiwanese tanzanian thai tibetan
    tunisian turkish ugandan ukrainian uruguayan uzbek venezuelan vietnamese welsh yemeni
    zambian zimbabwean arab arabic hispanic latino scandinavian caribbean balkan baltic
    christian muslim islamic jewish hindu buddhist catholic protestant sikh sunni shia shiite
    """
DEMONYMS = frozenset(_DEMONYMS.split())

# A sentence-initial word followed by one of these is a verb taking an object, as in the
# imperatives of advice ("Diversify your portfolio", "Drink plenty of water"), not a name.
_OBJECT_WORDS = """
    your the a an our my this these those it them some any plenty yourself up out
    """
OBJECT_WORDS = frozenset(_OBJECT_WORDS.split())

# Not an entity alone, but part of names such as "Saturday Night Live" or "March Madness".
_CALENDAR = """
    monday tuesday wednesday thursday friday saturday sunday january february march april june
    july august september october november december today tomorrow yesterday
    """
CALENDAR_WORDS = frozenset(_CALENDAR.split())

# Sentence-initial single words with these endings are adverbs, participles and abstract or
# plural common nouns ("Literally", "Stabilized", "Psychology", "Scientists", "Colourful"), not
# names. Not "-ism" (Buddhism) nor "-ers" (Peters, Sanders).
NON_NAME_SUFFIXES = (
    "ally", "ously", "ively", "fully", "ingly", "ately", "ently", "antly", "ably", "ibly", "edly",
    "ized", "ised", "ated", "ology", "ologies", "ists", "tions", "sions", "ments", "ness",
    "ities", "ful",
)

_MONTH_WORDS = (
    "jan feb mar apr may jun jul aug sep sept oct nov dec january february march april june july"
    " august september october november december"
)
MONTH_WORDS = frozenset(_MONTH_WORDS.split())
MONTHS = MONTH_WORDS | frozenset(m + "." for m in MONTH_WORDS)
# Never an entity as a word alone (a longer name may still hold them).
NOT_ALONE = (
    COMMON_WORDS | ALONE_ONLY | NEVER_ALONE | TITLES | (CALENDAR_WORDS - MONTH_WORDS)
)

# Frequent lower-case words (generated from WikiText-2: common_words.py) that no list above
# already covers: not names at a sentence start unless the same text uses them as a name
# mid-sentence ("Total is a French company ... expect Total to"). Mid-sentence they are left
# alone. Sign-offs and openers of assistant answers that Wikipedia rarely writes ("cheers",
# "enjoy") are in the hand list above.
SENTENCE_START_WORDS = (
    _LOWER_CASE_WORDS - COMMON_WORDS - ALONE_ONLY - NEVER_ALONE - CALENDAR_WORDS - MONTH_WORDS
    - CONNECTORS
)
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
    # The rest of a capitalised word: "Paris", "O'Brien", "Jean-Luc", "AT&T", "U.S.", "Mr.";
    # a possessive 's is left out.
    titles: dict[int, list[str]] = {}
    for t in _TITLES:
        titles.setdefault(len(t), []).append(t)
    after_title = "|".join(rf"(?<=\b(?:{'|'.join(ts)})\.)" for ts in titles.values())
    # One \w run, then runs joined by ' - & . ("O'Brien", "Jean-Luc", "AT&T", "U.S."), then the
    # dot of an initialism or a title ("U.S.", "Mr."). Loops over runs, not characters, are
    # much faster in ``re``. A possessive 's is left out.
    word_rest = (
        rf"\w*{_P}(?:(?:['’](?![sS]\b)|[-&](?={up}|\d)|\.(?={up}(?:\.|\b)))\w+{_P}"
        rf"|\.(?:(?<=\.{up}\.)|(?:{after_title})(?={_SP}+{up})))*{_P}"
    )
    capword = up + word_rest
    conn = trie(sorted(CONNECTORS))
    name_rest = (
        rf"(?P<first>{word_rest})"
        rf"(?:{_SP}+(?:(?:(?:{conn}){_SP}+){{0,2}}{capword}"
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
    """A dot glued to a following letter, as in ``os.path``; starts with a literal, so fast."""
    return re.compile(r"\.[A-Za-z_]")


@cache
def dotted_pattern() -> re.Pattern[str]:
    """``pkg.module.name`` and ``obj.method()``; every part has two or more characters."""
    return re.compile(r"[A-Za-z_][A-Za-z0-9_]+(?:\.[A-Za-z_][A-Za-z0-9_]+)+(?:\(\))?(?![\w@])")
