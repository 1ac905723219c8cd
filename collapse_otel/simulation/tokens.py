"""Token lists to answer text, shared by the human answers and the model's answers.

The simulation works on token lists (the WikiText tokens: words, and punctuation as separate
tokens); the product reads text. Both generation 0 and every model generation go through the
same ``detokenize``, so no signal can tell the releases apart by formatting alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

#: Tokens that end a sentence (WikiText writes abbreviations such as "U.S." as one token).
SENTENCE_END = frozenset({".", "?", "!"})

_NO_SPACE_BEFORE = frozenset({",", ";", ":", "!", "?", ")", "]", "%", "'", "”", "’"})  # and dots
_NO_SPACE_AFTER = frozenset({"(", "[", "$", "£", "“", "‘"})
_CLITICS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")


def _attaches_left(token: str) -> bool:
    return token in _NO_SPACE_BEFORE or token.startswith(_CLITICS) or not token.strip(".")


def detokenize(sentences: Iterable[Sequence[str]]) -> str:
    """One answer's text: punctuation and clitics attached, brackets closed up, straight
    double quotes alternately opening and closing (WikiText spaces them on both sides)."""
    out: list[str] = []
    glue_next = True  # no space before the first token
    quote_open = False
    for sentence in sentences:
        for token in sentence:
            if token == '"':
                if quote_open:
                    out.append(token)
                    glue_next = False
                else:
                    out.append(token if glue_next else " " + token)
                    glue_next = True
                quote_open = not quote_open
                continue
            glue = glue_next or _attaches_left(token)
            out.append(token if glue else " " + token)
            glue_next = token in _NO_SPACE_AFTER
    return "".join(out)


def is_word(token: str) -> bool:
    """A token with a letter or digit in it (what the product's ``\\w+`` tokeniser counts)."""
    return any(ch.isalnum() for ch in token)


def word_count(sentences: Iterable[Sequence[str]]) -> int:
    return sum(is_word(t) for sentence in sentences for t in sentence)
