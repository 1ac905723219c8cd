"""Entity extraction: each rule, sentence-initial capitals, normalisation, robustness, WNUT17."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.ner_eval import (
    WNUT_KINDS,
    CapitalisedSpanBaseline,
    bio_spans,
    char_to_token_spans,
    evaluate_sentences,
    evaluate_wnut,
    read_conll,
)
from collapse_otel.text.entities import (
    ENTITY_KINDS,
    EntityExtractor,
    RuleBasedEntityExtractor,
    SpacyEntityExtractor,
    entity_key,
)

WNUT_TEST = Path(__file__).parent / "data" / "ner" / "wnut17-test.conll"
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
        ("He read The Lord of the Rings twice.", "The Lord of the Rings"),
        ("The delegates met in The Hague.", "The Hague"),
        ("Ask Dr. Jane Smith about it.", "Dr. Jane Smith"),
        ("It ships from the U.S. next month.", "U.S."),
        ("They bought AT&T shares and a Windows 10 laptop.", "AT&T"),
        ("They bought AT&T shares and a Windows 10 laptop.", "Windows 10"),
        ("Jean-Luc Picard commands the ship.", "Jean-Luc Picard"),
        ("Zürich und Genève sind Städte.", "Genève"),
    ],
)
def test_proper_noun_spans(text, expected):
    assert (expected, "name") in found(text)


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
    assert default_wnut_kinds["f1"] >= 0.40
    assert default_all_kinds["f1"] > stronger_baseline["f1"] > baseline["f1"]
    assert default_wnut_kinds["precision"] > 1.5 * baseline["precision"]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(texts=st.lists(_texts, max_size=8))
def test_extract_many_equals_extract_per_text(texts):
    """The batch scan (texts joined by blank lines) finds exactly what each text alone gives."""
    assert RULES.extract_many(texts) == [RULES.extract(t) for t in texts]


def test_extract_many_equals_extract_per_text_on_real_texts():
    from .conftest import HUMAN_VS_LLM

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
