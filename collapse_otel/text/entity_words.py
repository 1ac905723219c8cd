"""Word lists of the rule-based entity extractor: what a capital does or does not make a name.

Hand-written lists with the reason for each, plus the generated common words (common_words.py).
The regular expressions that use them are in entity_patterns.py.
"""

from __future__ import annotations

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
    prince princess sir dame coach ceo spokesman spokeswoman director emperor empress earl duke
    duchess
    """
TITLES = frozenset(_TITLES.split())
# Offices, cut from the end of a span too ("Los Angeles Sheriff" -> "Los Angeles"); not the
# royal titles that end names ("Burger King", "Dancing Queen").
OFFICES = frozenset(
    """president senator governor mayor minister chancellor secretary ambassador judge chairman
    chairwoman chairperson administrator commissioner sheriff spokesman spokeswoman director
    ceo""".split()  # noqa: SIM905
)
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
# plurals are names of groups ("Afghans", "Muslims"). News NER sets disagree on them (CoNLL-2003
# tags them MISC, names read off proper nouns do not): a kind of their own, each benchmark picks.
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
    soviet republican democratic olympic paralympic imperial presidential
    """
DEMONYMS = frozenset(_DEMONYMS.split())
# Before a nationality word they make one adjective ("North American", "Roman Catholic").
REGION_WORDS = frozenset(
    """north south east west northern southern eastern western central roman latin anglo
    """.split()  # noqa: SIM905
)

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
    "ities", "ful", "tive", "ical", "ctural",
)

# Endings of the nouns for people's roles ("Biologist Nick Bos", "Director Jane Doe"): a word
# opening a sentence with one, that the dictionary never capitalises, is cut from the name.
ROLE_SUFFIXES = ("ist", "ian", "or", "ant", "ee", "ess")

_MONTH_WORDS = (
    "jan feb mar apr may jun jul aug sep sept oct nov dec january february march april june july"
    " august september october november december"
)
MONTH_WORDS = frozenset(_MONTH_WORDS.split())
MONTHS = MONTH_WORDS | frozenset(m + "." for m in MONTH_WORDS)
# Abbreviations of common nouns, units and eras: no name alone, whatever their capitals
# ("IQ", "TV", "GMT", "PhD", "AD"); a longer name may hold them ("PlayStation VR").
_ABBREVIATIONS = """
    tv iq gmt utc vip ad cd dvd phd ph.d. ph.d pc ai dna rna hiv gdp ufo faq pdf usb gps sms atm hq
    led lcd hd rbi rbis mvp era etc vs dkk cuc usd eur gbp jpy cny aud cad
    """
ABBREVIATIONS = frozenset(_ABBREVIATIONS.split())

# Never an entity as a word alone (a longer name may still hold them).
NOT_ALONE = (
    COMMON_WORDS | ALONE_ONLY | NEVER_ALONE | TITLES | (CALENDAR_WORDS - MONTH_WORDS)
    | ABBREVIATIONS
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
