"""Attribute values that hold JSON, parsed within bounds and never raising."""

from __future__ import annotations

import json
from typing import Any

MAX_JSON_CHARS = 2_000_000


def json_value(value: Any) -> Any:
    """The parsed value of a JSON str / bytes attribute (a list or dict as it is), else None."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    if not isinstance(value, str) or len(value) > MAX_JSON_CHARS:
        return value if isinstance(value, (list, dict)) else None
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return None
