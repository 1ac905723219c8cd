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
from itertools import islice
from typing import Any

from ..config import CollapseConfig
from ..records import AnswerRecord
from ..text.hashing import text_hash
from ..text.labels import MAX_LABEL_CHARS, safe_label_value
from ..text.token_estimate import (
    estimate_tokens,
    estimate_tokens_from_chars,
)

QUESTION_CAPTURE_CHARS = 16_384   # of a question; only its hash is kept
MAX_CONTEXT_IDS = 256
CONTEXT_ITEMS_READ = 4 * MAX_CONTEXT_IDS   # items of context_ids read, valid or not
MAX_ID_CHARS = 256
LABEL_READ_CHARS = 4_096   # of a label value: what is stripped, repaired and hashed


def as_text(value: Any, max_chars: int | None = None) -> str | None:
    """A str for str/bytes values (bytes decoded as UTF-8 with replacement), else None.

    With ``max_chars``, bytes are cut before they are decoded (a UTF-8 character is at most 4
    bytes), so a 100 MB bytes answer costs the caller's thread a bounded decode."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = memoryview(value)
        if max_chars is not None and raw.nbytes > 4 * (max_chars + 1):
            raw = raw.cast("B")[: 4 * (max_chars + 1)]
        return bytes(raw).decode("utf-8", "replace")
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


def as_label(value: Any, max_chars: int = MAX_LABEL_CHARS) -> str | None:
    """A non-empty label string made safe by the one sanitiser (labels.safe_label_value: a
    value over ``max_chars`` keeps a hash of the whole, so two long names never merge), or
    None."""
    if value is None:
        return None
    if max_chars == MAX_LABEL_CHARS and type(value) is str:
        found = _LABELS.get(value)   # the same few model, release, service names every time
        if found is not None:
            return found
        label = _as_label(value, max_chars)
        if label and len(value) <= CACHED_LABEL_CHARS:
            if len(_LABELS) >= CACHED_LABELS:
                _LABELS.clear()
            _LABELS[value] = label
        return label
    return _as_label(value, max_chars)


CACHED_LABELS, CACHED_LABEL_CHARS = 1_024, 256
_LABELS: dict[str, str] = {}


def _as_label(value: Any, max_chars: int) -> str | None:
    if type(value) is not str:
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        elif not isinstance(value, str):
            return None
    if len(value) > LABEL_READ_CHARS:   # cut before any per-character work
        value = value[:LABEL_READ_CHARS]
    if not value or value[0].isspace() or value[-1].isspace():
        value = value.strip()
        if not value:
            return None
    return safe_label_value(value, max_chars)


def content_id(content: str) -> str:
    """Stable id of a document that has none: xxh3-64 of its text."""
    return f"h:{text_hash(content):016x}"


def document_id(doc_id: Any, metadata: Any, content: Any) -> str | None:
    """The id of a retrieved document: its id, else metadata id/doc_id/source, else a hash."""
    ident = as_label(doc_id, MAX_ID_CHARS)
    if ident:
        return ident
    if isinstance(metadata, Mapping):
        for key in ("id", "doc_id", "source"):
            ident = as_label(metadata.get(key), MAX_ID_CHARS)
            if ident:
                return ident
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
    source: str = "",
    intermediate: bool = False,
    question: Any = None,
    refs: tuple[str, ...] = (),
) -> AnswerRecord:
    """Build a bounded record; unknown labels fall back to the config (env) values.

    The one place token counts are estimated: a missing completion count is estimated from
    the answer text and a missing prompt count from ``prompt_chars``, and the record is
    flagged; with no text to estimate from, the count stays missing, never 0.
    """
    limit = config.max_answer_chars
    text = as_text(answer, limit)
    prompt, completion = as_count(prompt_tokens), as_count(completion_tokens)
    estimated = bool(tokens_estimated)
    if completion is None and text:
        completion, estimated = estimate_tokens(text), True
    if prompt is None and isinstance(prompt_chars, int) and prompt_chars > 0:
        prompt, estimated = estimate_tokens_from_chars(prompt_chars), True
    if text is not None and len(text) > limit:
        # one extra char keeps "this was longer than the limit" visible to the aggregator
        text = text[: limit + 1]
    ids: list[str] = []
    if isinstance(context_ids, (str, bytes)):  # one id, not one id per character
        context_ids = (context_ids,)
    # at most CONTEXT_ITEMS_READ items, valid or not: an endless iterable must not hold the
    # caller (itertools.repeat(None) never yields a valid id)
    for raw in islice(context_ids, CONTEXT_ITEMS_READ):
        ident = as_label(raw, MAX_ID_CHARS)
        if ident:
            ids.append(ident)
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
        source=source,
        intermediate=intermediate,
        question=_question(question),
        refs=refs,
    )


def _question(value: Any) -> str | None:
    """The question cut before it waits in the queue (only its hash is kept), and before
    any per-character work: a 400 MB question costs the caller a slice, not a strip."""
    text = as_text(value, QUESTION_CAPTURE_CHARS)
    if text is None:
        return None
    text = text[: 2 * QUESTION_CAPTURE_CHARS].strip()
    return text[:QUESTION_CAPTURE_CHARS] if text else None
