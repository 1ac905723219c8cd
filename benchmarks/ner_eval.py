"""Entity-extractor quality on WNUT17 and extract() speed.

Scoring is untyped, exact span match: each sentence is rebuilt by joining its tokens with single
spaces, a predicted character span counts only if it starts and ends on gold token boundaries and
covers exactly the tokens of a gold entity. Types are ignored because the entity-diversity signal
only needs to know *which* entity was mentioned, not what kind it is.

Run: ``python -m benchmarks.ner_eval [conll files...]`` (defaults: WNUT17 dev and test).
"""

from __future__ import annotations

import re
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from collapse_otel.text.entities import EntityExtractor, RuleBasedEntityExtractor

_REPO = Path(__file__).resolve().parents[1]
_DATA_DIRS = (_REPO / "tests" / "data", _REPO.parent / "shared" / "data" / "ner")

Sentence = tuple[list[str], list[tuple[int, int]]]  # tokens, gold token spans [i, j)


def data_file(name: str) -> Path:
    """The first existing copy of a WNUT17 file: tests/data/, else ../shared/data/ner/."""
    for folder in _DATA_DIRS:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(name)


def read_conll(path: str | Path) -> list[Sentence]:
    """Token<TAB>BIO-tag lines, blank line between sentences; gold entities as token spans."""
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            line = raw.rstrip("\r\n").replace("\ufeff", "")
            if not line.strip():
                if tokens:
                    sentences.append((tokens, _bio_spans(tags)))
                tokens, tags = [], []
                continue
            token, _, tag = line.rpartition("\t")
            tokens.append(token if token else line)
            tags.append(tag if token else "O")
    if tokens:
        sentences.append((tokens, _bio_spans(tags)))
    return sentences


def _bio_spans(tags: list[str]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = None
    for i, tag in enumerate(tags + ["O"]):
        if tag.startswith("I-") and start is not None:
            continue
        if start is not None:
            spans.append((start, i))
            start = None
        if tag.startswith(("B-", "I-")):  # a stray I- opens an entity, as conlleval does
            start = i
    return spans


def char_to_token_spans(
    tokens: list[str], char_spans: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Token spans [i, j) of the character spans that start and end exactly on token edges."""
    starts, ends, pos = {}, {}, 0
    for i, token in enumerate(tokens):
        starts[pos] = i
        pos += len(token)
        ends[pos] = i + 1
        pos += 1
    out = []
    for s, e in char_spans:
        if s in starts and e in ends and starts[s] < ends[e]:
            out.append((starts[s], ends[e]))
    return out


def evaluate_sentences(sentences: list[Sentence], extractor: EntityExtractor) -> dict[str, float]:
    gold = predicted = correct = 0
    for tokens, gold_spans in sentences:
        text = " ".join(tokens)
        char_spans = extractor.spans(text)
        pred = set(char_to_token_spans(tokens, char_spans))
        gold_set = set(gold_spans)
        gold += len(gold_set)
        predicted += len(set(char_spans))  # misaligned predictions are wrong, not ignored
        correct += len(pred & gold_set)
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


def evaluate_wnut(path: str | Path, extractor: EntityExtractor) -> dict[str, float]:
    """Untyped exact-span precision, recall and F1 of ``extractor`` on a WNUT17 CoNLL file."""
    return evaluate_sentences(read_conll(path), extractor)


_TOKEN = re.compile(r"\S+")


class CapitalisedSpanBaseline:
    """Maximal runs of whitespace-separated tokens whose first character is upper-case."""

    def spans(self, text: str) -> list[tuple[int, int]]:
        runs: list[tuple[int, int]] = []
        start = end = -1
        for m in _TOKEN.finditer(text):
            if m.group()[0].isupper():
                if start < 0:
                    start = m.start()
                end = m.end()
            elif start >= 0:
                runs.append((start, end))
                start = -1
        if start >= 0:
            runs.append((start, end))
        return runs

    def extract(self, text: str) -> list[str]:
        return [" ".join(text[s:e].casefold().split()) for s, e in self.spans(text)]


capitalised_span_baseline = CapitalisedSpanBaseline()


def answers_100_words(n: int = 200) -> Iterator[str]:
    """~100-word answers built from WNUT17 dev sentences (realistic mix of names and noise)."""
    words: list[str] = []
    for tokens, _ in read_conll(data_file("wnut17-dev.conll")):
        words.extend(tokens)
    for i in range(n):
        chunk = words[(i * 100) % max(1, len(words) - 100) :][:100]
        yield " ".join(chunk)


def time_extract(extractor: EntityExtractor, answers: list[str], repeat: int = 7) -> float:
    """Median over ``repeat`` runs of the mean seconds per extract() call."""
    timings = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for text in answers:
            extractor.extract(text)
        timings.append((time.perf_counter() - t0) / len(answers))
    return statistics.median(timings)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    paths = [Path(a) for a in args] or [data_file("wnut17-dev.conll"), data_file("wnut17-test.conll")]
    extractors: dict[str, EntityExtractor] = {
        "capitalised-span baseline": capitalised_span_baseline,
        "rule-based (default, all kinds)": RuleBasedEntityExtractor(),
        "rule-based, names only": RuleBasedEntityExtractor(kinds={"name"}),
    }
    print(f"{'file':<20} {'extractor':<34} {'P':>6} {'R':>6} {'F1':>6} {'gold':>6} {'pred':>6}")
    for path in paths:
        sentences = read_conll(path)
        for label, extractor in extractors.items():
            r = evaluate_sentences(sentences, extractor)
            print(
                f"{path.name:<20} {label:<34} {r['precision']:6.3f} {r['recall']:6.3f} "
                f"{r['f1']:6.3f} {r['gold']:6d} {r['predicted']:6d}"
            )
    answers = list(answers_100_words())
    for label, extractor in extractors.items():
        per_call = time_extract(extractor, answers)
        print(f"extract() per 100-word answer, {label}: {per_call * 1e6:.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
