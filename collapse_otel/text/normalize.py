"""Normalisation and tokenisation.

Tokens are Unicode NFKC, lower-cased, then the regex ``\\w+``: words and numbers, punctuation
dropped. Simple on purpose: it is language-agnostic, deterministic across processes, and it is
what the reference values (tests/data/reference) were computed with. Signal functions take
token lists, so a different tokeniser can be plugged in front of them.
"""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"\w+")
# Scripts written without spaces between words: Han (Chinese, Japanese kanji), kana, Thai,
# Lao, Myanmar, Khmer. ``\w+`` would make a whole clause of them one token, so n-gram,
# duplicate and diversity signals would mean nothing there. Instead every character is a token
# (with the combining vowel and tone marks that belong to it in the Southeast Asian scripts): a
# dictionary-free scheme, and character n-grams are the usual unit of n-gram statistics for
# these languages. Korean writes spaces between words and keeps word tokens.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_SEA = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff"
_MARKS = ("\u0e31\u0e34-\u0e3a\u0e47-\u0e4e\u0eb1\u0eb4-\u0ebc\u0ec8-\u0ecd"
          "\u102b-\u103e\u1056-\u1059\u105e-\u1060\u1062-\u1064\u1067-\u106d"
          "\u1071-\u1074\u1082-\u108d\u108f\u109a-\u109d\u17b4-\u17d3\u17dd")
_TOKEN = re.compile(f"[{_SEA}][{_MARKS}]*|[{_CJK}]|[^\\W{_SEA}{_CJK}]+")


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
    """``\\w+`` tokens of the NFKC, lower-cased text; in scripts written without spaces
    (Chinese, Japanese, Thai, ...) every character is a token."""
    if not text.isascii():
        return _TOKEN.findall(unicodedata.normalize("NFKC", text).lower())
    return _WORD.findall(text.lower())


def word_bytes(normalized: str) -> bytes:
    """Bytes whose word-byte runs ([A-Za-z0-9_] or >= 0x80) are exactly ``tokenize``'s tokens.

    ASCII text is used as it is (bytes \\w is that class); other text is reduced to its ``\\w+``
    tokens joined by spaces, since Unicode \\w is wider than any byte class.
    """
    if normalized.isascii():
        return normalized.encode("ascii")
    return " ".join(_TOKEN.findall(normalized)).encode("utf-8", "surrogatepass")


def whitespace_tokens(texts: list[str]) -> list[str]:
    """Tokens as the `diversity` package builds them for corpus scores: join, split on ' '."""
    return " ".join(texts).split(" ")
