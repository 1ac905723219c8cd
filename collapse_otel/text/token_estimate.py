"""Token counts estimated from text, for answers whose model reported none.

One rule for every path that turns text into a record: capture (``spans.build.make_record``)
and the offline comparison (``compare.window_of_answers``), so a release judged from the same
texts online and offline sees the same completion-token counts.
"""

from __future__ import annotations

import math

CHARS_PER_TOKEN = 4.0  # the usual rule of thumb for English BPE vocabularies


def estimate_tokens(text: str | None) -> int:
    """Approximate token count (chars / 4, at least 1 for non-empty text). O(1)."""
    return estimate_tokens_from_chars(len(text)) if text else 0


def estimate_tokens_from_chars(chars: int) -> int:
    """Approximate token count of ``chars`` characters of text."""
    return max(1, math.ceil(chars / CHARS_PER_TOKEN)) if chars > 0 else 0
