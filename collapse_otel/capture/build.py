"""Turning loosely typed captured values into a safe, bounded AnswerRecord.

Every capture path (handler, span processor, completion hook, observe) goes through
:func:`make_record`, so the same rules hold everywhere: bytes are decoded, oversized answers are
cut before they sit in the queue (the aggregator still sees that they were too long), token
counts are non-negative ints or None, labels are short strings, context ids are bounded.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

from ..config import CollapseConfig
from ..labels import MAX_LABEL_CHARS
from ..records import AnswerRecord
from ..text.hashing import text_hash

MAX_CONTEXT_IDS = 256
MAX_ID_CHARS = 256
CHARS_PER_TOKEN = 4.0  # the usual rule of thumb for English BPE vocabularies


def estimate_tokens(text: str | None) -> int:
    """Approximate token count (chars / 4, at least 1 for non-empty text). O(1)."""
    return estimate_tokens_from_chars(len(text)) if text else 0


def estimate_tokens_from_chars(chars: int) -> int:
    """Approximate token count of ``chars`` characters of text."""
    return max(1, math.ceil(chars / CHARS_PER_TOKEN)) if chars > 0 else 0


def as_text(value: Any) -> str | None:
    """A str for str/bytes values (bytes decoded as UTF-8 with replacement), else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return None


def as_count(value: Any) -> int | None:
    """A non-negative int token count from int/float/numeric str values; else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value >= 0 else None
    if isinstance(value, (str, bytes)):
        try:
            n = int(value)
        except ValueError:
            return None
        return n if n >= 0 else None
    return None


def as_label(value: Any) -> str | None:
    """A short non-empty label without surrounding whitespace, or None. A label maps to
    itself, so labels read once and kept (a waiting span's resource) read the same later."""
    if value is None:
        return None
    if type(value) is not str:
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        elif not isinstance(value, str):
            return None
    if value and not value[0].isspace() and not value[-1].isspace():
        return value if len(value) <= MAX_LABEL_CHARS else value[:MAX_LABEL_CHARS].rstrip()
    value = value.strip()
    return value[:MAX_LABEL_CHARS].rstrip() if value else None


def content_id(content: str) -> str:
    """Stable id of a document that has none: xxh3-64 of its text."""
    return f"h:{text_hash(content):016x}"


def document_id(doc_id: Any, metadata: Any, content: Any) -> str | None:
    """The id of a retrieved document: its id, else metadata id/doc_id/source, else a hash."""
    ident = as_label(doc_id)
    if ident:
        return ident[:MAX_ID_CHARS]
    if isinstance(metadata, Mapping):
        for key in ("id", "doc_id", "source"):
            ident = as_label(metadata.get(key))
            if ident:
                return ident[:MAX_ID_CHARS]
    text = as_text(content)
    if text:
        return content_id(text)
    return None


def first_label(*values: Any) -> str | None:
    for v in values:
        if v is not None:
            label = as_label(v)
            if label:
                return label
    return None


def make_record(
    config: CollapseConfig,
    answer: Any,
    *,
    prompt_tokens: Any = None,
    completion_tokens: Any = None,
    context_ids: Iterable[Any] = (),
    model: Any = None,
    service: Any = None,
    release: Any = None,
    cohort: Any = None,
    timestamp: float | None = None,
    tokens_estimated: bool = False,
    prompt_chars: int = 0,
) -> AnswerRecord:
    """Build a bounded record; unknown labels fall back to the config (env) values.

    The one place token counts are estimated: a missing completion count is estimated from
    the answer text and a missing prompt count from ``prompt_chars``, and the record is
    flagged; with no text to estimate from, the count stays missing, never 0.
    """
    text = as_text(answer)
    prompt, completion = as_count(prompt_tokens), as_count(completion_tokens)
    estimated = bool(tokens_estimated)
    if completion is None and text:
        completion, estimated = estimate_tokens(text), True
    if prompt is None and isinstance(prompt_chars, int) and prompt_chars > 0:
        prompt, estimated = estimate_tokens_from_chars(prompt_chars), True
    limit = config.max_answer_chars
    if text is not None and len(text) > limit:
        # one extra char keeps "this was longer than the limit" visible to the aggregator
        text = text[: limit + 1]
    ids: list[str] = []
    for raw in context_ids:
        ident = as_label(raw)
        if ident:
            ids.append(ident[:MAX_ID_CHARS])
            if len(ids) >= MAX_CONTEXT_IDS:
                break
    return AnswerRecord(
        answer=text,
        prompt_tokens=prompt,
        completion_tokens=completion,
        context_ids=tuple(ids),
        model=as_label(model),
        service=as_label(service) or config.service,
        release=as_label(release) or config.release,
        cohort=as_label(cohort) or config.cohort,
        timestamp=timestamp if isinstance(timestamp, float) else time.time(),
        tokens_estimated=estimated,
    )
