"""Human "answers" from the tokenised WikiText-2 release: the simulation's generation 0.

Markup is undone: ``@-@``, ``@,@`` and ``@.@`` join their neighbours ("red-tipped", "1,000",
"0.7"), heading lines (`` = = Title = = ``) and empty lines are dropped.

``<unk>`` (about 6% of the tokens: WikiText's stand-in for every rare word) is neither kept nor
replaced. Kept, it would be one very frequent pseudo-word standing for exactly the tail that
collapse erodes, so the model could never lose it, and answers would read "unk". Dropping every
sentence that has one would leave a quarter of the text (69% of sentences have one) and, as
answers are runs of consecutive sentences, fewer than 800 answers: too few for releases of a few
thousand. So a sentence with at most ``MAX_UNK`` = 2 of them is kept with those words deleted
(small holes, hard to see next to a trigram model's own seams) and a sentence with more is
dropped. That leaves 3,776 answers (192,000 words; at most one ``<unk>``: 2,447).

An answer is 1-3 consecutive sentences of one paragraph, 40-120 words: the size of an answer of
an LLM application. A dropped sentence breaks the run, so answers never jump over a gap.

The human texts of ``human-vs-llm`` are not mixed in: about 60,000 distinct words (the files
share their human texts) in three other genres, where one corpus keeps the baseline homogeneous.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from .tokens import SENTENCE_END, word_count

Sentence = tuple[str, ...]
Answer = tuple[Sentence, ...]

MIN_WORDS, MAX_WORDS, MAX_SENTENCES = 40, 120, 3
UNK, MAX_UNK = "<unk>", 2
_EMPTY_PAIRS = {("(", ")"), ('"', '"'), ("[", "]")}
_JOINERS = {"@-@": "-", "@,@": ",", "@.@": "."}


def default_files(folder: str | Path) -> list[Path]:
    """The validation and test splits in ``folder``: {valid,test}.txt.gz (or .txt). The
    package ships no corpus; a checkout has it in tests/data/wikitext-2."""
    folder = Path(folder)
    files = [next((p for p in (folder / f"{split}.txt.gz", folder / f"{split}.txt")
                   if p.is_file()), None) for split in ("valid", "test")]
    found = [f for f in files if f is not None]
    if len(found) < len(files):
        raise FileNotFoundError(
            f"no WikiText-2 files in {folder}: expected valid.txt.gz and test.txt.gz (or .txt), "
            "as in tests/data/wikitext-2 of a collapse-otel checkout")
    return found


def read_lines(path: str | Path) -> list[str]:
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return fh.read().splitlines()


def paragraphs(lines: Iterable[str]) -> Iterator[list[str]]:
    """Token lists of the text lines (headings and empty lines dropped)."""
    for line in lines:
        tokens = line.split()
        if tokens and tokens[0] != "=":
            yield tokens


def join_marks(tokens: Sequence[str]) -> list[str]:
    """Undo ``@-@`` / ``@,@`` / ``@.@``: the two neighbours become one token."""
    out: list[str] = []
    glue = False
    for token in tokens:
        if token in _JOINERS:
            if out:
                out[-1] += _JOINERS[token]
                glue = True
            continue
        if glue and out:
            out[-1] += token
        else:
            out.append(token)
        glue = False
    return out


def split_sentences(tokens: Sequence[str]) -> Iterator[list[str]]:
    """Sentences ending in . ? or ! (a trailing fragment without one, such as a line that
    introduces a list with ':', is dropped)."""
    current: list[str] = []
    for token in tokens:
        current.append(token)
        if token in SENTENCE_END:
            yield current
            current = []


def clean_sentence(tokens: Sequence[str]) -> Sentence | None:
    """The sentence without markup and without its unknown words; None to drop it. A token
    joined to ``<unk>`` ("re-<unk>", "1,<unk>") is an unknown word as a whole."""
    joined = join_marks(tokens)
    unknown = sum(UNK in t for t in joined)
    if unknown > MAX_UNK:
        return None
    out: list[str] = []
    for token in joined:
        if UNK in token:
            continue
        if out and (out[-1], token) in _EMPTY_PAIRS:  # a deleted word left "( )" or '" "'
            out.pop()
            continue
        out.append(token)
    if len(out) < 2 or word_count([out]) == 0:
        return None
    return tuple(out)


def group_answers(sentences: Sequence[Sentence | None]) -> Iterator[Answer]:
    """Greedy answers of 1-3 consecutive sentences reaching MIN_WORDS, at most MAX_WORDS
    (None marks a dropped sentence)."""
    current: list[Sentence] = []
    for sentence in sentences:
        if sentence is None:
            current = []
            continue
        current.append(sentence)
        while len(current) > MAX_SENTENCES or word_count(current) > MAX_WORDS:
            current.pop(0)  # slide: the answer starts one sentence later
        if word_count(current) >= MIN_WORDS:
            yield tuple(current)
            current = []


def load_human_answers(files: Sequence[str | Path]) -> list[Answer]:
    """Every human answer of the WikiText-2 ``files`` (``default_files(folder)``), in corpus
    order (deterministic)."""
    answers: list[Answer] = []
    for path in files:
        for tokens in paragraphs(read_lines(path)):
            cleaned = [clean_sentence(s) for s in split_sentences(tokens)]
            answers.extend(group_answers(cleaned))
    return answers
