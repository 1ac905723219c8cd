"""Entity extraction: each rule, sentence-initial capitals, normalisation, robustness, WNUT17 and
wikigold."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.ner_eval import (
    NEWS_KINDS,
    WIKIGOLD_KINDS,
    WNUT_KINDS,
    CapitalisedSpanBaseline,
    bio_spans,
    char_to_token_spans,
    evaluate_sentences,
    evaluate_wnut,
    news_split,
    read_conll,
    read_documents,
    wikigold_halves,
)
from collapse_otel.text.entities import (
    ENTITY_KINDS,
    EntityExtractor,
    RuleBasedEntityExtractor,
    SpacyEntityExtractor,
    entity_key,
)
from tests.support.data import DATA

WNUT_TEST = DATA / "ner" / "wnut17-test.conll"
NEWS_DEV = DATA / "ner" / "gum-news-dev.conll"
NEWS_TEST = DATA / "ner" / "gum-news-test.conll"
# Measured once the rules were final (see docs/entities.md, "Measured quality"); the floor leaves room
# for the machine, not for the rules: the score is deterministic.
NEWS_TEST_FLOOR = 0.80  # the target; measured 0.800 (568 of 690 names, 730 predicted)
WIKIGOLD = DATA / "ner" / "wikigold.conll"
RULES = RuleBasedEntityExtractor()


def found(text: str) -> list[tuple[str, str]]:
    return [(text[s:e], kind) for s, e, kind in RULES.mentions(text)]


def test_implements_the_protocol():
    assert isinstance(RULES, EntityExtractor)
    assert isinstance(SpacyEntityExtractor(lambda text: None), EntityExtractor)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("We met at the Bank of America yesterday.", "Bank of America"),
        ("A painting by Vincent van Gogh was sold.", "Vincent van Gogh"),
        ("She flew to Rio de Janeiro last week.", "Rio de Janeiro"),
        # a capital "The" mid-sentence is not part of the name, as in news NER sets
        ("He read The Lord of the Rings twice.", "Lord of the Rings"),
        ("The delegates met in The Hague.", "Hague"),
        ("He wrote to Charles J. Fillmore and L. Ron Hubbard.", "Charles J. Fillmore"),
        ("Then Kim Jong-un met Moon Jae-in's envoy.", "Kim Jong-un"),
        ("Then Kim Jong-un met Moon Jae-in's envoy.", "Moon Jae-in"),
        ("A George Bush-era policy.", "George Bush"),
        ("[George W.] Bush won, so a Plan B. Then", "George W."),
        ("[George W.] Bush won, so a Plan B. Then", "Plan B"),
        # a role noun opening a sentence, one the dictionary never capitalises, is cut
        ("Biologist Nick Bos spoke. Christian Bale spoke.", "Nick Bos"),
        ("Biologist Nick Bos spoke. Christian Bale spoke.", "Christian Bale"),
        ("He wrote to Charles J. Fillmore and L. Ron Hubbard.", "L. Ron Hubbard"),
        ("Ask Dr. Jane Smith about it.", "Jane Smith"),  # titles are not part of names
        ("US President Barack Obama spoke.", "Barack Obama"),
        ("US President Barack Obama spoke.", "US"),
        ("It ships from the U.S. next month.", "U.S."),
        ("They bought AT&T shares and a Windows 10 laptop.", "AT&T"),
        ("They bought AT&T shares and a Windows 10 laptop.", "Windows 10"),
        ("Jean-Luc Picard commands the ship.", "Jean-Luc Picard"),
        ("Zürich und Genève sind Städte.", "Genève"),
    ],
)
def test_proper_noun_spans(text, expected):
    assert (expected, "name") in found(text)


def test_titles_are_cut_before_names_and_are_no_entity_alone():
    assert found("NASA Administrator Charles Bolden met Mr. Tedeschi and the President.") == [
        ("NASA", "name"), ("Charles Bolden", "name"), ("Tedeschi", "name")]
    assert found("He read The Lord of the Rings.") == [("Lord of the Rings", "name")]
    assert found("Mr Hunt met Sheriff Jones at Perth Sheriff Court.") == [
        ("Hunt", "name"), ("Jones", "name"), ("Perth Sheriff Court", "name")]
    # an office and its "of" go ("Governor of Virginia"), and an office ending a span
    assert found("The Governor of Virginia met the Emperor of the United States.") == [
        ("Virginia", "name"), ("United States", "name")]
    assert found("A deputy of the Los Angeles Sheriff spoke.") == [("Los Angeles", "name")]
    assert found("They ate at Burger King.") == [("Burger King", "name")]
    assert found("An aide to the Afghan Ambassador spoke.") == [("Afghan", "demonym")]


def test_an_acronym_in_brackets_and_a_time_of_day():
    assert found("The World Health Organisation (WHO) met on Saturday Night and Last Year.") \
        == [("World Health Organisation", "name"), ("WHO", "name")]


def test_a_language_or_a_people_is_a_name_an_adjective_a_demonym():
    assert found("He taught English at a Danish school and spoke German and French fluently.") \
        == [("English", "name"), ("Danish", "demonym"), ("German", "name"), ("French", "name")]
    assert found("Written in Czech. She is Danish.") == [("Czech", "name"), ("Danish", "demonym")]


def test_nationality_adjectives_alone_are_demonyms():
    assert found("The Australian team met Afghans and the Australian Broadcasting Corporation.") \
        == [("Australian", "demonym"), ("Afghans", "name"),
            ("Australian Broadcasting Corporation", "name")]


def test_a_sports_score_is_not_part_of_a_name():
    assert found("Group F: Sweden 1 – 0 Korea Republic, on Windows 10") == [
        ("Group F", "name"), ("Sweden", "name"), ("Korea Republic", "name"), ("Windows 10", "name")]


def test_possessive_s_is_not_part_of_the_name():
    assert found("I visited Paris's museums.") == [("Paris", "name")]


def test_and_separates_two_names():
    assert found("We invited Alice and Bob.") == [("Alice", "name"), ("Bob", "name")]


@pytest.mark.parametrize(
    "text",
    [
        "The results were clear.",
        "However, nothing changed.",
        "I think so.",
        "Literally nobody came.",
        "OK, LOL, that is it.",
        "Finally we left on Monday.",
    ],
)
def test_capitalised_common_words_are_not_entities(text):
    assert found(text) == []


def test_sentence_initial_common_words_are_cut_off_a_span():
    assert found("Yesterday John went home. The Beatles played.") == [
        ("John", "name"),
        ("Beatles", "name"),
    ]


def test_sentence_initial_name_is_kept():
    assert found("Einstein was born in Ulm.") == [("Einstein", "name"), ("Ulm", "name")]


# -- sentence starts: a capital there proves nothing -----------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Enjoy your trip!",
        "Happy travels",
        "Cheers",
        "Opening hours: 9-5",
        "Thanks for asking",
        "Sure! Let me explain.",
        "Great question",
        "Overall, it works.",
        "Here are three options.",
        "Note that prices vary.",
        # other sentence starts: lines, bullets, headings, emphasis, quotes, brackets, numbers
        "It rained.\nEnjoy your stay",
        "- Enjoy your stay",
        "## Opening Hours\nMost shops open at 10.",
        "**Opening hours:** 9-5",
        "> Cheers",
        '"Happy travels," she said.',
        "(Enjoy!)",
        "1. Visit early",
        "Happy Travels!",
        "Diversify your portfolio and rebalance once a year.",
        "Drink plenty of water.",
    ],
)
def test_sentence_initial_boilerplate_is_not_an_entity(text):
    assert RULES.extract(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Paris is the capital of France.", ["paris", "france"]),
        ("New York is the most populous city.", ["new york"]),
        ("Ada Lovelace wrote the first published algorithm.", ["ada lovelace"]),
        ("Kyoto has about 1,600 temples.", ["kyoto"]),
        ("Great question! Kubernetes schedules containers.", ["kubernetes"]),
        ("Enjoy Your Stay in Kyoto", ["kyoto"]),
        ("Visit Fushimi Inari early.", ["fushimi inari"]),
    ],
)
def test_names_at_a_sentence_start_are_kept(text, expected):
    assert RULES.extract(text) == expected


def test_non_name_suffixes_and_gerunds_at_a_sentence_start():
    assert RULES.extract("Additionally, it works. Stabilized, it runs.") == []
    assert RULES.extract("Scientists analyse crops. Psychology major. Leaving home.") == []
    assert RULES.extract("Buddhism spread. Peters said so. Beijing grew.") == [
        "buddhism", "peters", "beijing"]


def test_the_word_list_decides_only_at_a_sentence_start():
    from collapse_otel.text.entity_words import SENTENCE_START_WORDS

    assert {"opening", "total", "life"} <= SENTENCE_START_WORDS
    assert RULES.extract("Opening ceremonies vary.") == []
    assert RULES.extract("We watched the Opening Ceremony on CNN.") == ["opening ceremony", "cnn"]


def test_dictionary_words_open_sentences_without_being_names():
    """A capitalised dictionary word opening a sentence is no name, unless the dictionary also
    spells it with a capital (a name: "Bush", "Jordan") or the text uses it as a name."""
    import gzip
    from importlib import resources

    data = resources.files("collapse_otel.text").joinpath("english_words.txt.gz").read_bytes()
    words = gzip.decompress(data).decode("ascii").split()
    assert len(words) > 50_000 and words == sorted(words)
    assert {"hackers", "homeopathy"} <= set(words) and not {"bush", "jordan"} & set(words)
    assert RULES.extract("Hackers attack the site. Homeopathy is popular.") == []
    assert RULES.extract("Bush spoke. Jordan won.") == ["bush", "jordan"]
    assert RULES.extract("Anime fans met. They love Anime films.") == ["anime", "anime"]


def test_abbreviations_of_common_nouns_are_no_names_alone():
    assert RULES.extract("His IQ is high; the TV and PlayStation VR are on at 5 GMT.") == [
        "playstation vr"]


def test_a_word_written_in_lower_case_in_the_same_text_is_common():
    # "Ryokans" is in no word list, nor in the dictionary
    assert RULES.extract("Ryokans fill up early.") == ["ryokans"]
    assert RULES.extract("Ryokans fill up early. Other ryokans are cheaper.") == []
    assert RULES.extract("Ryokans fill up early. See the ryokans-guide page.") == ["ryokans"]


def test_a_common_word_used_as_a_name_mid_sentence_stays_a_name():
    assert RULES.extract("Total sales rose.") == []
    text = "Total is a French energy company, and analysts expect Total to grow."
    assert RULES.extract(text) == ["total", "french", "total"]
    text = "Total Recall is a 1990 film. Fans of Total Recall still argue about it."
    assert RULES.extract(text) == ["total recall", "total recall"]


def test_evidence_does_not_cross_texts_in_a_batch():
    texts = [
        "Ryokans fill up early.",
        "Other ryokans are cheaper.",
        "Total is a French energy company.",
        "It expects Total to grow.",
    ]
    expected = [["ryokans"], [], ["french"], ["total"]]
    assert [RULES.extract(t) for t in texts] == expected
    assert RULES.extract_many(texts) == expected


def test_common_words_module_matches_its_generator():
    from benchmarks.gen_common_words import TARGET, generate

    assert TARGET.read_text() == generate(), "run: python -m benchmarks.gen_common_words"


def test_common_words_rule():
    from benchmarks.gen_common_words import common_words

    lines = [
        " Visit the old town . You can visit it , or visit Rome , as we visit and visit .",
        " May I ask ? It may rain , said Theresa May , and may stop ; it may , it may .",
        " = = Visit Visit Visit = = ",
        " Paris is big . He saw Paris and Paris saw him .",
    ]
    # "visit": 4 lower-case uses, its capital opens a sentence; "may": 4 lower, 1 mid-sentence
    # capital (80%); "paris": never lower case; the heading line is dropped
    assert common_words(lines, min_count=4, min_share=0.9) == ["visit"]
    assert common_words(lines, min_count=4, min_share=0.8) == ["may", "visit"]
    assert "visit" not in common_words(lines, min_count=5, min_share=0.9)


def test_boilerplate_does_not_make_a_templated_release_look_richer():
    """The signal the rule is for: a release collapsed onto one template with sign-offs must not
    show more entities per answer, or a lower share of distinct ones, than a varied release."""
    from collapse_otel.config import CollapseConfig
    from collapse_otel.engine.aggregator import Aggregator
    from collapse_otel.engine.feeding import observe_all
    from collapse_otel.records import AnswerRecord

    varied = [
        "Kyoto's Gion district is lovely at dusk, and the Yasaka Shrine is a short walk away.",
        "In Lisbon, ride Tram 28 up to Alfama and try a pastry in Belém.",
        "Reykjavik is a good base for the Golden Circle and the Blue Lagoon.",
    ]
    template = ("Sure! Here is my advice for {}. Opening hours vary by season, so check ahead. "
                "Enjoy your trip! Happy travels.\n\nCheers")
    templated = [template.format(city) for city in ("Kyoto", "Lisbon", "Reykjavik")]
    windows = []
    for texts in (varied, templated):
        agg = Aggregator(CollapseConfig(refresh_seconds=0))
        observe_all(agg, [AnswerRecord(t) for t in texts])
        windows.append(agg.snapshot().streams[0].window)
    assert windows[1].get("entities_per_answer") == 1.0 < windows[0].get("entities_per_answer")
    # the templated release names its three cities and nothing else, each once: Chao and
    # Jost's deficit f1 / n * A with A = (n - 1)(f1 - 1) / ((n - 1)(f1 - 1) + 2) = 2 / 3
    assert windows[1].get("entity_coverage_deficit") == pytest.approx(2 / 3)
    for q in (0, 1, 2):
        assert windows[1].get(f"entity_hill_{q}") < windows[0].get(f"entity_hill_{q}"), q


# Answers in the style of an assistant, with the entities a reader would count. Written for
# these tests (not taken from any tuning set). "Pack" and "Symptoms", too rare in WikiText-2
# for its list, are known to the English dictionary (english_words.txt.gz).
LLM_SENTENCES = [
    # travel
    ("Sure! Here's a three-day plan for Kyoto.", ["kyoto"]),
    ("Visit Fushimi Inari early in the morning to avoid the crowds.", ["fushimi inari"]),
    ("Enjoy your trip, and don't forget to try the matcha in Uji!", ["uji"]),
    ("Opening hours: 9:00-17:00, closed on public holidays.", []),
    ("Pack light: most ryokans in Hakone have little storage.", ["hakone"]),
    ("Tokyo is about 2 hours from Osaka by Shinkansen.",
     ["tokyo", "2 hours", "osaka", "shinkansen"]),
    # "Trains" is in the looser list for one word opening a sentence (opener_words.py)
    ("Book early. Trains between Rome and Florence fill up in summer.", ["rome", "florence"]),
    ("Happy travels!", []),
    # medicine
    ("Overall, the Mayo Clinic advises adults to sleep 7 to 9 hours a night.",
     ["mayo clinic", "9 hours"]),
    ("Note that the CDC updated its guidance in March 2023.", ["cdc", "march 2023"]),
    ("Consult your doctor before taking more than 4,000 mg of acetaminophen a day.",
     ["4,000 mg"]),
    ("Thanks for asking! Dr. Anthony Fauci led NIAID for nearly four decades.",
     ["anthony fauci", "niaid"]),
    ("Drink plenty of water and rest.", []),
    ("Symptoms usually improve within 10 days.", ["10 days"]),
    ("Seek emergency care if breathing becomes difficult.", []),
    # code
    ("Here are the steps to install Django on Ubuntu.", ["django", "ubuntu"]),
    ("Run `pip install requests` and then import it.", ["pip install requests"]),
    ("Use os.path.join() instead of string concatenation.", ["os.path.join()"]),
    ("Rust is fast, and many teams adopt Rust for systems work.", ["rust", "rust"]),
    ("Check that the DATABASE_URL variable is set.", ["database_url"]),
    ("Overall, React and Vue are both good choices.", ["react", "vue"]),
    ("Great question! Kubernetes schedules containers across nodes.", ["kubernetes"]),
    # finance
    ("Great question! Apple reported revenue of $94.8 billion last quarter.",
     ["apple", "$94.8 billion"]),
    ("Consider a low-cost index fund such as the Vanguard Total Stock Market ETF.",
     ["vanguard total stock market etf"]),
    ("Diversify your portfolio and rebalance once a year.", []),
    ("Interest rates at the Federal Reserve rose to 5.5% in July 2023.",
     ["federal reserve", "5.5%", "july 2023"]),
    ("Warren Buffett's Berkshire Hathaway holds a large stake in Coca-Cola.",
     ["warren buffett", "berkshire hathaway", "coca-cola"]),
    # support
    ("Sorry for the inconvenience! Please restart your router and try again.", []),
    ("Cheers, and let me know if you need anything else.", []),
    ("Contact Microsoft Support if the error persists.", ["microsoft support"]),
    ("Thanks for reaching out to Acme Corp. Your ticket number is 48213.", ["acme corp"]),
    ("Hope this helps! Feel free to reach out to the Zendesk team.", ["zendesk"]),
    # names at a sentence start
    ("Ada Lovelace wrote the first published algorithm.", ["ada lovelace"]),
    ("New York is the most populous city in the United States.", ["new york", "united states"]),
    ("- **Getting there:** take the Keihan Line to Gion-Shijo.", ["keihan line", "gion-shijo"]),
]


@pytest.mark.parametrize(("text", "expected"), LLM_SENTENCES)
def test_assistant_style_sentences(text, expected):
    assert RULES.extract(text) == expected


def test_assistant_style_sentences_as_one_batch():
    texts = [p.values[0] if hasattr(p, "values") else p[0] for p in LLM_SENTENCES]
    assert RULES.extract_many(texts) == [RULES.extract(t) for t in texts]


def test_shouting_is_not_a_name():
    assert found("IM HAVING A HEART ATTACK right now") == []
    assert found("This is NOT what NASA said.") == [("NASA", "name")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The trail is 5 km long.", "5 km"),
        ("The file is 3.2 GB.", "3.2 GB"),
        ("It costs $40 today.", "$40"),
        ("Sales rose 20% this year.", "20%"),
        ("They raised $1.5 million.", "$1.5 million"),
        ("It weighs 1,200 kg.", "1,200 kg"),
        ("That is 40€ each.", "40€"),
        ("The run took 15 minutes.", "15 minutes"),
    ],
)
def test_numbers_with_units(text, expected):
    assert (expected, "quantity") in found(text)


def test_bare_numbers_are_not_entities():
    assert found("We counted 12 birds and 7 cats.") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It opened on 12 March 2024 in town.", "12 March 2024"),
        ("It opened on 2024-03-12 in town.", "2024-03-12"),
        ("It opened on March 12, 2024 in town.", "March 12, 2024"),
        ("On March 5, 2024 it opened.", "March 5, 2024"),
        ("Due 12/03/2024, or else.", "12/03/2024"),
        ("It opened in May 2023.", "May 2023"),
        ("Held on the 5th of May.", "5th of May"),
    ],
)
def test_dates(text, expected):
    assert (expected, "date") in found(text)


def test_urls_without_trailing_punctuation():
    text = "See https://example.com/a_b?x=1. Or (www.python.org), or ftp://host/x!"
    assert [m for m in found(text) if m[1] == "url"] == [
        ("https://example.com/a_b?x=1", "url"),
        ("www.python.org", "url"),
        ("ftp://host/x", "url"),
    ]


def test_emails():
    assert found("Write to jane.doe+news@mail.example.org, please.") == [
        ("jane.doe+news@mail.example.org", "email")
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Set max_tokens to 100.", "max_tokens"),
        ("Set MAX_RETRIES to 3.", "MAX_RETRIES"),
        ("Call getValue on it.", "getValue"),
        ("She bought an iPhone yesterday.", "iPhone"),
        ("Use os.path.join() here.", "os.path.join()"),
        ("Edit the README.md file.", "README.md"),
        ("Run `pip install collapse-otel` first.", "pip install collapse-otel"),
        ("Override __init__ there.", "__init__"),
    ],
)
def test_code_identifiers(text, expected):
    assert (expected, "code") in found(text)


def test_handles_and_hashtags():
    assert found("Thanks @jane_doe for #OpenSource, not me@x or C#5.") == [
        ("@jane_doe", "handle"),
        ("#OpenSource", "hashtag"),
    ]


def test_glued_sentences_are_not_dotted_names():
    assert found("It was odd.He left early.") == []


def test_url_wins_over_names_inside_it():
    text = "Read https://www.Reddit.com/r/Calgary today."
    assert found(text) == [("https://www.Reddit.com/r/Calgary", "url")]


def test_kinds_filter():
    text = "Alice paid $40 at https://shop.example.com on 2024-03-12."
    assert RuleBasedEntityExtractor(kinds={"name"}).extract(text) == ["alice"]
    assert RuleBasedEntityExtractor(kinds={"url", "date"}).extract(text) == [
        "https://shop.example.com",
        "2024-03-12",
    ]
    assert {k for _, k in found(text)} == {"name", "quantity", "url", "date"}
    with pytest.raises(ValueError):
        RuleBasedEntityExtractor(kinds={"names"})


def test_keys_are_normalised_and_repeats_count():
    text = "New York is big. I love NEW  YORK and Ｎｅｗ Ｙｏｒｋ. Straße und STRASSE."
    assert RULES.extract(text) == ["new york", "new york", "new york", "strasse", "strasse"]
    assert entity_key("New  York") == entity_key("new york") == entity_key("\tNEW\u00a0York ")


def test_extract_matches_spans():
    text = "Ada Lovelace met Charles Babbage in London on 5 June 1833 (see https://x.org)."
    spans = RULES.spans(text)
    assert RULES.extract(text) == [entity_key(text[s:e]) for s, e in spans]
    assert RULES.extract(text) == [
        "ada lovelace",
        "charles babbage",
        "london",
        "5 june 1833",
        "https://x.org",
    ]


def test_never_raises_on_odd_input():
    for text in ["", " ", "\x00\x01\x1b[31m", "\ud800 Lone \udfff Surrogate", "A" * 5, "$", "@"]:
        assert len(RULES.extract(text)) == len(RULES.spans(text))
    assert RULES.extract(None) == []  # type: ignore[arg-type]
    assert RULES.spans(b"Paris") == []  # type: ignore[arg-type]


def test_huge_input_is_bounded():
    extractor = RuleBasedEntityExtractor(max_chars=10_000)
    text = "Alice met Bob in Paris. " * 100_000
    spans = extractor.spans(text)
    assert len(spans) == 1250  # 416 whole sentences, then "Alice met Bob in"
    assert spans == RuleBasedEntityExtractor().spans(text[:10_000])


@pytest.mark.parametrize(
    "unit",
    ["x.y", "a_", "a@", "aB", "A ", "Aa of ", "1,", "9", "http://a.", "U.S.", "a.b@c.d", "$1 ", "`"],
)
def test_pathological_repetition_stays_linear(unit):
    # 200,000 characters of one pattern: a quadratic rule takes many minutes here (CI times out)
    text = unit * (200_000 // len(unit))
    spans = RULES.spans(text)
    assert all(0 <= s < e <= len(text) for s, e in spans)


_TRICKY = list("Aa Zz0 9.,;:!?'’-_@#$%€`/()\n\t\u00a0ÉéßİıǅＮｙ") + [
    "\ud800",
    "\x00",
    "http://",
    "www.",
    "March ",
    "The ",
    " of ",
    "km",
    # sentence-start evidence: a listed word, its lower case, a name use, an object word
    "Total ",
    "total",
    "Pack ",
    "pack",
    " your",
    ". ",
]
_texts = st.one_of(
    st.text(alphabet=st.characters(codec=None, categories=None), max_size=300),
    st.lists(st.sampled_from(_TRICKY), max_size=80).map("".join),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(text=_texts)
def test_any_text_gives_consistent_in_bounds_spans(text):
    mentions = RULES.mentions(text)
    spans = RULES.spans(text)
    keys = RULES.extract(text)
    assert spans == [(s, e) for s, e, _ in mentions]
    assert len(keys) == len(spans)
    last_end = 0
    for (s, e, kind), key in zip(mentions, keys, strict=True):
        assert last_end <= s < e <= len(text)  # in text order, never overlapping
        assert kind in ENTITY_KINDS
        assert key == entity_key(text[s:e])
        last_end = e


def test_broken_pipeline_in_spacy_adapter_does_not_raise():
    def broken(text):
        raise RuntimeError("model not loaded")

    adapter = SpacyEntityExtractor(broken)
    assert adapter.extract("Alice met Bob.") == []
    assert adapter.spans("Alice met Bob.") == []


def test_spacy_load_explains_a_missing_install():
    try:
        import spacy  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"collapse-otel\[spacy\]"):
            SpacyEntityExtractor.load()
    else:
        pytest.skip("spaCy is installed: the missing-install message cannot be exercised")


def test_spacy_adapter_with_a_real_pipeline():
    spacy = pytest.importorskip(
        "spacy",
        reason="spaCy is an optional user extra (pip install 'collapse-otel[spacy]'), "
        "not installed here; the adapter is only tested where it is",
    )
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(
        [
            {"label": "GPE", "pattern": [{"LOWER": "new"}, {"LOWER": "york"}]},
            {"label": "PERSON", "pattern": "Ada Lovelace"},
        ]
    )
    text = "Ada Lovelace never saw New York, but new york saw Ada Lovelace."
    adapter = SpacyEntityExtractor(nlp)
    assert adapter.extract(text) == ["ada lovelace", "new york", "new york", "ada lovelace"]
    assert [text[s:e] for s, e in adapter.spans(text)][:2] == ["Ada Lovelace", "New York"]
    assert SpacyEntityExtractor(nlp, labels={"GPE"}).extract(text) == ["new york", "new york"]


# -- the WNUT17 evaluation -----------------------------------------------------------------


def test_bio_and_token_alignment():
    assert bio_spans(["O", "B-person", "I-person", "O", "I-location", "B-x", "B-y"]) == [
        (1, 3),
        (4, 5),
        (5, 6),
        (6, 7),
    ]
    tokens = ["I", "love", "New", "York", "."]  # "I love New York ."
    assert char_to_token_spans(tokens, [(7, 15), (7, 10), (8, 15), (0, 1)]) == [
        (2, 4),
        (2, 3),
        (0, 1),
    ]


class _Fixed:
    """Returns fixed character spans per text: lets the scorer be checked against known counts."""

    def __init__(self, spans_by_text):
        self.spans_by_text = spans_by_text

    def spans(self, text):
        return self.spans_by_text.get(text, [])

    def extract(self, text):
        return [text[s:e] for s, e in self.spans(text)]


def test_scorer_counts_exact_matches_only():
    sentences = [(["I", "love", "New", "York", "."], [(2, 4)]), (["Hi", "Bob"], [(1, 2)])]
    perfect = _Fixed({"I love New York .": [(7, 15)], "Hi Bob": [(3, 6)]})
    assert evaluate_sentences(sentences, perfect)["f1"] == 1.0
    partial = _Fixed({"I love New York .": [(7, 10), (0, 1)], "Hi Bob": [(3, 6), (2, 4)]})
    r = evaluate_sentences(sentences, partial)
    assert (r["gold"], r["predicted"], r["correct"]) == (2, 4, 1)
    assert r["precision"] == 0.25 and r["recall"] == 0.5


def test_wnut17_test_f1():
    assert WNUT_TEST.is_file(), "tests/data/ner/wnut17-test.conll is shipped with the repo"
    sentences = read_conll(WNUT_TEST)
    assert len(sentences) == 1287
    assert sum(len(g) for _, g in sentences) == 1079
    default_wnut_kinds = evaluate_wnut(WNUT_TEST, RuleBasedEntityExtractor(kinds=WNUT_KINDS))
    default_all_kinds = evaluate_sentences(sentences, RULES)
    baseline = evaluate_sentences(sentences, CapitalisedSpanBaseline())
    stronger_baseline = evaluate_sentences(sentences, CapitalisedSpanBaseline(skip_first=True))
    assert default_wnut_kinds["f1"] >= 0.48
    assert default_all_kinds["f1"] > stronger_baseline["f1"] > baseline["f1"]
    assert default_wnut_kinds["precision"] > 1.5 * baseline["precision"]


def test_io_tags_split_on_a_change_of_type():
    tags = ["I-PER", "I-PER", "I-ORG", "O", "I-LOC"]
    assert bio_spans(tags, split_types=True) == [(0, 2), (2, 3), (4, 5)]
    assert bio_spans(tags) == [(0, 3), (4, 5)]  # BIO files: conlleval's reading, as before


def test_wikigold_f1():
    assert WIKIGOLD.is_file(), "tests/data/ner/wikigold.conll is shipped with the repo"
    documents = read_documents(WIKIGOLD)
    assert len(documents) == 145
    assert sum(len(g) for d in documents for _, g in d) == 3558
    tuning, reported = wikigold_halves()
    assert len(tuning) + len(reported) == sum(map(len, documents))
    default = evaluate_sentences(reported, RuleBasedEntityExtractor(kinds=WIKIGOLD_KINDS))
    stronger_baseline = evaluate_sentences(reported, CapitalisedSpanBaseline(skip_first=True))
    assert default["f1"] >= 0.80
    assert default["f1"] > stronger_baseline["f1"] + 0.08


def test_news_f1_on_the_gum_test_split():
    """Names in Wikinews articles (GUM), scored on the test documents the rules were never tuned
    on; news dev and GUM's Wikimedia genres (interviews, biographies, travel guides) are the
    tuning sets. All beat the naive capitalised-span baseline by a wide margin."""
    dev, test = news_split("dev"), news_split("test")
    assert (len(read_documents(NEWS_DEV)), len(read_documents(NEWS_TEST))) == (12, 12)
    assert (sum(len(g) for _, g in dev), sum(len(g) for _, g in test)) == (646, 690)
    assert any(t.glued for t, _ in test), "sentences are scored as written (SpaceAfter=No)"
    wikimedia = read_conll(NEWS_DEV.with_name("gum-wikimedia-dev.conll"))
    assert sum(len(g) for _, g in wikimedia) == 3417
    for sentences, floor in ((test, NEWS_TEST_FLOOR), (dev, 0.88), (wikimedia, 0.85)):
        ours = evaluate_sentences(sentences, RuleBasedEntityExtractor(kinds=NEWS_KINDS))
        naive = evaluate_sentences(sentences, CapitalisedSpanBaseline())
        assert ours["f1"] >= floor
        assert ours["f1"] > naive["f1"] + 0.08
        assert ours["precision"] > naive["precision"] + 0.15


# News-style sentences written for these tests (not from the news set): what the extractor
# still gets wrong on news, kept as strict expected failures so a fix shows up.
_NEWS_MISS = pytest.mark.xfail(strict=True, reason="known news miss, see the parameter's comment")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a name with "and" inside is split like "Alice and Bob"
        pytest.param("She wrote for The Globe and Mail last year.", ["Globe and Mail"],
                     marks=_NEWS_MISS),
        # a title followed by "of" keeps the office and the person together
        pytest.param("Minister of Health Jane Doe resigned.", ["Jane Doe"], marks=_NEWS_MISS),
        ("He spoke to The Guardian on Monday.", ["Guardian"]),
        ("Matthew Ingram of The Globe wrote it.", ["Matthew Ingram", "Globe"]),
        ("Police arrested two men in Leeds.", ["Leeds"]),
        ("US President Barack Obama met Prime Minister David Cameron.",
         ["US", "Barack Obama", "David Cameron"]),
    ],
)
def test_news_style_names(text, expected):
    assert [text[s:e] for s, e, kind in RULES.mentions(text) if kind in NEWS_KINDS] == expected


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(texts=st.lists(_texts, max_size=8))
def test_extract_many_equals_extract_per_text(texts):
    """The batch scan (texts joined by blank lines) finds exactly what each text alone gives."""
    assert RULES.extract_many(texts) == [RULES.extract(t) for t in texts]


def test_extract_many_equals_extract_per_text_on_real_texts():
    from tests.support.data import HUMAN_VS_LLM

    texts = [" ".join(tokens) for tokens, _ in read_conll(WNUT_TEST)]
    for path in sorted(HUMAN_VS_LLM.glob("*.json"))[:3]:
        import json

        data = json.loads(path.read_text())
        texts += data["original"] + data["sampled"]
    texts += ["", "Paris", "  Mr. Smith met Dr. Who in New York on March 5, 2024 at 5 km/h.\n"]
    expected = [RULES.extract(t) for t in texts]
    assert sum(map(len, expected)) > 1000
    for size in (1, 7, 256):
        got = [m for i in range(0, len(texts), size) for m in RULES.extract_many(texts[i:i + size])]
        assert got == expected
    small = RuleBasedEntityExtractor(kinds={"name"}, max_chars=50)
    assert small.extract_many(texts[:300]) == [small.extract(t) for t in texts[:300]]


def test_entity_richness_at_equal_coverage_does_not_follow_the_sample_size():
    """The distinct / mentions ratio of a sample falls as the sample grows (here 0.68 at 400
    human answers, 0.57 at 1,000), and the distinct count grows; distinct entities at a fixed
    sample coverage do not, so windows of 400, 1,000 and 3,776 answers of the same text agree
    within their errors."""
    import random

    from collapse_otel.compare import window_of_answers
    from collapse_otel.engine.window import compute_window
    from collapse_otel.simulation import load_corpus
    from collapse_otel.simulation.tokens import detokenize

    texts = [detokenize(a) for a in load_corpus("wikitext", DATA)]
    random.Random(3).shuffle(texts)
    raw, rarefied = {}, {}
    for n in (400, 1000, len(texts)):
        inputs = window_of_answers(texts[:n])
        mentions = [e for item in inputs.sample for e in item.entities]
        raw[n] = len(set(mentions)) / len(mentions)
        w = compute_window(inputs)
        rarefied[n] = (w.get("entity_hill_0"), w.stderr["entity_hill_0"])
    assert raw[400] > 1.1 * raw[1000]          # the naive ratio depends on the sample size
    for a, b in itertools.combinations(rarefied.values(), 2):
        assert abs(a[0] - b[0]) < 3 * math.hypot(a[1], b[1]), rarefied
        # measured 1,565 / 1,695 / 1,868 with errors of 217 / 133 / 92 (the last two are two
        # different 1,000-answer samples: the sample is capped at 1,000)
        assert abs(a[0] - b[0]) < 0.2 * b[0], rarefied
