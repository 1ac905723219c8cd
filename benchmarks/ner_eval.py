"""Entity-extractor quality on news (GUM's Wikinews documents), WNUT17 and wikigold, and speed.

Scoring is untyped, exact span match: each sentence is rebuilt from its tokens (single spaces,
or as written where the file marks SpaceAfter=No); a predicted character span is correct only if
it starts and ends on gold token edges and covers exactly the tokens of a gold entity. Types are
ignored because the entity-diversity signal only needs to know *which* entity an answer
mentions, not what kind of thing it is. Each set is scored on the extractor kinds it calls names.

GUM news (tests/data/ner/README.md): names of people, organisations, places, events and works,
read off GUM's gold proper-noun mentions; dates, numbers and nationality adjectives are not
names there (``NEWS_KINDS``). Its dev documents, and the larger set read the same way from
GUM's other Wikimedia genres (interviews, biographies, travel guides: gum-wikimedia-dev), were
used to tune the rules; its test documents are only reported.

WNUT17 annotates people, places, organisations, products, creative works and groups; URLs,
numbers, dates, e-mails, handles and hashtags are ``O`` by design. So the default extractor is
reported twice: scored on the kinds WNUT17 annotates (names and code-like names such as
"iPhone"), and with every kind it emits, where each URL or "5 km" counts as a false positive.

wikigold (Wikipedia articles, edited prose like news) checks that rules tuned on tweets hold on
well-capitalised text; its first half of documents is a tuning set like WNUT17 dev, the second
half is only reported, like WNUT17 test.

Run: ``python -m benchmarks.ner_eval [conll files...]`` (default: every set above). Rules were
tuned on WNUT17 dev, the first half of wikigold, GUM news dev and GUM Wikimedia dev only.
"""

from __future__ import annotations

import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from collapse_otel.text.entities import EntityExtractor, RuleBasedEntityExtractor

_REPO = Path(__file__).resolve().parents[1]
_DATA_DIR = _REPO / "tests" / "data" / "ner"

#: The extractor's kinds that WNUT17 annotates as entities.
WNUT_KINDS = frozenset({"name", "code"})
#: The kinds wikigold annotates: its MISC names include nationalities ("German").
WIKIGOLD_KINDS = WNUT_KINDS | {"demonym"}
#: The kinds GUM news calls names (no dates, numbers or nationality adjectives).
NEWS_KINDS = WNUT_KINDS


class Tokens(list):
    """A sentence's tokens; ``glued`` holds the indices of tokens the text writes with no space
    after them (CoNLL-U's SpaceAfter=No), so the sentence is scored as written: "Seattle's",
    not "Seattle 's". Files without that column are joined with single spaces."""

    glued: frozenset[int] = frozenset()


Sentence = tuple[list[str], list[tuple[int, int]]]  # tokens, gold entities as token spans [i, j)


def sentence_text(tokens: list[str]) -> str:
    """The text the extractor is scored on: tokens joined by a space unless glued."""
    glued = getattr(tokens, "glued", frozenset())
    if not glued:
        return " ".join(tokens)
    return "".join(t if i in glued or i == len(tokens) - 1 else t + " "
                   for i, t in enumerate(tokens))


def data_file(name: str) -> Path:
    """A shipped evaluation set (tests/data/ner/, licences in its README)."""
    path = _DATA_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"{name} not found in {_DATA_DIR}")
    return path


def read_conll(path: str | Path) -> list[Sentence]:
    """Token<TAB>tag lines (or token, space, tag), blank line between sentences; gold entities
    as token spans. Tags are BIO or IO (wikigold); ``-DOCSTART-`` lines are skipped."""
    return [s for document in read_documents(path) for s in document]


