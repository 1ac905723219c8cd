"""Label values that are always safe to expose: valid UTF-8, bounded length, still distinct.

prometheus_client escapes backslashes, double quotes and newlines in label values itself
(tested); what it cannot fix is a value that is not valid UTF-8 (a str holding lone surrogates
makes the whole scrape fail to encode) or one so long it bloats every series. Such values are
repaired here; a repaired value gets a short hash of the original appended, so two releases
that differ only in their tail or in their broken bytes never collapse into one series.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import xxhash

MAX_LABEL_CHARS = 128
OVERFLOW = "__other__"   # the label of everything past a cap: never a user's own value
_KEEP_CONTROL = {"\n", "\t"}   # escaped (newline) or harmless (tab) in the text format


def _decode(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "surrogateescape")
    return "" if value is None else str(value)


def _repair(text: str) -> str:
    fixed = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return "".join(
        "\ufffd" if unicodedata.category(c) == "Cc" and c not in _KEEP_CONTROL else c
        for c in fixed
    )


def _with_digest(text: str, head: str, max_chars: int) -> str:
    digest = xxhash.xxh3_64_hexdigest(text.encode("utf-8", "surrogatepass"))[:8]
    return f"{head[:max_chars - 9]}~{digest}"


@lru_cache(maxsize=8192)
def _safe_str(text: str, max_chars: int) -> str:
    if text.isascii() and text.isprintable() and len(text) <= max_chars:
        return text   # the common case, decided without copying
    fixed = _repair(text)
    if fixed == text and len(text) <= max_chars:
        return text
    return _with_digest(text, fixed, max_chars)


def user_label_value(value: object, max_chars: int = MAX_LABEL_CHARS) -> str:
    """``safe_label_value`` of a value a user chose, with the overflow label escaped: a
    release named ``__other__`` becomes ``__other__~<hash>``, a series of its own, never the
    bucket of the streams past the cap."""
    text = safe_label_value(value, max_chars)
    return _with_digest(text, text, max_chars) if text == OVERFLOW else text


def safe_label_value(value: object, max_chars: int = MAX_LABEL_CHARS) -> str:
    """A label value that encodes as UTF-8, has no control characters other than newline and
    tab, and is at most ``max_chars`` characters; unchanged when it already was all of that.
    Values far over the limit are not cached (the cache would hold them whole)."""
    text = _decode(value)
    if len(text) > 2 * max_chars:
        return _with_digest(text, _repair(text[:max_chars]), max_chars)
    return _safe_str(text, max_chars)
