"""The answer-hash file lives in collapse_otel/answer_hashes.py, below the aggregator that
writes it (the audit package sits above compare, which sits above the aggregator); this module
keeps the audit's names where they were."""

from __future__ import annotations

from ..answer_hashes import (  # noqa: F401 - re-exported
    HASH_CHARS,
    ROTATED_SUFFIX,
    AnswerHashWriter,
    answer_hash,
    format_hash,
    writer_for,
)