def read_documents(path: str | Path) -> list[list[Sentence]]:
    """:func:`read_conll` per document (``-DOCSTART-`` lines separate documents). A third
    TAB-separated column ``SpaceAfter=No`` glues a token to the next (see :class:`Tokens`)."""
    documents: list[list[tuple[list[str], list[str]]]] = [[]]
    tokens = Tokens()
    tags: list[str] = []
    glued: set[int] = set()
    with open(path, encoding="utf-8") as fh:
        for raw in [*fh, "\n"]:
            line = raw.rstrip("\r\n").replace("\ufeff", "")
            if not line.strip() or line.startswith("-DOCSTART-"):
                if tokens:
                    tokens.glued = frozenset(glued)
                    documents[-1].append((tokens, tags))
                tokens, tags, glued = Tokens(), [], set()
                if line.startswith("-DOCSTART-") and documents[-1]:
                    documents.append([])
                continue
            if line.endswith("\tSpaceAfter=No"):
                line = line[: -len("\tSpaceAfter=No")]
                glued.add(len(tokens))
            token, sep, tag = line.rpartition("\t" if "\t" in line else " ")
            tokens.append(token if sep else line)
            tags.append(tag if sep else "O")
    # IO files (no B- anywhere): only a change of type separates two adjacent entities
    io = not any(t.startswith("B-") for d in documents for _, ts in d for t in ts)
    return [[(toks, bio_spans(ts, split_types=io)) for toks, ts in d] for d in documents if d]


def wikigold_halves() -> tuple[list[Sentence], list[Sentence]]:
    """wikigold's sentences in two halves by document: (tuning half, reported half)."""
    documents = read_documents(data_file("wikigold.conll"))
    half = len(documents) // 2
    return ([s for d in documents[:half] for s in d], [s for d in documents[half:] for s in d])


def bio_spans(tags: list[str], split_types: bool = False) -> list[tuple[int, int]]:
    """Entity token spans [i, j) from BIO tags; a stray I- opens an entity, as conlleval does.
    ``split_types`` (IO tags): an I- of another type than the one before starts a new entity."""
    spans: list[tuple[int, int]] = []
    start = None
    kind = ""
    for i, tag in enumerate([*tags, "O"]):
        if tag.startswith("I-") and start is not None and (not split_types or tag[2:] == kind):
            continue
        if start is not None:
            spans.append((start, i))
            start = None
        if tag.startswith(("B-", "I-")):
            start = i
            kind = tag[2:]
    return spans


