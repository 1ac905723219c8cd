"""Human corpora for the simulation: each name loads a list of answers (token sentences).

- ``wikitext``: WikiText-2 (Wikipedia articles; ``wikitext.py`` undoes its tokenised markup);
- ``sotu``: State of the Union addresses from 1934 on (political speeches; public domain);
- ``email``: the non-spam mail of the SpamAssassin public corpus (mailing-list posts and
  newsletters, 2002; CC0), quoted text, signatures and technical lines removed.

The package ships none of them: ``load_corpus(name, data_dir)`` reads them from ``data_dir``,
the folder that holds ``wikitext-2/``, ``sotu/`` and ``email/`` (``tests/data`` of a checkout,
with their licences). The last two are plain text, one document per line (see
``benchmarks/make_corpora.py``). Their answers are built the way WikiText's are: 1-3
consecutive sentences of one document, 40-120 words (``wikitext.group_answers``), tokenised
into words and punctuation as WikiText is, so ``tokens.detokenize`` writes every corpus alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

from .tokens import SENTENCE_END
from .wikitext import Answer, Sentence, default_files, group_answers, load_human_answers, read_lines

_ABBREVIATIONS = ("Mr", "Mrs", "Ms", "Dr", "St", "Jr", "Sr", "vs", "etc", "Inc", "Co", "Ltd",
                  "Gen", "Sen", "Rep", "Gov", "No", "Mt", "Ft", "Jan", "Feb", "Aug", "Sept",
                  "Oct", "Nov", "Dec")
_TOKEN = re.compile(
    r"(?:[A-Za-z]\.){2,}"                                   # U.S., e.g.
    rf"|(?:{'|'.join(_ABBREVIATIONS)})\.(?=\s)"             # Mr. (not a sentence end)
    r"|\w+(?:[-'\u2019.,/]\w+)*"                            # words, 1,000, don't, 2.5
    r"|\.{2,}|[^\w\s]")                                     # ... and single punctuation


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text)


def sentences(text: str) -> Iterator[Sentence]:
    """The document's sentences ending in . ? or ! (a trailing fragment is dropped); "..." ends
    one too, written as "."."""
    current: list[str] = []
    for token in tokenize(text):
        if token.startswith(".."):
            token = "."
        current.append(token)
        if token in SENTENCE_END:
            if len(current) >= 2:
                yield tuple(current)
            current = []


def load_plain(path: str | Path) -> list[Answer]:
    """Answers of a gzipped plain-text corpus, one document per line, in file order."""
    answers: list[Answer] = []
    for line in read_lines(path):
        answers.extend(group_answers(list(sentences(line))))
    return answers


def _plain(path: Path) -> list[Answer]:
    if not path.is_file():
        raise FileNotFoundError(f"no {path.name} in {path.parent}: expected the corpus as in "
                                f"tests/data/{path.parent.name} of a collapse-otel checkout")
    return load_plain(path)


CORPORA: dict[str, Callable[[Path], list[Answer]]] = {
    "wikitext": lambda data: load_human_answers(default_files(data / "wikitext-2")),
    "sotu": lambda data: _plain(data / "sotu" / "addresses.txt.gz"),
    "email": lambda data: _plain(data / "email" / "ham.txt.gz"),
}


@cache
def load_corpus(name: str, data_dir: str | Path) -> tuple[Answer, ...]:
    """Every human answer of the named corpus under ``data_dir`` (deterministic, cached per
    process)."""
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}: one of {', '.join(CORPORA)}")
    data = Path(data_dir)
    if not data.is_dir():
        raise FileNotFoundError(f"corpus data directory {data} does not exist: pass the folder "
                                "that holds wikitext-2/, sotu/ and email/ (tests/data of a "
                                "collapse-otel checkout)")
    return tuple(CORPORA[name](data))
