"""Normalisation and tokenisation.

Tokens are Unicode NFKC, lower-cased, then the regex ``\\w+``: words and numbers, punctuation
dropped. Simple on purpose: it is language-agnostic, deterministic across processes, and it is
what the reference values in DESIGN.md were computed with. Signal functions take token lists,
so a different tokeniser can be plugged in front of them.
"""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"\w+")


def clean_text(text: object) -> str:
    """Make any input safe to analyse: non-strings become '', lone surrogates become U+FFFD."""
    if isinstance(text, bytes):
        return text.decode("utf-8", "replace")
    if not isinstance(text, str):
        return ""
    if text.isascii():  # O(1) in CPython; ASCII holds no surrogates
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def normalize(text: str) -> str:
    """NFKC, lower-case, whitespace collapsed to single spaces and stripped."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.lower().split())


def tokenize(text: str) -> list[str]:
    """``\\w+`` tokens of the NFKC, lower-cased text."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return _WORD.findall(text.lower())


def word_bytes(normalized: str) -> bytes:
    """Bytes whose word-byte runs ([A-Za-z0-9_] or >= 0x80) are exactly ``tokenize``'s tokens.

    ASCII text is used as it is (bytes \\w is that class); other text is reduced to its ``\\w+``
    tokens joined by spaces, since Unicode \\w is wider than any byte class.
    """
    if normalized.isascii():
        return normalized.encode("ascii")
    return " ".join(_WORD.findall(normalized)).encode("utf-8", "surrogatepass")


def whitespace_tokens(texts: list[str]) -> list[str]:
    """Tokens as the `diversity` package builds them for corpus scores: join, split on ' '."""
    return " ".join(texts).split(" ")