def char_to_token_spans(
    tokens: list[str], char_spans: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Token spans [i, j) of the character spans that start and end exactly on token edges."""
    starts: dict[int, int] = {}
    ends: dict[int, int] = {}
    glued = getattr(tokens, "glued", frozenset())
    pos = 0
    for i, token in enumerate(tokens):
        starts[pos] = i
        pos += len(token)
        ends[pos] = i + 1
        pos += 0 if i in glued else 1
    return [
        (starts[s], ends[e])
        for s, e in char_spans
        if s in starts and e in ends and starts[s] < ends[e]
    ]


def evaluate_sentences(sentences: list[Sentence], extractor: EntityExtractor) -> dict:
    """Micro precision / recall / F1 over all sentences; misaligned predictions count as wrong."""
    gold = predicted = correct = 0
    for tokens, gold_spans in sentences:
        char_spans = set(extractor.spans(sentence_text(tokens)))
        gold_set = set(gold_spans)
        gold += len(gold_set)
        predicted += len(char_spans)
        correct += len(set(char_to_token_spans(tokens, sorted(char_spans))) & gold_set)
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "gold": gold,
        "predicted": predicted,
        "correct": correct,
    }


def evaluate_wnut(path: str | Path, extractor: EntityExtractor) -> dict:
    """Untyped exact-span precision, recall and F1 of ``extractor`` on a WNUT17 CoNLL file."""
    return evaluate_sentences(read_conll(path), extractor)


class CapitalisedSpanBaseline:
    """Maximal runs of words whose first letter is upper-case, split at punctuation.

    A word is a whitespace-separated chunk less its surrounding quotes, brackets and punctuation
    and a possessive 's ("(Seattle's," -> "Seattle"; "U.S." keeps its dots); a run continues
    only across plain spaces. ``skip_first`` ignores the text's first word (a stronger baseline:
    a sentence's first word is capitalised whatever it is).
    """

    def __init__(self, skip_first: bool = False) -> None:
        self.skip_first = skip_first

    def spans(self, text: str) -> list[tuple[int, int]]:
        runs: list[tuple[int, int]] = []
        start = end = -1
        for n, chunk in enumerate(_CHUNK.finditer(text)):
            m = _WORD.match(chunk.group())
            core_start = chunk.start() + len(m.group(1))
            core_end = core_start + len(m.group(2))
            capital = m.group(2)[:1].isupper() and not (self.skip_first and n == 0)
            if capital and start >= 0 and not m.group(1) and end == chunk.start() - 1:
                end = core_end  # "New York": the run goes on
            else:
                if start >= 0:
                    runs.append((start, end))
                start, end = (core_start, core_end) if capital else (-1, -1)
            if m.group(3) and start >= 0:  # punctuation after the word ends the run
                runs.append((start, end))
                start = -1
        if start >= 0:
            runs.append((start, end))
        return runs

    def extract(self, text: str) -> list[str]:
        return [" ".join(text[s:e].casefold().split()) for s, e in self.spans(text)]


_CHUNK = re.compile(r"\S+")
_WORD = re.compile(r"([\"'“‘(\[{]*)(.*?)((?:['’]s)?(?:[\"'”’)\]},;:!?]|(?<!\.[^\W\d_])\.)*)$")


capitalised_span_baseline = CapitalisedSpanBaseline()


def extractors(kinds: frozenset[str] = WNUT_KINDS) -> dict[str, EntityExtractor]:
    """The baselines and the default extractor, scored on ``kinds`` and on every kind."""
    return {
        "capitalised-span baseline": capitalised_span_baseline,
        "capitalised spans, first token skipped": CapitalisedSpanBaseline(skip_first=True),
        "rule-based default, names": RuleBasedEntityExtractor(kinds=kinds),
        "rule-based default, all kinds": RuleBasedEntityExtractor(),
    }


def news_split(part: str) -> list[Sentence]:
    """GUM news sentences: ``part`` is "dev" (tuning) or "test" (reported)."""
    return read_conll(data_file(f"gum-news-{part}.conll"))


def model_answers(limit: int = 3000) -> list[str]:
    """100-word pieces of the shipped human- and model-written texts (the answer workload)."""
    from benchmarks.workloads import data_answers

    return data_answers()[:limit]


def tweet_answers(limit: int = 300) -> list[str]:
    """100-word pieces of WNUT17 dev text: noisy, many capitals (a harder workload)."""
    words = [t for tokens, _ in read_conll(data_file("wnut17-dev.conll")) for t in tokens]
    return [" ".join(words[i : i + 100]) for i in range(0, len(words) - 99, 100)][:limit]


def time_extract(extract: Callable[[str], object], answers: list[str], repeat: int = 9) -> float:
    """Seconds per call. Answers are timed in small batches, keeping each batch's fastest of
    ``repeat`` passes: on a shared machine that is the pass no other process interrupted."""
    total = 0.0
    for i in range(0, len(answers), 20):
        batch = answers[i : i + 20]
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            for text in batch:
                extract(text)
            best = min(best, time.perf_counter() - t0)
        total += best
    return total / len(answers)


def run() -> list[dict]:
    """Rows for ``make bench`` (benchmarks/__main__.py)."""
    rows: list[dict] = []
    default = RuleBasedEntityExtractor()
    test = read_conll(data_file("wnut17-test.conll"))
    wnut = evaluate_sentences(test, RuleBasedEntityExtractor(kinds=WNUT_KINDS))
    rows.append({"name": "entities: WNUT17 test F1, default (WNUT kinds)", "value": wnut["f1"],
                 "target": ">= 0.48", "note": f"P {wnut['precision']:.3f} R {wnut['recall']:.3f}"})
    full = evaluate_sentences(test, default)
    rows.append({"name": "entities: WNUT17 test F1, default (all kinds)", "value": full["f1"],
                 "note": "URLs, numbers, dates count as false positives"})
    wiki = evaluate_sentences(wikigold_halves()[1], RuleBasedEntityExtractor(kinds=WIKIGOLD_KINDS))
    rows.append({"name": "entities: wikigold reported half F1, default (wikigold kinds)",
                 "value": wiki["f1"], "note": f"P {wiki['precision']:.3f} R {wiki['recall']:.3f}"})
    base = evaluate_sentences(test, capitalised_span_baseline)
    rows.append({"name": "entities: WNUT17 test F1, capitalised-span baseline",
                 "value": base["f1"]})
    news = news_split("test")
    ours = evaluate_sentences(news, RuleBasedEntityExtractor(kinds=NEWS_KINDS))
    rows.append({"name": "entities: GUM news test F1, default (names)", "value": ours["f1"],
                 "target": ">= 0.80", "note": f"P {ours['precision']:.3f} R {ours['recall']:.3f}"})
    wikimedia = evaluate_sentences(read_conll(data_file("gum-wikimedia-dev.conll")),
                                   RuleBasedEntityExtractor(kinds=NEWS_KINDS))
    rows.append({"name": "entities: GUM Wikimedia genres (tuning) F1, default (names)",
                 "value": wikimedia["f1"],
                 "note": f"P {wikimedia['precision']:.3f} R {wikimedia['recall']:.3f}"})
    naive = evaluate_sentences(news, capitalised_span_baseline)
    rows.append({"name": "entities: GUM news test F1, capitalised-span baseline",
                 "value": naive["f1"],
                 "note": f"P {naive['precision']:.3f} R {naive['recall']:.3f}"})
    answers = model_answers()
    per_call = time_extract(default.extract, answers)
    words = statistics.mean(len(a.split()) for a in answers)
    rows.append({"name": "entities: extract() per answer", "value": per_call * 1e6, "unit": "us",
                 "target": "< 20", "note": f"{len(answers)} answers of {words:.0f} words"})
    per_tweet = time_extract(default.extract, tweet_answers())
    rows.append({"name": "entities: extract() per 100-word WNUT17 chunk", "value": per_tweet * 1e6,
                 "unit": "us", "note": "noisy social text, many capitals"})
    return rows


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    paths = [Path(a) if Path(a).is_file() else data_file(a) for a in args]
    sets = {p.name: read_conll(p) for p in paths}
    if not sets:
        tuning, reported = wikigold_halves()
        sets = {"wnut17-dev": read_conll(data_file("wnut17-dev.conll")),
                "wnut17-test": read_conll(data_file("wnut17-test.conll")),
                "wikigold-tuning": tuning, "wikigold-reported": reported,
                "gum-news-dev": news_split("dev"), "gum-news-test": news_split("test"),
                "gum-wikimedia-dev": read_conll(data_file("gum-wikimedia-dev.conll"))}
    print(f"{'file':<18} {'extractor':<40} {'P':>6} {'R':>6} {'F1':>6} {'gold':>5} {'pred':>5}")
    for name, sentences in sets.items():
        kinds = WIKIGOLD_KINDS if "wikigold" in name else WNUT_KINDS
        for label, extractor in extractors(kinds).items():
            r = evaluate_sentences(sentences, extractor)
            print(
                f"{name:<18} {label:<40} {r['precision']:6.3f} {r['recall']:6.3f} "
                f"{r['f1']:6.3f} {r['gold']:5d} {r['predicted']:5d}"
            )
    default = RuleBasedEntityExtractor()
    for label, answers in (("model/human texts", model_answers()), ("WNUT17 dev", tweet_answers())):
        per_call = time_extract(default.extract, answers)
        print(f"extract() per 100-word answer ({label}, n={len(answers)}): {per_call * 1e6:.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
